"""Images taustack builds itself (taustack/*) must exist locally: no registry serves them."""

from __future__ import annotations

from collections.abc import Iterable

from taustack.errors import TaustackError
from taustack.runtime.docker import Runner, image_exists

LOCAL_PREFIX = "taustack/"


def require_local_images(images: Iterable[str], runner: Runner | None = None) -> None:
    """One clear error naming the first missing image and the command that builds it."""
    for image in dict.fromkeys(images):
        if image.startswith(LOCAL_PREFIX) and not image_exists(image, runner):
            raise TaustackError(f"image {image} is not built yet: run `make images` (no registry needed)")
