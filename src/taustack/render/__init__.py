"""Pure functions StackSpec -> files in compose/generated/, and their atomic, only-if-changed write."""

from taustack.render.stack import RenderedStack, render_stack
from taustack.render.writer import write_files

__all__ = ["RenderedStack", "render_stack", "write_files"]
