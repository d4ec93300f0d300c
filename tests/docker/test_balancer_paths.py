"""What each engine's balancer refuses stays refused however the path is spelled, and what it forwards is the path
it checked: the real nginx with the rendered nginx.conf of every engine, raw request targets (as `curl
--path-as-is` sends them: http.client does not normalise), and a recorder behind it in place of the replicas and the
router that answers with the request target it was given. And the balancer's start script refuses a secret nginx
cannot quote, naming its variable."""

from __future__ import annotations

import http.client
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.docker.conftest import NGINX_IMAGE, PYTHON_IMAGE, docker
from tests.helpers import run_cli, write_stack

pytestmark = pytest.mark.docker

# each engine's balancer on its own port; replica i listens on port+1+i, the router on 30000
PORTS = {"ollama": 26434, "vllm": 26900, "llamacpp": 26080}
SECTIONS: dict[str, dict[str, object]] = {
    "ollama": {"replicas": 2, "port": PORTS["ollama"]},
    "vllm": {"model": "Qwen/Qwen2.5-7B-Instruct", "replicas": 2, "port": PORTS["vllm"]},
    "llamacpp": {"model": "models/tiny/tiny.gguf", "replicas": 2, "port": PORTS["llamacpp"]},
}
ROUTER_PORT = 30000

# every endpoint each engine serves that its balancer refuses (writes, state, unauthenticated internals)
REFUSED = {
    "vllm": ["/metrics", "/metrics/x", "/invocations", "/pause", "/resume", "/is_paused", "/tokenize", "/detokenize",
             "/ping", "/reset_prefix_cache", "/sleep", "/wake_up", "/is_sleeping", "/collective_rpc", "/server_info",
             "/docs", "/openapi.json"],
    "ollama": ["/api/pull", "/api/push", "/api/delete", "/api/create", "/api/copy", "/api/blobs/sha256:0a1b",
               "/debug/pprof/", "/debug/pprof/heap", "/debug/pprof/goroutine", "/debug/pprof/profile",
               "/debug/pprof/cmdline"],
    "llamacpp": ["/slots", "/slots/0", "/lora-adapters"],
}
# a path each balancer forwards, to hide behind a refused one
ALLOWED = {"vllm": "/v1/models", "ollama": "/api/tags", "llamacpp": "/v1/models"}

RECORDER = """
import json, sys, threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def answer(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        body = json.dumps({"target": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = answer
    def log_message(self, *args):
        pass
servers = [ThreadingHTTPServer(("0.0.0.0", int(port)), Handler) for port in sys.argv[1:]]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
"""


def disguises(path: str) -> list[str]:
    """Raw request targets that nginx reads as `path`: dot-dot segments (plain, and %-encoded in either case),
    `.` segments, doubled slashes, an encoded letter, mixed case, a trailing slash, and these combined."""
    letter = path[1]
    return [
        f"/v1/..{path}", f"/v1/%2e%2e{path}", f"/v1/%2E%2E{path}", f"/v1/%2e%2E{path}", f"/v1/.%2E{path}",
        f"/x/y/../..{path}", f"/./{path[1:]}", f"/%2e{path}", path.replace("/", "/./"), f"/{path}",
        path.replace("/", "//"), f"/%{ord(letter):02x}{path[2:]}", f"/%{ord(letter):02X}{path[2:]}",
        path.swapcase(), path[:2].upper() + path[2:], path.rstrip("/") + "/", f"/v1/./..//{path[1:]}",
        f"/V1/%2E.{path}",
    ]


def smuggles(path: str, allowed: str) -> list[str]:
    """Raw request targets that start with a refused `path` and resolve to `allowed`: the engine must be given
    `allowed` (a raw `/metrics/../v1/models` reaches vLLM's /metrics mount, which matches any suffix)."""
    up = len([part for part in path.split("/") if part])
    return [path.rstrip("/") + step * up + allowed
            for step in ("/..", "/%2e%2e", "/%2E%2E", "/%2e%2E", "/./..", "/.%2e")]


def request(port: int, target: str) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", target)
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def wait_alive(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if request(port, "/-/alive")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"nginx on {port} never answered /-/alive")


@pytest.fixture(scope="module")
def balancers(tmp_path_factory: pytest.TempPathFactory, base_images: None) -> Iterator[dict[str, int]]:
    """Each engine's rendered nginx.conf in the real nginx, on one network with the recorder (every replica's and
    router's name is one of its aliases)."""
    folder = tmp_path_factory.mktemp("balancer-paths")
    name = f"taustack-test-paths-{os.getpid()}"
    containers: list[str] = []
    docker("network", "create", name)
    try:
        aliases, ports = [], {ROUTER_PORT}
        for engine, section in SECTIONS.items():
            stack = write_stack(folder / f"{engine}.yaml", {engine: section, "balancer": {"image": NGINX_IMAGE}})
            generated = folder / f"{engine}-generated"
            result = run_cli("render", "--stack", str(stack), "--generated-dir", str(generated),
                             env={"TAUSTACK_ENV_FILE": str(folder / ".env")})
            assert result.returncode == 0, result.stderr
            aliases += [f"{engine}-0", f"{engine}-1", f"{engine}-router"]
            ports |= {PORTS[engine] + 1, PORTS[engine] + 2}
        recorder = folder / "recorder.py"
        recorder.write_text(RECORDER)
        alias_args = [arg for alias in aliases for arg in ("--network-alias", alias)]
        containers.append(docker("run", "-d", "--rm", "--network", name, *alias_args, "-v",
                                 f"{recorder}:/recorder.py:ro", PYTHON_IMAGE, "python3", "/recorder.py",
                                 *map(str, sorted(ports))).stdout.strip())
        time.sleep(1)  # nginx resolves the upstream names when it starts
        for engine, port in PORTS.items():
            conf = folder / f"{engine}-generated" / "nginx" / f"{engine}.conf"
            containers.append(docker("run", "-d", "--rm", "--network", name, "-p", f"127.0.0.1:{port}:{port}",
                                     "-v", f"{conf}:/etc/nginx/nginx.conf:ro", NGINX_IMAGE,
                                     "nginx", "-g", "daemon off;").stdout.strip())
        for port in PORTS.values():
            wait_alive(port)
        yield PORTS
    finally:
        for container in containers:
            docker("rm", "-f", container, check=False)
        docker("network", "rm", name, check=False)


CASES = [(engine, path) for engine, paths in REFUSED.items() for path in paths]


@pytest.mark.parametrize(("engine", "path"), CASES, ids=[f"{e}{p}" for e, p in CASES])
def test_a_refused_path_stays_refused_however_it_is_spelled(balancers: dict[str, int], engine: str,
                                                             path: str) -> None:
    port = balancers[engine]
    reached = {}
    for target in [path, *disguises(path)]:
        status, body = request(port, target)
        if status != 403:
            reached[target] = (status, body[:120])
    assert reached == {}, f"{engine}: these spellings of {path} got past the balancer"


@pytest.mark.parametrize(("engine", "path"), CASES, ids=[f"{e}{p}" for e, p in CASES])
def test_the_engine_is_given_the_path_the_balancer_checked(balancers: dict[str, int], engine: str,
                                                           path: str) -> None:
    port, allowed = balancers[engine], ALLOWED[engine]
    given = {}
    for target in smuggles(path, allowed):
        status, body = request(port, target)
        assert status == 200, f"{target}: {status} {body[:200]}"
        given[target] = json.loads(body)["target"]
    assert given == dict.fromkeys(given, allowed)


def test_what_needs_escaping_stays_escaped(balancers: dict[str, int]) -> None:
    """The normalised path goes out escaped again: an encoded ?, space or line break is not decoded into the
    request line (the query string is passed as it came)."""
    status, body = request(balancers["vllm"], "/v1/../v1/models%3Fx%20y%0D%0AX-Evil:%201?limit=2&q=a%20b")
    assert status == 200
    assert json.loads(body)["target"] == "/v1/models%3Fx%20y%0D%0AX-Evil:%201?limit=2&q=a%20b"


HEALTH = {"ollama": "/api/version", "vllm": "/health", "llamacpp": "/health"}


@pytest.mark.parametrize("engine", sorted(HEALTH))
def test_health_reaches_each_engines_own_health_path(balancers: dict[str, int], engine: str) -> None:
    """`GET /health` of the front port and of the router's per-replica ports asks the engine its own health path (the
    server's rewrite must not hand the replica `/health` where the engine has none: Ollama answers it 404)."""
    status, body = request(balancers[engine], "/health")
    assert status == 200 and json.loads(body)["target"] == HEALTH[engine], body[:200]
    container = docker("ps", "-q", "--filter", f"publish={balancers[engine]}").stdout.split()[0]
    probe = docker("exec", container, "python3", "-c", "import urllib.request; print(urllib.request.urlopen("
                   "'http://127.0.0.1:9100/health').read().decode())", check=False)
    assert probe.returncode == 0 and json.loads(probe.stdout)["target"] == HEALTH[engine], probe.stderr[-500:]


def test_a_secret_nginx_cannot_quote_stops_the_balancer_naming_its_variable(tmp_path: Path, base_images: None) -> None:
    """The balancer's own start command (as compose runs it) with an engine key holding a quote."""
    # a public bind: the balancer checks the API token and sends vLLM its own key in its place
    vllm = {**SECTIONS["vllm"], "api_key_env": "TEST_ENGINE_KEY", "bind": "0.0.0.0"}
    stack = write_stack(tmp_path / "vllm.yaml", {"vllm": vllm, "balancer": {"image": NGINX_IMAGE}})
    env_file = tmp_path / ".env"
    env_file.write_text("TEST_ENGINE_KEY=sk-engine-0a1b2c3d\n")
    rendered = run_cli("render", "--stack", str(stack), "--generated-dir", str(tmp_path / "generated"),
                       env={"TAUSTACK_ENV_FILE": str(env_file)})
    assert rendered.returncode == 0, rendered.stderr
    service = yaml.safe_load((tmp_path / "generated" / "compose.yaml").read_text())["services"]["vllm-balancer"]
    script = service["command"][-1].replace("$$", "$")  # compose's interpolation of $$
    bad = 'sk-"x'
    result = docker("run", "--rm", "-e", "TAUSTACK_API_TOKEN=sk-ok", "-e", f"TAUSTACK_ENGINE_KEY={bad}", NGINX_IMAGE,
                    "sh", "-c", script, check=False, timeout=60)
    assert result.returncode == 1
    assert result.stderr.strip() == "TAUSTACK_ENGINE_KEY: only letters, digits and ._~+/=:@- can reach nginx"
