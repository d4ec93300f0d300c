"""Every golden rendering is valid to the real Compose, and every nginx.conf passes `nginx -t`."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.docker.conftest import NGINX_IMAGE, docker
from tests.helpers import ROOT

GOLDEN = ROOT / "tests" / "golden" / "files"
CASES = sorted(path.name for path in GOLDEN.iterdir() if path.is_dir())

pytestmark = pytest.mark.docker


def test_root_compose_file_is_valid_on_a_clean_clone() -> None:
    docker("compose", "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"), "--profile", "*",
           "config", "-q")


@pytest.mark.parametrize("case", CASES)
def test_compose_config_accepts_the_rendering(case: str) -> None:
    # the secrets a rendering names by variable come from .env: any value will do for validation
    secrets = {"LITELLM_MASTER_KEY": "sk-test", "TAUSTACK_API_TOKEN": "sk-test", "VLLM_KEY": "sk-test"}
    docker("compose", "--project-directory", str(ROOT), "-p", "taustack-config-check",
           "-f", str(ROOT / "compose.yaml"), "-f", str(GOLDEN / case / "compose.yaml"),
           "--profile", "*", "config", "-q", env=secrets)


CONFS = sorted(f"{conf.parent.parent.name}/{conf.name}" for conf in GOLDEN.glob("*/nginx/*.conf"))


@pytest.mark.parametrize("case_conf", CONFS)
def test_nginx_accepts_the_rendered_conf(case_conf: str, base_images: None) -> None:
    conf: Path = GOLDEN / case_conf.split("/")[0] / "nginx" / case_conf.split("/")[1]
    hosts = sorted(set(re.findall(r"(?:server |http://)([a-z]+-(?:\d+|router)):\d+", conf.read_text())))
    assert hosts
    add_hosts = [arg for host in hosts for arg in ("--add-host", f"{host}:127.0.0.1")]
    # a public bind includes the token map (and the engine key's) the container writes at start; write them the same
    # way ... and a monitored balancer logs into the volume the exporter reads
    command = ["sh", "-c", "mkdir -p /var/log/taustack && printf 'map $http_authorization $taustack_authorized "
               "{\n default 0;\n \"Bearer sk-test\" 1;\n}\n' > /tmp/taustack-auth.conf && printf 'map \"\" "
               "$taustack_engine_authorization {\n default \"Bearer sk-test\";\n}\n' > /tmp/taustack-engine-key.conf"
               " && nginx -t"]
    result = docker("run", "--rm", *add_hosts, "-v", f"{conf}:/etc/nginx/nginx.conf:ro", NGINX_IMAGE, *command,
                    check=False)
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@pytest.mark.parametrize("profile", ["vllm-tp", "vllm-pp", "vllm-dp"])
def test_static_vllm_profiles_are_valid_with_nothing_but_env(profile: str) -> None:
    docker("compose", "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"), "--profile", profile,
           "config", "-q")
    rendered = docker("compose", "--project-directory", str(ROOT), "-f", str(ROOT / "compose.yaml"),
                      "--profile", profile, "config", env={"VLLM_GPUS": "4", "VLLM_TP": "4", "VLLM_PP": "4",
                                                           "VLLM_DP": "4", "VLLM_MODEL": "org/model"}).stdout
    assert "count: 4" in rendered and "org/model" in rendered and "127.0.0.1" in rendered
