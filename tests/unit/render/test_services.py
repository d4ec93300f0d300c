"""The compose service view: what it writes, in which order, and what it leaves out."""

from __future__ import annotations

import pytest
import yaml

from taustack.render.compose import BALANCER_KEY_ORDER, compose_document
from taustack.render.services import (
    ComposeFile,
    ComposeService,
    Dependency,
    Healthcheck,
    Ulimit,
    config_digest,
)


def test_gpus_serialize_as_device_ids_strings_with_gpu_capability() -> None:
    service = ComposeService(name="vllm-0", image="vllm", profiles=("vllm",), gpus=("0", "GPU-abc"))
    devices = service.to_compose()["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"driver": "nvidia", "device_ids": ["0", "GPU-abc"], "capabilities": ["gpu"]}]
    text = compose_document(ComposeFile(services=(service,)), "serving/stack.yaml")
    assert "- '0'" in text  # a string in YAML too, as compose requires


def test_empty_optional_fields_are_left_out() -> None:
    service = ComposeService(name="cpu-0", image="img", profiles=("p",))
    assert service.to_compose() == {"image": "img", "profiles": ["p"], "restart": "unless-stopped"}
    assert "volumes" not in ComposeFile(services=(service,)).to_compose()


def test_keys_follow_the_default_order_whatever_the_argument_order() -> None:
    service = ComposeService(
        name="s", labels={"a": "b"}, ports=("127.0.0.1:1:1",), ulimits=(Ulimit("stack", 64),), ipc="host",
        volumes=("v:/v",), environment={"K": "V"}, command=("run",), entrypoint=("sh",), restart="always",
        profiles=("p",), image="img", healthcheck=Healthcheck(test=("CMD", "true"), interval="1s"),
        depends_on=(Dependency("other"),), gpus=("1",), config="abc",
    )
    assert list(service.to_compose()) == [
        "image", "profiles", "restart", "entrypoint", "command", "environment", "volumes", "ipc", "ulimits",
        "ports", "depends_on", "healthcheck", "labels", "deploy",
    ]


def test_an_explicit_order_places_keys_and_the_config_label_comes_last() -> None:
    service = ComposeService(name="b", image="nginx", profiles=("p",), environment={"T": "x"},
                             ports=("1:1",), ulimits=(Ulimit("nofile", 10, 20),), labels={"role": "balancer"},
                             config="0123", order=BALANCER_KEY_ORDER)
    data = service.to_compose()
    assert list(data) == ["image", "profiles", "restart", "ports", "ulimits", "labels", "environment"]
    assert data["ulimits"] == {"nofile": {"soft": 10, "hard": 20}}
    assert data["labels"] == {"role": "balancer", "io.taustack.config": "0123"}


def test_an_order_missing_a_key_is_refused() -> None:
    with pytest.raises(ValueError, match="order"):
        ComposeService(name="s", image="i", profiles=(), order=("image",))


def test_dependencies_and_healthcheck() -> None:
    service = ComposeService(name="gw", image="i", profiles=("p",),
                             depends_on=(Dependency("a", restart=True), Dependency("b")),
                             healthcheck=Healthcheck(test=("CMD", "true"), interval="3s", start_period="10s"))
    data = service.to_compose()
    assert data["depends_on"] == {"a": {"condition": "service_started", "restart": True},
                                  "b": {"condition": "service_started"}}
    assert data["healthcheck"] == {"test": ["CMD", "true"], "interval": "3s", "timeout": "5s", "retries": 5,
                                   "start_period": "10s"}


def test_compose_file_names_each_volume_once_and_parses_back() -> None:
    shared = {"HF_TOKEN": "${HF_TOKEN:-}"}
    services = tuple(ComposeService(name=f"r-{i}", image="i", profiles=("p",), environment=shared)
                     for i in range(2))
    text = compose_document(ComposeFile(services=services, volumes=("a", "b", "a")), "serving/stack.yaml")
    document = yaml.safe_load(text)
    assert document["volumes"] == {"a": {}, "b": {}}
    assert [document["services"][f"r-{i}"]["environment"] for i in range(2)] == [shared, shared]


def test_config_digest_hashes_the_named_files_in_name_order() -> None:
    files = {"b": "2", "a": "1", "c": "3"}
    assert config_digest(files, ["b", "a"]) == config_digest(files, ["a", "b"])
    assert config_digest(files, ["a"]) != config_digest(files, ["b"])
    assert len(config_digest(files, ["c"])) == 16
