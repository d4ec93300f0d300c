"""Images taustack builds itself (taustack/*) must exist locally: no registry serves them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable

from taustack.errors import TaustackError

LOCAL_PREFIX = "taustack/"


def require_local_images(images: Iterable[str]) -> None:
    """One clear error naming the first missing image and the command that builds it."""
    for image in dict.fromkeys(images):
        if not image.startswith(LOCAL_PREFIX):
            continue
        try:
            found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, check=False)
        except FileNotFoundError:
            raise TaustackError("docker is not installed (no `docker` on PATH)") from None
        if found.returncode != 0:
            raise TaustackError(f"image {image} is not built yet: run `make images` (no registry needed)")
