"""GRPO's host side without Docker: the recipe, tau2's tasks (against the real tau2 when installed), the launch."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console

from taustack.runtime.docker import run_argv
from taustack.trainer.grpo import episode_reward, partial_credit
from taustack.trainer.tau2_episode import Outcome
from taustack.trainer.turns import parse_turn
from taustack.training import grpo_job, jobs, launch
from taustack.training.environments import task_catalog
from taustack.training.grpo_recipe import GrpoRecipe, RewardSpec, load_grpo_recipe, parse_grpo_recipe
from taustack.training.recipe import TrainingError
from tests.helpers import ROOT, run_cli
from tests.unit.training.test_training import FakeDocker

MOCK = {"name": "unit-grpo", "model": "models/tiny/hf",
        "environment": {"domain": "mock", "split": "base", "mode": "solo"},
        "grpo": {"num_generations": 2, "per_device_train_batch_size": 2, "max_steps": 2}, "lora": {"r": 4}}


def recipe(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(MOCK))
    for dotted, value in changes.items():
        *path, key = dotted.split("__")
        target = data
        for part in path:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return data


def error_of(data: Any) -> str:
    with pytest.raises(TrainingError) as caught:
        parse_grpo_recipe(data, "r.yaml")
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- recipes -----------------------------------------------------------------------------------------------------

def test_the_shipped_recipe_trains_on_telecoms_train_split() -> None:
    shipped = load_grpo_recipe(ROOT / "training" / "grpo.yaml")
    tasks = shipped.tasks()
    assert (tasks.domain, tasks.split, len(tasks.task_ids), tasks.solo) == ("telecom", "train", 74, True)
    assert not tasks.on_evaluation_tasks and shipped.reward.partial_credit is False


def test_mock_base_in_solo_mode_leaves_out_the_tasks_without_a_ticket() -> None:
    tasks = parse_grpo_recipe(recipe()).tasks()
    assert len(tasks.task_ids) == 7 and set(tasks.without_ticket) == {
        "update_task_with_message_history", "update_task_with_history_and_env_assertions"}
    assert tasks.on_evaluation_tasks  # mock's base split is what evaluations score
    assert tasks.provenance()["task_ids"] == list(tasks.task_ids)


def test_unknown_keys_are_named_with_the_closest_field() -> None:
    assert "grpo.num_generation: unknown key (not a TRL GRPOConfig field); did you mean 'num_generations'?" in \
        error_of(recipe(grpo__num_generation=4))
    assert "environment.domian: unknown key" in error_of(recipe(environment__domian="mock"))
    assert error_of({**recipe(), "enviroment": {}}) == \
        "r.yaml: enviroment: unknown key (not a recipe field); did you mean 'environment'?"
    assert "lora.rank: unknown key" in error_of(recipe(lora__rank=4))


def test_fields_taustack_sets_are_refused() -> None:
    assert "grpo.output_dir: set by taustack" in error_of(recipe(grpo__output_dir="/x"))
    assert "use `taustack train grpo --resume RUN`" in error_of(recipe(grpo__resume_from_checkpoint=True))


@pytest.mark.parametrize(("changes", "expected"), [
    ({"environment__domain": "banking"}, "environment.domain: unknown tau2 domain 'banking' (known: airline, mock"),
    ({"environment__split": "train"}, "environment.split: the mock domain has no split 'train' (splits: base)"),
    ({"environment__split": None}, "environment.split: the mock domain has no train split (splits: base)"),
    ({"environment__task_ids": ["create_task_2"]}, "'create_task_2' is not a task of mock's base split"),
    ({"environment__domain": "airline", "environment__split": "train"},
     "solo needs tasks with a ticket, and no airline task has one"),
    ({"environment__task_ids": ["update_task_with_message_history"]}, "no mock task left to train on"),
    ({"environment__mode": "user"}, "environment.user: mode user needs a user simulator"),
    ({"environment__max_steps": 1}, "environment.max_steps: Input should be greater than or equal to 2"),
    ({"grpo__num_generations": 1}, "grpo.num_generations: Input should be greater than or equal to 2"),
    ({"grpo__num_generations": 3}, "grpo.num_generations: 3 must divide the generation batch"),
    ({"grpo__learning_rate": 0}, "grpo.learning_rate: Input should be greater than 0"),
    ({"grpo__vllm_mode": "remote"}, "grpo.vllm_mode: Input should be 'colocate' or 'server'"),
    ({"reward__partial_weight": 1.5}, "reward.partial_weight: Input should be less than 1"),
    ({"environment": None}, "environment: missing"),
])
def test_bad_recipes_get_one_line_naming_the_field(changes: dict[str, Any], expected: str) -> None:
    assert expected in error_of(recipe(**changes))


def test_a_user_simulator_served_by_the_stack() -> None:
    parsed = parse_grpo_recipe(recipe(environment__domain="airline", environment__split="train",
                                      environment__mode="user", environment__user={"model": "qwen2.5-7b"}))
    user = parsed.environment.user
    assert user is not None and user.base_url == "http://gateway:4000/v1" and user.network == "taustack_default"
    assert len(parsed.tasks().task_ids) == 30 and not parsed.tasks().on_evaluation_tasks


def test_the_task_catalog_is_the_installed_tau2s() -> None:
    """tau2_tasks.json must list what the trainer's tau2 (the same pin as the eval venv's) has."""
    try:
        from tau2.registry import registry
    except ImportError:
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            raise AssertionError("CI=true but tau2 is not installed (make setup-eval)") from None
        pytest.skip("tau2 is not installed (make setup-eval)")
    from taustack.eval.tau2_26_3 import VERSION, installed_version

    catalog = task_catalog()
    assert catalog["tau2_version"] == VERSION == installed_version()
    for domain, task_set in catalog["domains"].items():
        expected = catalog["tasks"][task_set]
        tasks = registry.get_tasks_loader(domain)()
        splits = registry.get_task_splits_loader(domain)() if domain != "mock" else None
        if splits is None:
            from tau2.domains.mock.environment import get_tasks_split
            splits = get_tasks_split()
        assert {name: len(ids) for name, ids in splits.items()} == expected["split_sizes"], domain
        assert {name: ids for name, ids in splits.items() if name != "full"} == \
            {name: ids for name, ids in expected["splits"].items() if name != "full"}, domain
        ticketless = [task.id for task in tasks if not task.ticket]
        assert (ticketless if len(ticketless) < len(tasks) else "all") == expected["without_ticket"], domain


# --- rewards and turns (pure parts of the trainer) ------------------------------------------------------------------

def test_rewards_partial_credit_only_when_asked_and_never_for_a_cut_episode() -> None:
    info = {"db_check": {"db_match": True}, "action_checks": [{"action_match": True}, {"action_match": False}]}
    failed, solved = Outcome(0.0, "agent_stop", info), Outcome(1.0, "agent_stop", info)
    assert partial_credit(info) == pytest.approx(2 / 3)
    assert episode_reward(failed, False, RewardSpec()) == 0.0
    assert episode_reward(failed, False, RewardSpec(partial_credit=True, partial_weight=0.3)) == pytest.approx(0.2)
    assert episode_reward(solved, False, RewardSpec(partial_credit=True)) == 1.0
    assert episode_reward(solved, True, RewardSpec()) == 0.0


def test_turns_split_into_content_calls_and_malformed_blocks() -> None:
    turn = parse_turn('Let me look.\n<tool_call>\n{"name": "get_user", "arguments": {"id": "u1"}}\n</tool_call>\n'
                      '<tool_call>\n{"name": "x", "arguments": {oops}\n</tool_call>')
    assert turn.content == "Let me look." and [(c.name, c.arguments) for c in turn.calls] == [("get_user",
                                                                                               {"id": "u1"})]
    assert turn.malformed == ['{"name": "x", "arguments": {oops}']
    assert parse_turn('<tool_call>{"name": "f", "arguments": "{\\"a\\": 1}"}').calls[0].arguments == {"a": 1}
    assert parse_turn("plain words").calls == [] and parse_turn("   ").content is None


# --- the launch ----------------------------------------------------------------------------------------------------

def write(tmp_path: Path, data: dict[str, Any]) -> Path:
    model = tmp_path / "model"
    model.mkdir(exist_ok=True)
    path = tmp_path / "grpo.yaml"
    path.write_text(yaml.safe_dump({**data, "model": str(model)}))
    return path


def options(tmp_path: Path, recipe_file: Path | None, **changes: Any) -> jobs.LaunchOptions:
    values: dict[str, Any] = {"gpus": "cpu", "gpu_ids": None, **changes}
    return jobs.LaunchOptions(recipe=recipe_file, image="taustack/trainer:cpu", runs_dir=tmp_path / "runs",
                                **values)


def test_a_grpo_run_directory_records_the_tasks_trained_on(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDocker().install(monkeypatch)
    run = grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, recipe())), Console(quiet=True))
    info = run.info()
    assert info["kind"] == "grpo" and info["environment"]["domain"] == "mock"
    assert len(info["environment"]["task_ids"]) == 7 and info["environment"]["on_evaluation_tasks"] is True
    job = fake.jobs[0]
    assert job.command[:3] == ["python", "-m", "taustack.trainer.grpo"] and job.network is None
    assert {m.container for m in job.mounts} == {"/model", "/output", "/cache/huggingface"}
    assert isinstance(load_grpo_recipe(run.recipe), GrpoRecipe)
    row = jobs.run_row(run, {})
    assert (row.kind, row.state, row.data) == ("grpo", "finished", "tau2 mock/base (7)")


def test_user_mode_joins_the_stack_network_and_passes_the_key_by_name(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeDocker().install(monkeypatch)
    networks: list[str] = []
    monkeypatch.setattr(launch, "check_network", lambda client, name: networks.append(name))
    data = recipe(environment__domain="airline", environment__split="train", environment__mode="user",
                  environment__user={"model": "qwen", "api_key_env": "UNIT_GATEWAY_KEY"})
    with pytest.raises(TrainingError, match="UNIT_GATEWAY_KEY is not set"):
        grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, data)), Console(quiet=True))
    assert not (tmp_path / "runs").exists()
    monkeypatch.setenv("UNIT_GATEWAY_KEY", "sk-unit-secret")
    run = grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, data)), Console(quiet=True))
    job = fake.jobs[0]
    assert networks == ["taustack_default"] and job.network == "taustack_default"
    assert job.env[grpo_job.USER_KEY_ENV] == "sk-unit-secret"
    assert "sk-unit-secret" not in run.info_file.read_text() and "sk-unit-secret" not in run.recipe.read_text()
    argv = run_argv(launch.container_spec(job))
    assert "sk-unit-secret" not in " ".join(argv)
    assert argv[argv.index("--network") + 1] == "taustack_default"


def test_vllm_on_the_cpu_is_refused_before_anything_is_written(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDocker().install(monkeypatch)
    with pytest.raises(TrainingError, match=r"grpo\.use_vllm: vLLM generation needs GPUs"):
        grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, recipe(grpo__use_vllm=True))), Console(quiet=True))
    assert not (tmp_path / "runs").exists()


def test_cli_bad_recipe_is_one_line_exit_1_and_nothing_written(tmp_path: Path) -> None:
    bad = write(tmp_path, recipe(environment__split="test"))
    result = run_cli("train", "grpo", "--recipe", str(bad), "--gpus", "cpu", "--runs-dir", str(tmp_path / "runs"))
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"Error: {bad}: environment.split: the mock domain has no split 'test' (splits: base)"]
    assert not (tmp_path / "runs").exists()


def test_a_step_where_tau2_ran_no_episode_stops_the_run() -> None:
    from taustack.trainer.grpo import check_batch

    user_mode = parse_grpo_recipe(recipe(environment__domain="airline", environment__split="train",
                                         environment__mode="user", environment__user={"model": "qwen"}))
    failed = [Outcome(0.0, "no_simulation", {})] * 2
    with pytest.raises(TrainingError, match=r"ran none of this step's 2 episodes.*user simulator qwen at "
                                            r"http://gateway:4000/v1"):
        check_batch(failed, user_mode)
    check_batch([*failed, Outcome(0.0, "max_steps", {})], user_mode)  # one ran: scored and counted, no stop


def test_a_task_file_is_trained_on_from_the_run_s_own_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from taustack.tasks.generator import generate
    from taustack.tasks.taskfile import read_task_file, write_task_file

    tasks = tmp_path / "train.json"
    write_task_file(tasks, generate("train", 6, 1))
    fake = FakeDocker().install(monkeypatch)
    data = recipe(environment__split=None, environment__tasks=str(tasks), environment__num_tasks=4, method="full",
                  lora=None)
    run = grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, data)), Console(quiet=True))
    environment = run.info()["environment"]
    expected = read_task_file(tasks)
    assert environment["task_ids"] == expected.ids()[:4] and environment["split"] == "file"
    assert (environment["tasks_file"], environment["tasks_file_sha256"]) == (str(tasks), expected.sha256)
    assert environment["on_evaluation_tasks"] is False
    assert (run.path / "tasks.json").read_bytes() == tasks.read_bytes()
    assert fake.jobs[0].command[-2:] == ["--tasks", "/output/tasks.json"]


@pytest.mark.parametrize(("changes", "message"), [
    ({"environment__tasks": "t.json"}, "environment.split: a task file (environment.tasks) has no splits"),
    ({"method": "full"}, "lora: method full trains every parameter"),
])
def test_task_files_and_full_training_are_checked(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(TrainingError) as caught:
        parse_grpo_recipe(recipe(**changes))
    assert message in str(caught.value)


def test_a_missing_task_file_is_named_at_launch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FakeDocker().install(monkeypatch)
    data = recipe(environment__split=None, environment__tasks=str(tmp_path / "none.json"))
    with pytest.raises(TrainingError) as caught:
        grpo_job.grpo(ROOT, options(tmp_path, write(tmp_path, data)), Console(quiet=True))
    assert str(caught.value).startswith(f"environment.tasks: {tmp_path / 'none.json'}: cannot read the task file")
    assert not list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else True
