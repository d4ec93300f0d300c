"""Where things are: the project root (compose.yaml, nginx/, serving/) and the generated files."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from taustack.errors import TaustackError

DEFAULT_PROJECT = "taustack"


def is_root(path: Path) -> bool:
    return (path / "compose.yaml").is_file() and (path / "nginx" / "balancer.conf.j2").is_file()


def find_root(start: Path | None = None) -> Path:
    """TAUSTACK_ROOT, else the nearest folder above the working directory holding the project, else
    the checkout this package was installed from (`make setup` installs it editable)."""
    env = os.environ.get("TAUSTACK_ROOT")
    if env:
        root = Path(env).resolve()
        if not is_root(root):
            raise TaustackError(f"TAUSTACK_ROOT={env} is not a taustack checkout (no compose.yaml, nginx/)")
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if is_root(candidate):
            return candidate
    source_checkout = Path(__file__).resolve().parents[2]
    if is_root(source_checkout):
        return source_checkout
    raise TaustackError("not inside a taustack checkout: cd into it or set TAUSTACK_ROOT")


@dataclass(frozen=True)
class Workspace:
    """One compose project: its root, its name, and the folder its rendered files go to."""

    root: Path
    project: str = DEFAULT_PROJECT
    generated: Path | None = None

    @property
    def generated_dir(self) -> Path:
        return self.generated or self.root / "compose" / "generated"

    @property
    def compose_file(self) -> Path:
        return self.generated_dir / "compose.yaml"

    @property
    def env_file(self) -> Path:
        """The user's secrets file: the root .env, or TAUSTACK_ENV_FILE (passed to compose as --env-file)."""
        override = os.environ.get("TAUSTACK_ENV_FILE")
        return Path(override).resolve() if override else self.root / ".env"

    @property
    def stack_record(self) -> Path:
        """Which stack file was rendered last: `status` and `down` act on it when --stack is not given."""
        return self.generated_dir / ".stack-file"

    def default_stack(self) -> Path:
        try:
            recorded = Path(self.stack_record.read_text(encoding="utf-8").strip())
        except OSError:
            recorded = None
        if recorded is not None and recorded.is_file():
            return recorded
        return self.root / "serving" / "stack.yaml"

    @property
    def templates_dir(self) -> Path:
        return self.root / "nginx"

    def from_root(self, path: Path) -> str:
        """A path as compose resolves it: relative to the project directory (the root) when inside it."""
        absolute = path.resolve()
        if absolute.is_relative_to(self.root.resolve()):
            return "./" + absolute.relative_to(self.root.resolve()).as_posix()
        return str(absolute)
