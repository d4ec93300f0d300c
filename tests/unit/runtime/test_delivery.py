"""Sending an image to several hosts from one `docker save` (a stand-in docker on PATH records what each host's
`docker load` received), and each host's failure named on its own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from taustack.runtime.delivery import send_image
from taustack.runtime.remote import Host
from taustack.stackfile.hosts import HostSpec

FAKE_DOCKER = """#!/bin/sh
# save IMAGE: 3 MiB of a pattern, and one line per save in $OUT/saves; -H URL load -q: stdin to $OUT/<host>.tar
if [ "$1" = save ]; then
  echo "$2" >> "$OUT/saves"
  python3 -c "import sys; sys.stdout.buffer.write(bytes(range(256)) * 12288)"
  exit 0
fi
host=$(echo "$2" | sed 's|ssh://root@||')
case "$host" in *broken*) echo "Error processing tar file: unexpected EOF" >&2; exit 1;; esac
cat > "$OUT/$host.tar"
"""


@pytest.fixture()
def fake_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    binary = tmp_path / "bin" / "docker"
    binary.parent.mkdir()
    binary.write_text(FAKE_DOCKER)
    binary.chmod(0o755)
    monkeypatch.setenv("PATH", f"{binary.parent}:{os.environ['PATH']}")
    monkeypatch.setenv("OUT", str(tmp_path))
    return tmp_path


def host(name: str, address: str) -> Host:
    return Host(name, HostSpec(docker=f"ssh://root@{address}", address="10.0.0.9"))


def test_one_save_feeds_every_host(fake_docker: Path, capsys: pytest.CaptureFixture[str]) -> None:
    failed = send_image("taustack/x:1", [host("a", "a.lan"), host("b", "b.lan")])
    assert failed == []
    assert (fake_docker / "saves").read_text() == "taustack/x:1\n"  # read from this machine's engine once
    sent = bytes(range(256)) * 12288
    assert (fake_docker / "a.lan.tar").read_bytes() == sent == (fake_docker / "b.lan.tar").read_bytes()
    echoed = capsys.readouterr().err
    assert "[a] $ docker save taustack/x:1 | docker -H ssh://root@a.lan load -q" in echoed
    assert "[b] $ docker save taustack/x:1 | docker -H ssh://root@b.lan load -q" in echoed


def test_a_host_whose_load_fails_is_named_and_the_others_still_get_it(fake_docker: Path) -> None:
    failed = send_image("taustack/x:1", [host("a", "broken.lan"), host("b", "b.lan")])
    assert [str(error) for error in failed] == [
        "host a (ssh://root@broken.lan): docker load of taustack/x:1 failed: Error processing tar file: unexpected EOF"]
    assert (fake_docker / "b.lan.tar").stat().st_size == 3 * 1024 * 1024
