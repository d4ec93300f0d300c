"""A real TRL SFT + LoRA run on the CPU trainer image, from real tau2 trajectories to a served GGUF.

tau2 results -> `taustack dataset make` / `to-openai` -> `taustack train sft --gpus cpu` (8 steps on the tiny model)
-> `taustack train status` -> `taustack train export --merge --gguf` -> llama.cpp serves it -> one completion.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from pathlib import Path

import pytest
import yaml

from taustack.training.recipe_fields import GRPO_CONFIG_FIELDS, LORA_CONFIG_FIELDS, SFT_CONFIG_FIELDS
from tests.docker.conftest import PREFIX, docker, serve_and_ask
from tests.helpers import AIRLINE_RESULTS, run_cli

pytestmark = pytest.mark.docker

RESULTS = Path(os.environ.get("TAUSTACK_TEST_TAU2_RESULTS", str(AIRLINE_RESULTS)))
FIELDS = """
import dataclasses, json, peft, trl
print(json.dumps({"sft": sorted(f.name for f in dataclasses.fields(trl.SFTConfig) if f.init),
                  "grpo": sorted(f.name for f in dataclasses.fields(trl.GRPOConfig) if f.init),
                  "lora": sorted(f.name for f in dataclasses.fields(peft.LoraConfig) if f.init)}))
"""


@pytest.fixture(scope="module")
def tau2_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not RESULTS.is_file():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise AssertionError(f"CI=true but the tau2 results file {RESULTS} is missing")
        pytest.skip(f"no tau2 results file at {RESULTS} (TAUSTACK_TEST_TAU2_RESULTS)")
    out = tmp_path_factory.mktemp("tau2-dataset") / "airline"
    made = run_cli("dataset", "make", "--results", str(RESULTS), "--name", "airline", "--out", str(out),
                   "--split", "random", "--test-fraction", "0.25", "--sample", "12")
    assert made.returncode == 0, made.stderr
    converted = run_cli("dataset", "to-openai", "airline", "--out", str(out))
    assert converted.returncode == 0, converted.stderr
    assert (out / "train.jsonl").read_text().count("\n") >= 4
    return out


def test_recipe_field_lists_match_the_trainers_trl_and_peft(trainer_image: str) -> None:
    """The controller checks recipes without TRL; its field lists must be those of the TRL and PEFT it runs."""
    result = docker("run", "--rm", trainer_image, "python", "-c", FIELDS, timeout=300)
    fields = json.loads(result.stdout.strip().splitlines()[-1])
    assert set(fields["sft"]) == SFT_CONFIG_FIELDS
    assert set(fields["grpo"]) == GRPO_CONFIG_FIELDS
    assert set(fields["lora"]) == LORA_CONFIG_FIELDS


def test_sft_on_tau2_data_then_export_and_serve(tmp_path: Path, trainer_image: str, tau2_dataset: Path,
                                                tiny_hf: Path, base_images: None) -> None:
    started = time.monotonic()
    runs = tmp_path / "runs"
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny-airline", "model": str(tiny_hf), "dataset": str(tau2_dataset),
        "sft": {"max_steps": 8, "per_device_train_batch_size": 2, "learning_rate": 1e-3, "logging_steps": 1,
                "max_length": 1024, "truncation_mode": "keep_end", "assistant_only_loss": True,
                "save_steps": 4, "save_total_limit": 1, "eval_strategy": "no", "report_to": "none"},
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear", "task_type": "CAUSAL_LM"},
    }))
    env = {"TAUSTACK_TRAIN_CONTAINER_PREFIX": PREFIX, "HF_HUB_OFFLINE": "1"}
    common = ["--image", trainer_image, "--runs-dir", str(runs)]

    trained = run_cli("train", "sft", "--recipe", str(recipe), "--gpus", "cpu", *common, env=env, timeout=900)
    train_seconds = time.monotonic() - started
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert "[taustack] step 8/8" in trained.stdout  # progress streamed from the container
    (run_dir,) = runs.iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["image"] == trainer_image and len(info["dataset_sha256"]) == 64
    metrics = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    losses = [row["loss"] for row in metrics if "loss" in row]
    final = next(row for row in metrics if "train_steps_per_second" in row)
    print(f"\n[measure] CPU SFT+LoRA, tiny model, 8 steps on tau2 airline: {final['train_steps_per_second']:.2f} "
          f"steps/s (train_runtime {final['train_runtime']:.2f}s; `taustack train sft` {train_seconds:.1f}s)")
    assert len(losses) == 8 and all(loss > 0 for loss in losses)
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    assert docker("ps", "-a", "--filter", "label=io.taustack.run=" + run_dir.name, "-q").stdout.strip() == ""

    status = run_cli("train", "status", "--runs-dir", str(runs), env=env)
    assert status.returncode == 0, status.stderr
    assert run_dir.name in status.stdout and "finished" in status.stdout and "8/8" in status.stdout

    # --resume: 4 more steps from the last checkpoint (step 8), with the recipe's max_steps raised; while it runs,
    # `train status` reads its state from the container
    recipe_12 = tmp_path / "recipe-12.yaml"
    recipe_12.write_text(recipe.read_text().replace("max_steps: 8", "max_steps: 12"))
    resumed: list[subprocess.CompletedProcess[str]] = []
    resumer = threading.Thread(target=lambda: resumed.append(run_cli(
        "train", "sft", "--resume", "tiny-airline", "--recipe", str(recipe_12), "--gpus", "cpu", *common, env=env,
        timeout=900)))
    resumer.start()
    seen_running = False
    while resumer.is_alive() and not seen_running:
        seen_running = "running" in run_cli("train", "status", "--runs-dir", str(runs), env=env).stdout
        time.sleep(0.3)
    resumer.join()
    assert resumed[0].returncode == 0, resumed[0].stdout[-3000:] + resumed[0].stderr[-3000:]
    assert seen_running, "train status never showed the resumed run as running"
    assert "[taustack] step 12/12" in resumed[0].stdout and "[taustack] step 8/12" not in resumed[0].stdout
    steps = [json.loads(line).get("step") for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert steps.count(9) == 1 and max(steps) == 12  # steps 1-8, then 9-12: nothing done twice
    assert "12/12" in run_cli("train", "status", "--runs-dir", str(runs), env=env).stdout

    # --resume of a run whose last checkpoint is at max_steps: nothing trained (transformers alone trains step 13)
    again = run_cli("train", "sft", "--resume", "tiny-airline", "--gpus", "cpu", *common, env=env, timeout=900)
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert "checkpoint-12 is at step 12, max_steps 12: nothing left to train" in again.stdout, again.stdout[-3000:]
    assert "[taustack] step 13" not in again.stdout
    assert max(json.loads(line).get("step", 0) for line in (run_dir / "metrics.jsonl").read_text().splitlines()) == 12

    exported = run_cli("train", "export", "tiny-airline", "--merge", "--gguf", *common, env=env, timeout=600)
    assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
    gguf = run_dir / "export" / "model.gguf"
    assert gguf.is_file() and (run_dir / "export" / "Modelfile").read_text().startswith("FROM ./model.gguf")
    assert "--lora-modules" in exported.stdout and str(gguf) in exported.stdout

    serve_and_ask(tmp_path / "serve", gguf, "tiny-airline", "Cancel my reservation")
    print(f"[measure] tau2 data -> trained -> exported -> served -> answered: {time.monotonic() - started:.1f}s")

    # The same run through llama.cpp's convert_hf_to_gguf.py (the path for every architecture beyond Llama):
    # it must load in llama.cpp, tokenize exactly as taustack's GGUF does and generate.
    gguf.rename(run_dir / "export" / "own.gguf")
    converted = run_cli("train", "export", "tiny-airline", "--gguf", "--gguf-writer", "llama.cpp", *common, env=env,
                        timeout=600)
    assert converted.returncode == 0, converted.stdout[-3000:] + converted.stderr[-3000:]
    assert "converting with /opt/llama.cpp/convert_hf_to_gguf.py" in converted.stdout
    result = docker("run", "--rm", "-v", f"{run_dir / 'export'}:/export", "--entrypoint", "python3",
                    "taustack/llamacpp:0.3.36", "-c", COMPARE_GGUFS, timeout=300)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["same_tokens"] and answer["generated"] > 0, answer


COMPARE_GGUFS = """
import json
from llama_cpp import Llama
text = '<|im_start|>user\\nCancel reservation EHGLP3, please: {"confirm": true}<|im_end|>\\n<|im_start|>assistant\\n'
own = Llama("/export/own.gguf", vocab_only=True, verbose=False)
converted = Llama("/export/model.gguf", n_ctx=256, verbose=False)
tokens = converted.tokenize(text.encode(), add_bos=False, special=True)
out = converted.create_completion(text, max_tokens=8, temperature=0)
print(json.dumps({"same_tokens": own.tokenize(text.encode(), add_bos=False, special=True) == tokens,
                  "generated": out["usage"]["completion_tokens"]}))
"""
