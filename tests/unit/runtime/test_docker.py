"""runtime.docker without Docker: compose argv, echo, the runner, DockerError, and the SDK container path."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import docker.errors
import pytest

from taustack.errors import TaustackError
from taustack.runtime import docker as rd
from taustack.training import launch


class Recorder:
    """A Runner that records argv and answers from a table of (argv fragment -> result)."""

    def __init__(self, answers: dict[str, rd.RunResult] | None = None) -> None:
        self.calls: list[tuple[list[str], bool]] = []
        self.answers = answers or {}

    def __call__(self, argv: Sequence[str], capture: bool) -> rd.RunResult:
        self.calls.append((list(argv), capture))
        line = shlex.join(argv)
        return next((answer for part, answer in self.answers.items() if part in line), rd.RunResult(0, "", ""))


def project(runner: rd.Runner | None = None, **changes: Any) -> rd.ComposeProject:
    values: dict[str, Any] = {"root": Path("/r"), "name": "p", "files": (Path("/r/compose.yaml"), Path("/g/c.yaml")),
                              "profiles": ("ollama", "gateway"), "env_file": Path("/r/.env"), **changes}
    return rd.ComposeProject(**values) if runner is None else rd.ComposeProject(**values, runner=runner)


def test_compose_argv_names_project_env_file_files_and_profiles() -> None:
    assert project().argv("up", "-d") == [
        "docker", "compose", "--project-directory", "/r", "-p", "p", "--env-file", "/r/.env",
        "-f", "/r/compose.yaml", "-f", "/g/c.yaml", "--profile", "ollama", "--profile", "gateway", "up", "-d"]
    assert "--env-file" not in project(env_file=None).argv("ps")


def test_run_compose_echoes_then_runs_through_the_projects_runner(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder()
    rd.run_compose(project(recorder), "down", "--remove-orphans")
    assert recorder.calls == [(project().argv("down", "--remove-orphans"), False)]
    assert capsys.readouterr().err.splitlines() == [f"$ {shlex.join(project().argv('down', '--remove-orphans'))}"]


def test_a_failing_command_is_a_docker_error_with_command_code_and_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder({" up": rd.RunResult(17, "", "pulling\nservice ollama-0 is unhealthy\n")})
    with pytest.raises(rd.DockerError) as caught:
        rd.run_compose(project(recorder), "up", "-d")
    error = caught.value
    assert isinstance(error, rd.ComposeError) and isinstance(error, TaustackError)
    assert (error.command, error.returncode) == (project().argv("up", "-d"), 17)
    assert error.stderr == "pulling\nservice ollama-0 is unhealthy\n"
    assert str(error) == f"`{shlex.join(error.command)}` exited 17: service ollama-0 is unhealthy"
    assert "service ollama-0 is unhealthy" in capsys.readouterr().err  # passed on when output is not captured


def test_use_runner_is_taken_by_projects_made_inside_it() -> None:
    recorder = Recorder()
    with rd.use_runner(recorder):
        inside = project()
    outside = project()
    assert inside.runner is recorder and outside.runner is rd.subprocess_runner
    rd.run_compose(inside, "ps", capture=True, echo=False)
    assert recorder.calls[0][1] is True


def test_container_states_reads_both_ps_shapes() -> None:
    rows = [{"Service": "ollama-0", "Name": "p-ollama-0-1", "State": "running", "Health": "healthy"},
            {"Service": "ollama-1", "State": "exited", "ExitCode": 137}]
    for text in (json.dumps(rows), "\n".join(json.dumps(row) for row in rows)):
        states = rd.container_states(project(Recorder({"ps --all": rd.RunResult(0, text, "")})))
        assert states["ollama-0"].health == "healthy" and states["ollama-1"].exit_code == 137


def test_image_exists_asks_docker_image_inspect_quietly(capsys: pytest.CaptureFixture[str]) -> None:
    recorder = Recorder({"taustack/missing": rd.RunResult(1, "", "No such image")})
    assert rd.image_exists("taustack/here:1", recorder)
    assert not rd.image_exists("taustack/missing:1", recorder)
    assert recorder.calls[0] == (["docker", "image", "inspect", "taustack/here:1"], True)
    assert capsys.readouterr().err == ""


def test_no_docker_binary_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TaustackError, match="docker is not installed"):
        rd.subprocess_runner(["docker", "version"], True)


# --- the trainer's container through the SDK ---------------------------------------------------------------------

def trainer_job(**changes: Any) -> launch.Job:
    values: dict[str, Any] = {
        "run_id": "20260101-000000-x", "kind": "train", "image": "taustack/trainer:cpu",
        "command": ["python", "-m", "taustack.trainer.train"],
        "mounts": [launch.Mount(Path("/d"), "/data"), launch.Mount(Path("/r"), "/output", False)],
        "devices": ("0", "1"), "env": {"HF_TOKEN": "hf_secret_value"}, "user": "1000:1000", **changes}
    return launch.Job(**values)


def test_the_trainer_container_is_echoed_as_docker_run_without_secret_values(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(launch.CONTAINER_PREFIX_ENV, "t")
    line = shlex.join(rd.run_argv(launch.container_spec(trainer_job())))
    assert line.startswith("docker run --rm --name t-20260101-000000-x --gpus '\"device=0,1\"' --shm-size 8g ")
    assert "-v /d:/data:ro -v /r:/output " in line and "-e HF_TOKEN " in line and "--user 1000:1000" in line
    assert "hf_secret_value" not in line
    assert line.endswith(" taustack/trainer:cpu python -m taustack.trainer.train")
    cpu = rd.run_argv(launch.container_spec(trainer_job(devices=(), ipc_host=True)))
    assert "--gpus" not in cpu and cpu[cpu.index("--ipc") + 1] == "host" and "--shm-size" not in cpu


class FakeContainer:
    def __init__(self, exit_code: int, oom: bool, labels: dict[str, str] | None = None) -> None:
        self.exit_code, self.oom, self.removed = exit_code, oom, False
        self.labels, self.status, self.attrs = labels or {}, "running", {}

    def logs(self, stream: bool, follow: bool) -> Iterator[bytes]:
        yield b"step 1\n"
        yield "loss \xe9\n".encode()

    def wait(self) -> dict[str, int]:
        return {"StatusCode": self.exit_code}

    def reload(self) -> None:
        self.attrs = {"State": {"ExitCode": self.exit_code, "OOMKilled": self.oom}}

    def remove(self, force: bool) -> None:
        self.removed = force


class FakeContainers:
    def __init__(self, container: FakeContainer, error: Exception | None = None) -> None:
        self.container, self.error, self.options = container, error, {}

    def run(self, **options: Any) -> FakeContainer:
        self.options = options
        if self.error is not None:
            raise self.error
        return self.container

    def list(self, all: bool, filters: dict[str, str]) -> list[FakeContainer]:
        return [self.container] if filters["label"] == "io.taustack.kind=train" else []


class FakeClient:
    def __init__(self, containers: FakeContainers) -> None:
        self.containers = containers


def test_run_container_streams_logs_waits_reports_oom_and_removes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    container = FakeContainer(137, oom=True)
    client = FakeClient(FakeContainers(container))
    with (tmp_path / "out.txt").open("w") as out:
        outcome = launch.run_job(client, trainer_job(), out)
    assert (tmp_path / "out.txt").read_text() == "step 1\nloss \xe9\n"
    assert (outcome.exit_code, outcome.oom_killed, outcome.state) == (137, True, "failed")
    assert container.removed and client.containers.options["detach"] is True
    assert capsys.readouterr().err.startswith("$ docker run --rm --name ")


def test_an_sdk_failure_is_a_docker_error_carrying_the_docker_run_argv(capsys: pytest.CaptureFixture[str]) -> None:
    error = docker.errors.APIError("500 Server Error", explanation="could not select device driver nvidia")
    client = FakeClient(FakeContainers(FakeContainer(0, False), error))
    job = trainer_job()
    with pytest.raises(rd.DockerError) as caught:
        launch.run_job(client, job)
    assert str(caught.value) == f"cannot start {job.name}: could not select device driver nvidia"
    assert caught.value.command == rd.run_argv(launch.container_spec(job))
    assert caught.value.stderr == "could not select device driver nvidia"


def test_running_runs_lists_trainer_containers_by_label() -> None:
    container = FakeContainer(0, False, {"io.taustack.run": "r1", "io.taustack.kind": "train"})
    assert launch.running_runs(FakeClient(FakeContainers(container))) == {"r1": "running"}
