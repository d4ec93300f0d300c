"""Real TRL GRPO runs on the CPU trainer image against real tau2 environments (mock domain, solo mode).

1. `taustack train grpo` on the tiny model, mock's base tasks given explicitly, a group of 2, tau2's evaluator as
   reward -> `train status` -> `--resume` for more steps -> `train export --merge --gguf` -> llama.cpp serves it.
2. mode: user: the user simulator is the tiny model served by a real stack (llama.cpp behind the real LiteLLM
   gateway); the trainer joins the stack's compose network and reaches the gateway by service name, with its key.
3. Inside the image (grpo_scripted.py): a scripted tau2 episode (reward 1.0, only the model's tokens unmasked), and
   GRPO with a scripted reward varying within groups (non-zero advantages, changed LoRA weights).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import yaml

from tests.docker.conftest import NGINX_IMAGE, PREFIX, docker, serve_and_ask, start_stack
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker


def grpo_recipe(model: Path, max_steps: int) -> dict[str, object]:
    return {
        "name": "tiny-mock-grpo", "model": str(model),
        "environment": {"domain": "mock", "split": "base", "mode": "solo", "max_steps": 10},
        "grpo": {"num_generations": 2, "per_device_train_batch_size": 2, "max_steps": max_steps,
                 "max_completion_length": 48, "learning_rate": 1e-3, "logging_steps": 1, "save_steps": 2,
                 "save_total_limit": 1, "temperature": 1.0, "seed": 7, "report_to": "none"},
        "lora": {"r": 4, "lora_alpha": 8, "target_modules": "all-linear", "task_type": "CAUSAL_LM"},
    }


def test_grpo_on_tau2_mock_then_resume_export_and_serve(tmp_path: Path, trainer_image: str, tiny_hf: Path,
                                                        base_images: None) -> None:
    started = time.monotonic()
    runs = tmp_path / "runs"
    recipe = tmp_path / "grpo.yaml"
    recipe.write_text(yaml.safe_dump(grpo_recipe(tiny_hf, 4)))
    env = {"TAUSTACK_TRAIN_CONTAINER_PREFIX": PREFIX, "HF_HUB_OFFLINE": "1"}
    common = ["--image", trainer_image, "--runs-dir", str(runs)]

    trained = run_cli("train", "grpo", "--recipe", str(recipe), "--gpus", "cpu", *common, env=env, timeout=900)
    seconds = time.monotonic() - started
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    assert "[taustack] step 4/4" in trained.stdout
    assert "2 task(s) have no ticket and are left out" in trained.stderr
    assert "training on mock tasks that evaluations score" in trained.stderr
    (run_dir,) = runs.iterdir()
    info = json.loads((run_dir / "run.json").read_text())
    assert info["kind"] == "grpo" and info["environment"]["on_evaluation_tasks"] is True
    assert len(info["environment"]["task_ids"]) == 7 and info["environment"]["mode"] == "solo"
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    steps = [row for row in rows if "reward" in row]
    assert [row["step"] for row in steps] == [1, 2, 3, 4]
    for row in steps:  # reward mean/std, zero-variance groups and tau2's episode statistics, every step
        assert {"reward_std", "frac_reward_zero_std", "tau2/turns", "tau2/success"} <= set(row)
        assert 0.0 <= row["reward"] <= 1.0 and row["tau2/turns"] >= 1
    final = next(row for row in rows if "train_steps_per_second" in row)
    print(f"\n[measure] CPU GRPO+LoRA, tiny model, tau2 mock solo, group 2, 4 steps: "
          f"{final['train_steps_per_second']:.3f} steps/s (train_runtime {final['train_runtime']:.1f}s; "
          f"`taustack train grpo` {seconds:.1f}s); reward per step "
          f"{[round(row['reward'], 3) for row in steps]}, zero-variance groups "
          f"{[row['frac_reward_zero_std'] for row in steps]}, turns {[row['tau2/turns'] for row in steps]}")
    assert (run_dir / "adapter" / "adapter_model.safetensors").is_file()
    status = run_cli("train", "status", "--runs-dir", str(runs), env=env)
    assert status.returncode == 0 and "grpo" in status.stdout and "4/4" in status.stdout
    assert "tau2 mock/base (7)" in status.stdout

    recipe.write_text(yaml.safe_dump(grpo_recipe(tiny_hf, 6)))
    resumed = run_cli("train", "grpo", "--resume", "tiny-mock-grpo", "--recipe", str(recipe), "--gpus", "cpu",
                      *common, env=env, timeout=900)
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert "[taustack] step 6/6" in resumed.stdout and "[taustack] step 4/6" not in resumed.stdout
    logged = [json.loads(line).get("step") for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert logged.count(5) == 1 and max(logged) == 6  # steps 1-4, then 5-6 from checkpoint-4

    exported = run_cli("train", "export", "tiny-mock-grpo", "--merge", "--gguf", *common, env=env, timeout=600)
    assert exported.returncode == 0, exported.stdout[-3000:] + exported.stderr[-3000:]
    assert (run_dir / "export" / "Modelfile").is_file()
    serve_and_ask(tmp_path / "serve", run_dir / "export" / "model.gguf", "tiny-mock-grpo", "Create a task")
    print(f"[measure] tau2 mock -> GRPO -> resumed -> exported -> served -> answered: "
          f"{time.monotonic() - started:.1f}s")


def test_scripted_episode_masks_and_scripted_reward_moves_the_lora_weights(tmp_path: Path, trainer_image: str,
                                                                          tiny_hf: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    result = docker("run", "--rm", "-e", "HF_HUB_OFFLINE=1", "-v", f"{tiny_hf}:/model:ro", "-v", f"{out}:/out",
                    "-v", f"{ROOT / 'tests' / 'docker' / 'grpo_scripted.py'}:/grpo_scripted.py:ro", trainer_image,
                    "python", "/grpo_scripted.py", "/model", "/out", timeout=600)
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    episode, training = seen["episode"], seen["training"]
    assert (episode["reward"], episode["termination"], episode["turns"], episode["malformed"]) == (
        1.0, "agent_stop", 3, 1)
    assert episode["model_tokens_are_the_script"] and episode["prompt_has_ticket"]
    masked = episode["masked_text"]  # tool results and generation prompts, never the model's own calls
    assert "<tool_response>" in masked and "Error: Tool 'malformed_tool_call' not found." in masked
    assert "create_task" not in masked and '"name"' not in masked
    assert all(rewards == [0.0, 1.0] * (len(rewards) // 2) for rewards in training["rewards"])
    assert any(abs(value) > 0.1 for value in training["advantages"])
    assert training["lora_b_tensors"] > 0 and training["lora_b_changed"] == training["lora_b_tensors"]


def test_grpo_with_a_user_simulator_served_by_the_stack(tmp_path: Path, trainer_image: str, tiny_hf: Path,
                                                        base_images: None) -> None:
    gguf = tiny_hf.parent / "tiny.gguf"
    env_file = tmp_path / ".env"
    env_file.write_text("")
    (tmp_path / "stack").mkdir()
    stack = start_stack(tmp_path / "stack", "grpo-user", {
        "llamacpp": {"model": str(gguf), "model_name": "tiny", "replicas": 1, "threads": 1, "context_size": 2048,
                     "port": 28390},
        "gateway": {"port": 24090, "models": [{"name": "tiny-user", "engine": "llamacpp", "model": "tiny"}]},
        "balancer": {"image": NGINX_IMAGE}}, 28390, 1, env_file, timeout=240)
    try:
        key = run_cli("key", env={"TAUSTACK_ENV_FILE": str(env_file)}).stdout.strip()
        assert key.startswith("sk-")
        recipe = grpo_recipe(tiny_hf, 2)
        recipe["environment"] = {"domain": "mock", "split": "base", "task_ids": ["create_task_1", "update_task_1"],
                                 "mode": "user", "max_steps": 6, "max_turn_tokens": 24, "user": {
                                     "model": "tiny-user", "base_url": "http://gateway:24090/v1",
                                     "api_key_env": "UNIT_GATEWAY_KEY", "network": f"{stack.project}_default",
                                     "args": {"temperature": 0.0, "max_tokens": 12}}}
        recipe["grpo"] = {**recipe["grpo"], "max_completion_length": 320, "save_strategy": "no"}  # type: ignore[dict-item]
        runs = tmp_path / "runs"
        env = {"TAUSTACK_TRAIN_CONTAINER_PREFIX": PREFIX, "HF_HUB_OFFLINE": "1", "UNIT_GATEWAY_KEY": key}
        # a user simulator that does not answer stops the run before any episode, naming it (never the key)
        wrong = json.loads(json.dumps(recipe))
        wrong["environment"]["user"]["base_url"] = "http://gateway:1/v1"
        wrong_file = tmp_path / "grpo-wrong.yaml"
        wrong_file.write_text(yaml.safe_dump(wrong))
        refused = run_cli("train", "grpo", "--recipe", str(wrong_file), "--gpus", "cpu", "--image", trainer_image,
                          "--runs-dir", str(tmp_path / "refused"), env=env, timeout=600)
        assert refused.returncode == 1
        assert "the user simulator tiny-user at http://gateway:1/v1 did not answer" in refused.stdout + refused.stderr
        assert key not in refused.stdout + refused.stderr
        recipe_file = tmp_path / "grpo-user.yaml"
        recipe_file.write_text(yaml.safe_dump(recipe))
        trained = run_cli("train", "grpo", "--recipe", str(recipe_file), "--gpus", "cpu", "--image", trainer_image,
                          "--runs-dir", str(runs), env=env, timeout=900)
        assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
        assert f"--network {stack.project}_default" in trained.stdout + trained.stderr  # the echoed docker run
        assert key not in trained.stdout + trained.stderr
        (run_dir,) = runs.iterdir()
        assert key not in (run_dir / "run.json").read_text() + (run_dir / "recipe.yaml").read_text()
        rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        steps = [row for row in rows if "reward" in row]
        assert len(steps) == 2
        # the user simulator answered: episodes went past the agent's first turn (tau2 ends them at max_steps,
        # or the user stops), and none ended in a user-side error
        assert all(row["tau2/turns"] > 1 for row in steps), steps
        assert not any(row.get("tau2/termination/user_error") for row in steps), steps
        print(f"\n[measure] CPU GRPO in user mode (tiny agent, tiny user simulator through the gateway): "
              f"turns per episode {[row['tau2/turns'] for row in steps]}, terminations "
              f"{[{k: v for k, v in row.items() if k.startswith('tau2/termination/')} for row in steps]}")
    finally:
        stack.cli("down", "--volumes")
