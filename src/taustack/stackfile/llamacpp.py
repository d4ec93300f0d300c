"""The llamacpp section of the stack file: llama-server (or llama-cpp-python's server) replicas."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from taustack.stackfile.base import TOOL_CHECK_HELP, ImageRef, ModelName, Port, ReplicaGroupSpec, ToolCheck


class LlamacppSpec(ReplicaGroupSpec):
    """llama.cpp's server (llama-server): the CPU engine, with layer offload when GPUs are given."""

    model: str = Field(..., description="a GGUF file on this host (relative to the project root), "
                                        "or volume:NAME.gguf for a file in the llamacpp-models volume")
    model_name: ModelName | None = Field(None, description="the name clients ask for (default: the file's stem)")
    image: ImageRef = Field("taustack/llamacpp:0.3.36", description="built by `make images` (llama.cpp "
                                                                     "from llama-cpp-python 0.3.36's sources)")
    server: Literal["llama-server", "llama-cpp-python"] = Field(
        "llama-server", description="llama-server (parallel slots, /metrics, tools from the GGUF's template) or "
                                    "llama-cpp-python's server (one request at a time; tool_choice forced by grammar)")
    chat_format: str | None = Field(None, description="llama-cpp-python only: its chat format "
                                                      "(default chatml-function-calling, which supports tools)")
    threads: int = Field(2, ge=1, description="CPU threads per replica")
    tool_check: ToolCheck = Field("warn", description=TOOL_CHECK_HELP + "; default warn: llama-server lets a model "
                                  "write text before a call, and a group serving a model that never calls tools by "
                                  "itself must still come up")
    context_size: int = Field(8192, ge=128, description="tokens per slot (the server gets context_size x slots)")
    slots: int | None = Field(None, ge=1, description="requests each replica serves at once "
                                                      "(llama-server --parallel; default 2; llama-cpp-python: 1)")
    gpu_layers: int = Field(999, ge=0, description="layers offloaded when the replica has GPUs")
    port: Port = Field(8080, description="the balancer's port; replica i listens on port+1+i")
    extra_args: list[str] = Field(default_factory=list, description="more llama-server flags, passed as given")

    @field_validator("model")
    @classmethod
    def _model(cls, value: str) -> str:
        name = value.removeprefix("volume:")
        if not name.endswith(".gguf") or not name.strip():
            raise ValueError(f"{value!r} is not a .gguf file")
        if value.startswith("volume:") and "/" in name:
            raise ValueError(f"{value!r}: a file in the models volume is named without folders")
        return value

    @model_validator(mode="after")
    def _server_options(self) -> LlamacppSpec:
        if self.server == "llama-cpp-python" and self.slots not in (None, 1):
            raise ValueError("slots: llama-cpp-python's server serves one request at a time; "
                             "use server: llama-server for parallel slots")
        if self.server == "llama-server" and self.chat_format is not None:
            raise ValueError("chat_format: only llama-cpp-python's server has chat formats; llama-server "
                             "uses the GGUF's chat template")
        return self

    def served_name(self) -> str:
        return self.model_name or Path(self.model.removeprefix("volume:")).stem

    def effective_slots(self) -> int:
        return self.slots or (2 if self.server == "llama-server" else 1)
