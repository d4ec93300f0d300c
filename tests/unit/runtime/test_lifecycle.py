"""up, down, status, pull, logs through the CLI with a recording runner and a protocol fake for the probes:
the exact docker argv, the echo lines, exit codes, error mapping; read-only commands write nothing."""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from taustack.runtime import docker as rd
from taustack.runtime import health
from tests.helpers import ROOT, run_main, write_stack

PORT = 31434


@dataclass
class Recorder:
    """A docker Runner: records every argv; `ps` answers with `running`, a command containing `fail` fails."""

    running: list[str] = field(default_factory=list)
    fail: str | None = None
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, argv: Sequence[str], capture: bool) -> rd.RunResult:
        self.calls.append(list(argv))
        if self.fail is not None and self.fail in shlex.join(argv):
            return rd.RunResult(1, "", "compose went wrong\n")
        if "ps" in argv:
            rows = [{"Service": name, "Name": f"x-{name}-1", "State": "running", "Health": ""} for name in self.running]
            return rd.RunResult(0, "\n".join(json.dumps(row) for row in rows), "")
        return rd.RunResult(0, "", "")

    def compose(self) -> list[list[str]]:
        return [call for call in self.calls if call[:2] == ["docker", "compose"]]


@dataclass
class FakeOllama:
    """Ollama's API on every replica port, the balancer's /health and stub_status; `down` ports refuse."""

    models: list[str] = field(default_factory=lambda: ["qwen2.5:0.5b"])
    down: set[int] = field(default_factory=set)
    pulls: list[str] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        port, path = request.url.port or 80, request.url.path
        if port in self.down:
            raise httpx.ConnectError("refused", request=request)
        if path == "/health":
            return httpx.Response(200, text="ok")
        if path == "/-/status":
            return httpx.Response(200, text="Active connections: 1\nReading: 0 Writing: 1 Waiting: 0\n")
        if path == "/api/version":
            return httpx.Response(200, json={"version": "0.0-fake"})
        if path == "/api/tags":
            return httpx.Response(200, json={"models": [{"name": name} for name in self.models]})
        if path == "/api/ps":
            return httpx.Response(200, json={"models": []})
        if path == "/api/pull":
            model = json.loads(request.content)["model"]
            self.pulls.append(model)
            self.models.append(model)
            return httpx.Response(200, text=json.dumps({"status": "success"}) + "\n")
        return httpx.Response(404)


@dataclass
class Env:
    tmp: Path
    recorder: Recorder
    fake: FakeOllama

    @property
    def generated(self) -> Path:
        return self.tmp / "gen"

    @property
    def stack_file(self) -> Path:
        return self.tmp / "stack.yaml"

    def taustack(self, *args: str, stack: bool = True) -> tuple[int, str, str]:
        """`taustack ARGS --generated-dir ... --project-name unit` through main(), inside CliRunner's isolation."""
        argv = [*args, "--generated-dir", str(self.generated), "--project-name", "unit"]
        if stack:
            argv += ["--stack", str(self.stack_file)]
        with rd.use_runner(self.recorder):
            return run_main(argv)

    def compose_argv(self, *args: str, profiles: Sequence[str] = ("ollama",), env_file: bool = False) -> list[str]:
        argv = ["docker", "compose", "--project-directory", str(ROOT), "-p", "unit"]
        if env_file:
            argv += ["--env-file", str(self.tmp / ".env")]
        argv += ["-f", str(ROOT / "compose.yaml"), "-f", str(self.generated / "compose.yaml")]
        for profile in profiles:
            argv += ["--profile", profile]
        return [*argv, *args]


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    write_stack(tmp_path / "stack.yaml", {"ollama": {"replicas": 2, "port": PORT, "models": ["qwen2.5:0.5b"]}})
    monkeypatch.setenv("TAUSTACK_ROOT", str(ROOT))
    monkeypatch.setenv("TAUSTACK_ENV_FILE", str(tmp_path / ".env"))
    fake = FakeOllama()
    transport = httpx.MockTransport(fake)
    monkeypatch.setattr(health, "probe_client",
                        lambda timeout=health.PROBE_TIMEOUT: httpx.AsyncClient(transport=transport, timeout=timeout))
    real_client = httpx.Client
    monkeypatch.setattr(httpx, "Client", lambda **kwargs: real_client(**{**kwargs, "transport": transport}))
    yield Env(tmp_path, Recorder(running=["ollama-0", "ollama-1", "ollama-balancer", "ollama-router"]), fake)


def snapshot(folder: Path) -> dict[str, tuple[bytes, int]]:
    files = [path for path in folder.rglob("*") if path.is_file()]
    return {str(path.relative_to(folder)): (path.read_bytes(), path.stat().st_mtime_ns) for path in files}


def test_up_runs_compose_up_wait_and_reports_ready(env: Env) -> None:
    code, _, err = env.taustack("up", "--timeout", "30")
    assert code == 0, err
    up = env.compose_argv("up", "-d", "--remove-orphans", "--wait", "--wait-timeout", "30")
    assert env.recorder.compose()[0] == up
    assert f"$ {shlex.join(up)}" in err.splitlines()
    assert "ready in" in err and f"ollama http://127.0.0.1:{PORT}" in err
    assert (env.generated / "compose.yaml").is_file() and (env.generated / ".render.json").is_file()


def test_up_passes_the_env_file_and_checks_local_images(env: Env) -> None:
    (env.tmp / ".env").write_text("X=1\n")
    write_stack(env.stack_file, {"ollama": {"replicas": 1, "port": PORT, "models": []},
                                 "balancer": {"image": "taustack/nginx:bookworm"}})
    code, _, err = env.taustack("up", "--no-wait")
    assert code == 0, err
    assert ["docker", "image", "inspect", "taustack/nginx:bookworm"] in env.recorder.calls
    assert env.recorder.compose()[0] == env.compose_argv("up", "-d", "--remove-orphans", env_file=True)
    env.recorder.fail = "image inspect"
    code, _, err = env.taustack("up", "--no-wait")
    assert code == 1
    assert err.splitlines()[-1] == "Error: image taustack/nginx:bookworm is not built yet: run `make images` " \
                                   "(no registry needed)"


def test_a_failing_compose_up_names_the_service_and_exits_1(env: Env) -> None:
    env.recorder.running = ["ollama-1", "ollama-balancer", "ollama-router"]
    env.recorder.fail = " up -d"
    code, _, err = env.taustack("up", "--timeout", "30")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("Error: docker compose up failed: ollama-0 not healthy (`docker compose ")
    assert last.endswith("exited 1: compose went wrong)")
    assert "--- last log lines of ollama-0 ---" in err


def test_down_uses_every_profile(env: Env) -> None:
    env.taustack("render")
    env.recorder.calls.clear()
    code, _, err = env.taustack("down", "--volumes")
    assert code == 0, err
    down = env.compose_argv("down", "--remove-orphans", "--volumes", profiles=("*",))
    assert env.recorder.compose() == [down]
    assert err.splitlines() == [f"$ {shlex.join(down)}"]


def test_a_failing_compose_command_is_one_line_and_exit_1(env: Env) -> None:
    env.taustack("render")
    env.recorder.fail = " down "
    code, _, err = env.taustack("down")
    down = env.compose_argv("down", "--remove-orphans", profiles=("*",))
    assert code == 1
    assert err.splitlines()[-1] == f"Error: `{shlex.join(down)}` exited 1: compose went wrong"


def test_status_ready_then_not_ready_exits_3(env: Env) -> None:
    env.taustack("render")
    env.recorder.calls.clear()
    code, out, err = env.taustack("status", "--json")
    assert code == 0, err
    assert [row["service"] for row in json.loads(out)] == ["ollama-0", "ollama-1", "ollama-balancer", "ollama-router"]
    assert sorted(env.recorder.compose()) == sorted([
        env.compose_argv("ps", "--all", "--format", "json"),
        env.compose_argv("logs", "--no-color", "--no-log-prefix", "--since", "5m", "ollama-balancer")])
    assert "$ docker" not in err  # status's own queries are not echoed
    env.fake.down.add(PORT + 2)
    code, _, err = env.taustack("status")
    assert code == 3
    assert err.strip().splitlines()[-1] == "Error: not ready: ollama-1"


def test_read_only_commands_use_the_last_render_and_its_overrides(env: Env) -> None:
    assert env.taustack("render", "--replicas", "3")[0] == 0
    env.recorder.running.append("ollama-2")
    code, out, err = env.taustack("status", "--json", stack=False)
    assert code == 0, err
    assert [row["service"] for row in json.loads(out)] == ["ollama-0", "ollama-1", "ollama-2", "ollama-balancer",
                                                           "ollama-router"]


def test_read_only_commands_write_nothing(env: Env) -> None:
    assert env.taustack("render")[0] == 0
    before = snapshot(env.generated)
    assert ".render.json" in before and "compose.yaml" in before
    for args in (["status"], ["status", "--replicas", "3"], ["logs", "--tail", "5"], ["down"], ["down", "--gpus", "2"],
                 ["pull", "llama3.2:1b"]):
        code, _, err = env.taustack(*args)
        assert code in (0, 3), (args, err)
        assert snapshot(env.generated) == before, args


def test_read_only_commands_before_any_render_say_so(env: Env) -> None:
    for command in ("status", "down", "logs"):
        code, _, err = env.taustack(command)
        assert code == 1
        assert err.strip().splitlines() == [f"Error: nothing rendered in {env.generated}: run taustack up"]
    assert not env.generated.exists() and env.recorder.calls == []


def test_logs_names_services_and_refuses_unknown_ones(env: Env) -> None:
    env.taustack("render")
    env.recorder.calls.clear()
    code, _, err = env.taustack("logs", "ollama-balancer", "--tail", "7", "-f")
    assert code == 0, err
    assert env.recorder.compose() == [
        env.compose_argv("logs", "--tail", "7", "--follow", "ollama-balancer", profiles=("*",))]
    code, _, err = env.taustack("logs", "nope")
    assert code == 1 and err.strip().splitlines()[-1].startswith("Error: no service 'nope' in this stack (it has: ")


def test_pull_goes_through_one_replica_and_runs_no_docker(env: Env) -> None:
    env.taustack("render")
    env.recorder.calls.clear()
    code, _, err = env.taustack("pull", "llama3.2:1b")
    assert code == 0, err
    assert env.fake.pulls == ["llama3.2:1b"] and env.recorder.calls == []
    assert "llama3.2:1b: on every replica (ollama-0, ollama-1)" in err
    code, _, err = env.taustack("pull", "not a model")
    assert code == 1 and err.strip().splitlines()[-1].startswith("Error: model: 'not a model'")


def test_a_changed_stack_file_is_noted_not_rendered(env: Env) -> None:
    env.taustack("render")
    write_stack(env.stack_file, {"ollama": {"replicas": 1, "port": PORT, "models": []}})
    before = snapshot(env.generated)
    code, _, err = env.taustack("down")
    assert code == 0
    assert "no longer renders to what" in err and snapshot(env.generated) == before
