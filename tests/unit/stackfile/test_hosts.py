"""The hosts: section and replicas placed on hosts: checked before anything starts, one line naming the field (and
the host) for a host listed twice, GPUs or cores a host does not have, a replica on no host, a port used twice."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from taustack.errors import SpecError
from taustack.stackfile.load import load_stack
from taustack.stackfile.resolve import resolve_stack
from taustack.stackfile.spread import Node
from tests.helpers import write_stack

A = {"docker": "local", "address": "10.0.0.1"}  # the controller runs on the front host
B = {"docker": "ssh://ubuntu@gpu-b.lan:2222", "address": "10.0.0.2"}
C = {"docker": "gpu-c", "address": "10.0.0.3"}  # a Docker context's name


def load(tmp_path: Path, data: dict[str, Any]) -> Any:
    return load_stack(write_stack(tmp_path / "stack.yaml", data))


def load_error(tmp_path: Path, data: dict[str, Any]) -> str:
    with pytest.raises(SpecError) as caught:
        load(tmp_path, data)
    message = str(caught.value)
    assert "\n" not in message
    return message


def layout(tmp_path: Path, data: dict[str, Any], cores: tuple[int, ...] = (0, 1)) -> Any:
    resolved = resolve_stack(load(tmp_path, data), {}, core_inventory=lambda: cores)
    assert resolved.layout is not None
    return resolved.layout


def hosts_of(replicas: Any) -> list[str]:
    return ["+".join(node.host for node in nodes) for nodes in replicas]


def test_replicas_spread_over_the_listed_hosts_in_turn_or_as_counted(tmp_path: Path) -> None:
    spread = layout(tmp_path, {"hosts": {"a": A, "b": B, "c": C}, "llamacpp": {"model": "m.gguf", "replicas": 4}})
    assert spread.front == "a"
    assert hosts_of(spread.sections["llamacpp"]) == ["a", "b", "c", "a"]
    counted = layout(tmp_path, {"hosts": {"a": A, "b": {**B, "front": True}},
                                "llamacpp": {"model": "m.gguf", "hosts": {"b": 2, "a": 1}, "bind": "10.0.0.2"}})
    assert counted.front == "b"
    assert hosts_of(counted.sections["llamacpp"]) == ["b", "b", "a"]
    # without replicas: one per listed host on the CPU
    assert hosts_of(layout(tmp_path, {"hosts": {"a": A, "b": B}, "llamacpp": {"model": "m.gguf", "hosts": ["b"]}})
                    .sections["llamacpp"]) == ["b"]


def test_gpu_words_apply_on_each_host(tmp_path: Path) -> None:
    """`gpus: 2` on two hosts: two replicas on each host's GPUs 0 and 1 (GPU ids repeat across hosts)."""
    placed = layout(tmp_path, {"hosts": {"a": A, "b": B}, "llamacpp": {"model": "m.gguf", "gpus": 2}})
    assert placed.sections["llamacpp"] == ((Node("a", ("0",)),), (Node("a", ("1",)),), (Node("b", ("0",)),),
                                           (Node("b", ("1",)),))
    everything = layout(tmp_path, {"hosts": {"a": {**A, "gpus": 2}, "b": {**B, "gpus": ["3", "5"]}},
                                   "vllm": {"model": "m", "gpus": "all", "tensor_parallel": 2}})
    assert everything.sections["vllm"] == ((Node("a", ("0", "1")),), (Node("b", ("3", "5")),))


def test_a_vllm_group_spans_hosts_head_first_with_its_ranks_cores(tmp_path: Path) -> None:
    data = {"hosts": {"a": {**A, "cores": "0-3"}, "b": {**B, "cores": "4-7"}},
            "vllm": {"model": "m", "pipeline_parallel": 2, "tensor_parallel": 2, "nodes": 2, "hosts": ["a", "b"]}}
    assert layout(tmp_path, data).sections["vllm"] == (
        (Node("a", (), ((0,), (1,))), Node("b", (), ((4,), (5,)))),)
    gpus = {**data, "vllm": {**data["vllm"], "gpus": 2}}
    assert layout(tmp_path, gpus).sections["vllm"] == ((Node("a", ("0", "1")), Node("b", ("0", "1"))),)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hosts": {"a": A, "b": {**B, "address": "10.0.0.1"}}, "llamacpp": {"model": "m.gguf"}},
         "hosts.b.address: 10.0.0.1 is also hosts.a.address: one host listed twice"),
        ({"hosts": {"a": A, "b": B, "c": {**C, "docker": B["docker"]}}, "llamacpp": {"model": "m.gguf"}},
         "hosts.c.docker: ssh://ubuntu@gpu-b.lan:2222 is also hosts.b.docker: one host listed twice"),
        ({"hosts": {"b": B, "a": A}, "llamacpp": {"model": "m.gguf"}},
         "llamacpp.bind: 127.0.0.1 on the front host b, which this controller reaches over the network: bind an "
         "address of b (hosts.b.address: 10.0.0.2); a token is then required"),
        ({"hosts": {"b": B}, "llamacpp": {"model": "m.gguf", "bind": "10.0.0.2"}, "gateway": {
            "bind": "0.0.0.0", "models": [{"name": "m", "engine": "llamacpp", "model": "m"}]}},
         "gateway.bind: 0.0.0.0 on the front host b, which this controller reaches over the network: bind an "
         "address of b (hosts.b.address: 10.0.0.2); a token is then required"),
        ({"hosts": {"a": A}, "vllm": {"model": "m", "hf_cache": "./hf"}},
         "vllm.hf_cache: ./hf names a folder relative to this machine: across hosts give a path every host has "
         "(absolute), or a volume name (one per host)"),
        ({"hosts": {"a": {**A, "front": True}, "b": {**B, "front": True}}, "llamacpp": {"model": "m.gguf"}},
         "hosts.b.front: a is the front host already: one carries the front door"),
        ({"hosts": {"gpu-a": {**A, "address": "127.0.0.1"}}},
         "hosts.gpu-a.address: 127.0.0.1 cannot be reached from another host: give the address on the private "
         "network"),
        ({"hosts": {"a": {**A, "docker": "tcp://10.0.0.1:2375"}}},
         "hosts.a.docker: 'tcp://10.0.0.1:2375': give ssh://user@host or a Docker context name (a tcp:// or unix:// "
         "socket has no authentication of its own)"),
        ({"hosts": {"A": A}}, "hosts: 'A' is not a host name (lowercase letters, digits and -, first a letter)"),
        ({"hosts": {"a": A}, "llamacpp": {"model": "m.gguf", "hosts": ["a", "z"]}},
         "llamacpp.hosts: no host 'z' in hosts: (a)"),
        ({"llamacpp": {"model": "m.gguf", "hosts": ["a"]}},
         "llamacpp.hosts: names hosts, but the stack file has no hosts: section"),
        ({"vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2}},
         "vllm.nodes: a replica across hosts needs a hosts: section"),
        ({"hosts": {"a": A, "b": B}, "llamacpp": {"model": "m.gguf", "replicas": 3, "hosts": {"a": 1, "b": 1}}},
         "llamacpp.replicas: 3, but llamacpp.hosts places 2 (a: 1, b: 1): replica 2 is on no host"),
        ({"hosts": {"a": {**A, "gpus": 4}}, "llamacpp": {"model": "m.gguf", "gpu_ids": [1, 5, 7]}},
         "llamacpp.gpu_ids: host a has no GPU 5, 7 (hosts.a.gpus: 0, 1, 2, 3)"),
        ({"hosts": {"a": A}, "vllm": {"model": "m", "gpus": "all"}},
         "vllm.gpus: on host a, 'all' needs hosts.a.gpus (the GPUs a has)"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "gpus": 3, "tensor_parallel": 2}},
         "vllm.gpus: on host a, 3 GPUs leave 1 idle: each node takes TP x PP x DP / nodes = 2"),
        ({"hosts": {"a": A, "b": B}, "llamacpp": {"model": "m.gguf", "gpus": 3, "replicas": 4}},
         "llamacpp.replicas: on host a, 2 replicas cannot share 3 GPUs evenly"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "gpus": 2}, "llamacpp": {"model": "m.gguf", "gpus": 1,
                                                                                      "hosts": ["b"]}},
         "vllm.gpus: on host b, GPU 0 would also serve llamacpp (llamacpp.gpus): give each engine its own GPUs, or set "
         "share_gpus: true on one of them if sharing is on purpose"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "pipeline_parallel": 3, "nodes": 2}},
         "vllm.nodes: TP x PP x DP = 3 ranks do not split over 2 hosts"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2, "hosts": {"a": 1}}},
         "vllm.hosts: a group of nodes: 2 takes a list of hosts, in order"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "pipeline_parallel": 3, "nodes": 3}},
         "vllm.nodes: 3 hosts per replica, 2 listed in vllm.hosts"),
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2, "port": 29500}},
         "vllm.master_port: 29501 is vLLM's group rendezvous (vllm.master_port) and also vllm replica 0's port "
         "(vllm.port + 1): give one of them another port"),
    ],
)
def test_placements_that_cannot_work_are_one_line_naming_the_field(tmp_path: Path, data: dict[str, Any],
                                                                    message: str) -> None:
    assert load_error(tmp_path, data) == message


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"hosts": {"a": A, "b": B}, "vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2}},
         "hosts.b.cores: vLLM runs on b's CPU: name the cores it has (e.g. '0-7')"),
        ({"hosts": {"a": {**A, "cores": "0"}, "b": {**B, "cores": "1"}},
          "vllm": {"model": "m", "pipeline_parallel": 2, "tensor_parallel": 2, "nodes": 2}},
         "vllm.cpu_cores: on host a, 1 node(s) x 2 rank(s) x 1 core(s) per rank need 2 cores, 1 given (0)"),
        ({"hosts": {"a": {**A, "cores": "0-1"}, "b": {**B, "cores": "2-3"}},
          "vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2},
          "llamacpp": {"model": "m.gguf", "threads": 2, "hosts": ["b"]}},
         "llamacpp.threads: on host b, 1 replica(s) x 2 thread(s) need 2 cores, and vLLM's ranks hold 1 of its 2: "
         "1 left"),
    ],
)
def test_cores_are_checked_per_host_when_the_stack_resolves(tmp_path: Path, data: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(SpecError) as caught:
        resolve_stack(load(tmp_path, data), {}, core_inventory=lambda: (0, 1))
    assert str(caught.value) == message


def test_a_local_host_gives_the_controllers_own_cores(tmp_path: Path) -> None:
    data = {"hosts": {"a": A, "b": {**B, "cores": "8-9"}},
            "vllm": {"model": "m", "pipeline_parallel": 2, "nodes": 2}}
    assert [node.cores for node in layout(tmp_path, data, cores=(2, 3)).sections["vllm"][0]] == [((2,),), ((8,),)]


def test_one_host_without_a_hosts_section_keeps_todays_placement(tmp_path: Path) -> None:
    resolved = resolve_stack(load(tmp_path, {"llamacpp": {"model": "m.gguf", "replicas": 2}}), {})
    assert resolved.layout is None and resolved.placements == {"llamacpp": ((), ())}


def test_the_readme_examples_across_hosts_validate(tmp_path: Path) -> None:
    """README's Across hosts examples: the two-host file, and the one model across both hosts on its hosts."""
    import re

    import yaml

    from tests.helpers import ROOT

    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Across hosts"):]
    section = section[:section.index("\n## ", 1)]
    spread, across = (yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.S)[:2])
    placed = load(tmp_path, spread)
    assert placed.vllm is not None and placed.hosts is not None
    one = load(tmp_path, {"hosts": spread["hosts"], **across})
    assert one.vllm is not None and one.vllm.nodes == 2
