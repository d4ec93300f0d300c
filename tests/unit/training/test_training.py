"""The trainer's host side without Docker: recipes, GPU ids, accelerate commands, run directories, status rows."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from taustack.engines.gpus import Gpu, parse_nvidia_smi_list
from taustack.training import jobs, launch
from taustack.training.accelerate import check_accelerate_config, launch_command
from taustack.training.devices import select_devices
from taustack.training.recipe import TrainingError, load_recipe, parse_recipe
from taustack.training.rundir import RunDir, find_run
from tests.helpers import ROOT, run_cli

BASE = {"model": "models/tiny/hf", "dataset": "datasets/x", "sft": {}, "lora": {}}
SMI = """GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-aaaa-0000)
GPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-bbbb-1111)
  MIG 1g.10gb     Device  0: (UUID: MIG-cccc)
"""


def recipe_with(section: str, **values: Any) -> dict[str, Any]:
    return {**BASE, section: values}


def two_gpus() -> list[Gpu]:
    return parse_nvidia_smi_list(SMI)


# --- recipes ---------------------------------------------------------------------------------------------------

def test_the_shipped_recipe_is_valid() -> None:
    recipe = load_recipe(ROOT / "training" / "sft.yaml")
    assert recipe.lora["target_modules"] == "all-linear"
    assert recipe.value("sft", "assistant_only_loss") is True


def test_unknown_key_names_it_and_the_close_match() -> None:
    with pytest.raises(TrainingError, match=r"sft\.lerning_rate: unknown key .*did you mean 'learning_rate'") as info:
        parse_recipe(recipe_with("sft", lerning_rate=1e-4))
    assert "\n" not in str(info.value)
    with pytest.raises(TrainingError, match=r"lora\.rank: unknown key \(not a PEFT LoraConfig field\)"):
        parse_recipe(recipe_with("lora", rank=8))
    with pytest.raises(TrainingError, match=r"modle: unknown key .*did you mean 'model'"):
        parse_recipe({**BASE, "modle": "x"})


@pytest.mark.parametrize(("section", "values", "field"), [
    ("sft", {"per_device_train_batch_size": 0}, "sft.per_device_train_batch_size"),
    ("sft", {"learning_rate": -1e-4}, "sft.learning_rate"),
    ("sft", {"num_train_epochs": 0}, "sft.num_train_epochs"),
    ("sft", {"gradient_accumulation_steps": 0}, "sft.gradient_accumulation_steps"),
    ("sft", {"max_length": 0}, "sft.max_length"),
    ("sft", {"eval_strategy": "sometimes"}, "sft.eval_strategy"),
    ("sft", {"packing": "maybe"}, "sft.packing"),
    ("lora", {"r": 0}, "lora.r"),
    ("lora", {"lora_dropout": 1.5}, "lora.lora_dropout"),
])
def test_bad_values_name_their_field(section: str, values: dict[str, Any], field: str) -> None:
    with pytest.raises(TrainingError, match=rf"^recipe: {field}: ") as info:
        parse_recipe(recipe_with(section, **values))
    assert "\n" not in str(info.value)


def test_fields_taustack_sets_itself_are_refused() -> None:
    with pytest.raises(TrainingError, match=r"sft\.output_dir: set by taustack"):
        parse_recipe(recipe_with("sft", output_dir="/tmp/x"))


def test_unchecked_fields_pass_through() -> None:
    recipe = parse_recipe(recipe_with("sft", lr_scheduler_type="cosine", neftune_noise_alpha=5))
    assert recipe.sft == {"lr_scheduler_type": "cosine", "neftune_noise_alpha": 5}


@pytest.mark.parametrize(("changes", "message"), [
    ({"method": "full"}, "recipe: lora: method full trains every parameter; remove the lora section"),
    ({"init": "config", "lora": {}}, "recipe: init: config makes fresh weights, which need method: full"),
    ({"method": "full", "lora": {}, "shared_prefix": True, "sft": {"gradient_checkpointing": True}},
     "recipe: shared_prefix: the shared prefix's key/value cache cannot be recomputed by gradient checkpointing"),
    ({"method": "partial"}, "recipe: method: Input should be 'lora' or 'full'"),
    ({"method": "full", "lora": {}, "copy_circuit": True},
     "recipe: copy_circuit: wires fresh weights; it needs init: config"),
])
def test_how_a_model_is_trained_is_checked(changes: dict[str, Any], message: str) -> None:
    data = {**BASE, "lora": {"r": 8}, **changes}
    with pytest.raises(TrainingError) as info:
        parse_recipe(data)
    assert str(info.value).startswith(message), str(info.value)


def test_a_full_parameter_recipe_from_a_config() -> None:
    recipe = parse_recipe({**BASE, "lora": None, "method": "full", "init": "config", "shared_prefix": True})
    assert (recipe.method, recipe.init, recipe.shared_prefix, recipe.lora) == ("full", "config", True, {})
    assert parse_recipe(BASE).method == "lora" and parse_recipe(BASE).init == "pretrained"


# --- GPUs ------------------------------------------------------------------------------------------------------

def test_nvidia_smi_list_is_parsed_without_mig_lines() -> None:
    assert [(g.index, g.uuid) for g in two_gpus()] == [("0", "GPU-aaaa-0000"), ("1", "GPU-bbbb-1111")]


def test_gpu_words_and_ids() -> None:
    assert select_devices(None, "0,1", two_gpus) == ("0", "1")
    assert select_devices(None, " 1 ", two_gpus) == ("1",)
    assert select_devices(None, "GPU-bbbb-1111", two_gpus) == ("GPU-bbbb-1111",)
    assert select_devices("cpu", None, two_gpus) == ()
    assert select_devices("0", None, two_gpus) == ()
    assert select_devices("all", None, two_gpus) == ("0", "1")
    assert select_devices(None, None, two_gpus) == ("0", "1")
    assert select_devices("1", None, two_gpus) == ("0",)


@pytest.mark.parametrize(("gpus", "gpu_ids", "message"), [
    (None, "0,3", "--gpu-ids: GPU 3 does not exist on this host"),
    (None, "0,,1", "not a comma-separated list"),
    (None, "1,1", "names a GPU twice"),
    ("4", None, "4 GPUs asked for, this host has 2"),
    ("two", None, "not a GPU count"),
    ("1", "0", "either --gpus or --gpu-ids"),
])
def test_bad_gpu_requests(gpus: str | None, gpu_ids: str | None, message: str) -> None:
    with pytest.raises(TrainingError, match=message):
        select_devices(gpus, gpu_ids, two_gpus)


def test_no_nvidia_smi_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("taustack.engines.gpus.shutil.which", lambda name: None)
    with pytest.raises(TrainingError, match=r"no NVIDIA GPUs are visible .*--gpus cpu"):
        select_devices(None, "0")
    assert select_devices("cpu", None) == ()


# --- accelerate and the container -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["multi_gpu.yaml", "fsdp.yaml"])
def test_shipped_accelerate_configs_are_valid(name: str) -> None:
    data = check_accelerate_config(ROOT / "training" / "accelerate" / name)
    assert data["num_machines"] == 1


def test_accelerate_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"distributed_type": "MULTI_GPUS"}))
    with pytest.raises(TrainingError, match="distributed_type: one of"):
        check_accelerate_config(bad)
    bad.write_text(yaml.safe_dump({"distributed_type": "MULTI_GPU", "num_proceses": 2}))
    with pytest.raises(TrainingError, match="num_proceses: not an accelerate config key"):
        check_accelerate_config(bad)


def test_launch_command_one_gpu_and_several() -> None:
    args = ["--recipe", "/output/recipe.yaml"]
    assert launch_command(args, 1, None) == ["python", "-m", "taustack.trainer.train", *args]
    assert launch_command(args, 0, None)[:3] == ["python", "-m", "taustack.trainer.train"]
    assert launch_command(args, 4, "/output/accelerate.yaml") == [
        "accelerate", "launch", "--config_file", "/output/accelerate.yaml", "--num_processes", "4",
        "--num_machines", "1", "-m", "taustack.trainer.train", *args]


def test_container_options(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(launch.CONTAINER_PREFIX_ENV, "taustack-train-unit")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    job = launch.Job(run_id="20260101-000000-x", kind="train", image="img", command=["python"],
                     mounts=[launch.Mount(Path("/d"), "/data"), launch.Mount(Path("/r"), "/output", False)],
                     devices=("0", "2"), env=launch.passed_environment())
    options = launch.container_options(job)
    assert options["name"] == "taustack-train-unit-20260101-000000-x"
    assert options["labels"] == {"io.taustack.run": "20260101-000000-x", "io.taustack.kind": "train"}
    request = options["device_requests"][0]
    assert request["DeviceIDs"] == ["0", "2"] and request["Capabilities"] == [["gpu"]]
    assert options["shm_size"] == "8g" and "ipc_mode" not in options
    assert options["volumes"] == {"/d": {"bind": "/data", "mode": "ro"}, "/r": {"bind": "/output", "mode": "rw"}}
    assert options["environment"]["HF_HUB_OFFLINE"] == "1"
    cpu = launch.container_options(dataclasses.replace(job, devices=(), ipc_host=True))
    assert "device_requests" not in cpu and cpu["ipc_mode"] == "host" and "shm_size" not in cpu


def test_outcomes_name_an_oom_kill() -> None:
    assert launch.Outcome(137, True).describe().startswith("killed: out of memory (OOMKilled")
    assert "137" in launch.Outcome(137, False).describe()
    assert launch.Outcome(0, False).state == "finished" and launch.Outcome(1, False).state == "failed"


# --- run directories ---------------------------------------------------------------------------------------------

def make_dataset(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "train.jsonl").write_text('{"messages": []}\n')
    (folder / "test.jsonl").write_text('{"messages": [1]}\n')
    return folder


def write_recipe(tmp_path: Path, dataset: Path) -> Path:
    model = tmp_path / "model"
    model.mkdir()
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump({"name": "unit", "model": str(model), "dataset": str(dataset),
                                    "sft": {"max_steps": 2}, "lora": {"r": 4}}))
    return path


class FakeDocker:
    """Stands in for launch's Docker calls: records the job, writes what the trainer would."""

    def __init__(self, exit_code: int = 0, oom: bool = False) -> None:
        self.jobs: list[launch.Job] = []
        self.exit_code, self.oom = exit_code, oom

    def install(self, monkeypatch: pytest.MonkeyPatch) -> FakeDocker:
        monkeypatch.setattr(launch, "docker_client", lambda: object())
        monkeypatch.setattr(launch, "check_image", lambda client, image: None)
        monkeypatch.setattr(launch, "run_job", self.run_job)
        return self

    def run_job(self, client: object, job: launch.Job) -> launch.Outcome:
        self.jobs.append(job)
        output = next(m.host for m in job.mounts if m.container == "/output")
        with (output / "metrics.jsonl").open("a") as handle:
            handle.write(json.dumps({"step": 2, "max_steps": 2, "loss": 1.5}) + "\n")
            handle.write(json.dumps({"step": 2, "max_steps": 2, "train_steps_per_second": 3.0}) + "\n")
        return launch.Outcome(self.exit_code, self.oom)


def sft_options(tmp_path: Path, recipe: Path | None, **changes: Any) -> jobs.LaunchOptions:
    values: dict[str, Any] = {"gpus": "cpu", "gpu_ids": None, **changes}
    return jobs.LaunchOptions(recipe=recipe, image="taustack/trainer:cpu", runs_dir=tmp_path / "runs", **values)


def test_run_directory_contents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = make_dataset(tmp_path / "data")
    fake = FakeDocker().install(monkeypatch)
    run = jobs.sft(ROOT, sft_options(tmp_path, write_recipe(tmp_path, dataset)), Console(quiet=True))
    assert run.path.parent == tmp_path / "runs" and run.id.endswith("-unit")
    assert sorted(p.name for p in run.path.iterdir()) == ["metrics.jsonl", "recipe.yaml", "run.json", "state.json"]
    info = run.info()
    expected = hashlib.sha256(b'{"messages": []}\n{"messages": [1]}\n').hexdigest()
    assert info["dataset_sha256"] == expected
    assert info["image"] == "taustack/trainer:cpu" and info["devices"] == "cpu"
    assert info["git_revision"] and len(info["git_revision"].split("-")[0]) == 40
    assert load_recipe(run.recipe).sft == {"max_steps": 2}
    assert run.state() is not None and run.state()["state"] == "finished"  # type: ignore[index]
    job = fake.jobs[0]
    assert job.command[:3] == ["python", "-m", "taustack.trainer.train"] and not job.devices
    assert {m.container for m in job.mounts} == {"/data", "/model", "/output", "/cache/huggingface"}
    row = jobs.run_row(run, {})
    assert (row.state, row.steps, row.loss) == ("finished", "2/2", "1.5")


def test_a_failed_run_is_recorded_and_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDocker(exit_code=137, oom=True).install(monkeypatch)
    with pytest.raises(TrainingError, match="out of memory"):
        jobs.sft(ROOT, sft_options(tmp_path, write_recipe(tmp_path, make_dataset(tmp_path / "data"))),
                 Console(quiet=True))
    run = find_run(tmp_path / "runs", "unit")
    assert jobs.run_row(run, {}).state == "failed (137) OOM"


def test_bad_gpu_ids_write_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDocker().install(monkeypatch)
    monkeypatch.setattr("taustack.engines.gpus.shutil.which", lambda name: None)
    recipe = write_recipe(tmp_path, make_dataset(tmp_path / "data"))
    with pytest.raises(TrainingError, match="no NVIDIA GPUs are visible"):
        jobs.sft(ROOT, sft_options(tmp_path, recipe, gpus=None, gpu_ids="0,1"), Console(quiet=True))
    assert not (tmp_path / "runs").exists()


def test_resume_needs_a_checkpoint_and_reuses_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDocker().install(monkeypatch)
    run = jobs.sft(ROOT, sft_options(tmp_path, write_recipe(tmp_path, make_dataset(tmp_path / "data"))),
                   Console(quiet=True))
    with pytest.raises(TrainingError, match="no checkpoint"):
        jobs.sft(ROOT, sft_options(tmp_path, None, resume=run.id), Console(quiet=True))
    (run.checkpoints / "checkpoint-1").mkdir(parents=True)
    (run.checkpoints / "checkpoint-2").mkdir()
    assert RunDir(run.path).last_checkpoint() == run.checkpoints / "checkpoint-2"
    jobs.sft(ROOT, sft_options(tmp_path, None, resume="unit"), Console(quiet=True))
    assert fake.jobs[-1].command[-1] == "--resume" and fake.jobs[-1].run_id == run.id
    assert len(run.info()["resumed"]) == 1


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text(yaml.safe_dump({**BASE, "sft": {"per_device_train_batch_size": 0}}))
    result = run_cli("train", "sft", "--recipe", str(recipe), "--gpus", "cpu", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {recipe}: sft.per_device_train_batch_size: Input should be greater than or equal to 1"]
    assert not (tmp_path / "runs").exists()


def test_converter_fallback_uses_the_declared_byte_level_split() -> None:
    from taustack.trainer.hf_to_gguf import declared_pre_tokenizer

    assert declared_pre_tokenizer({"pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False}}) == "gpt-2"
    assert declared_pre_tokenizer({"pre_tokenizer": {"type": "ByteLevel", "use_regex": False}}) == "default"
    assert declared_pre_tokenizer({"pre_tokenizer": {"type": "Sequence", "pretokenizers": []}}) == "default"
