"""Shared pieces of the stack file's models: strict base, validated scalar types, name patterns."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from taustack.engines.gpus import parse_gpu_word

IMAGE_RE = re.compile(r"^[a-z0-9][a-z0-9._/:@+-]*$", re.IGNORECASE)
GPU_ID_RE = re.compile(r"^(\d+|GPU-[0-9a-fA-F-]{8,}|MIG-[0-9a-zA-Z/-]{8,})$")
OLLAMA_MODEL_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._/-]*(:[a-zA-Z0-9._-]+)?$")
MODEL_NAME_RE = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9._:/-]*$")
ENV_NAME_RE = re.compile(r"^[A-Z_][A-Z0-9_]*$")
SIZE_RE = re.compile(r"^\d+[kmg]?$")


class StrictModel(BaseModel):
    """Base for every section: unknown keys are errors, values are not coerced across types."""

    model_config = ConfigDict(extra="forbid", validate_default=True)


def check_image(value: str) -> str:
    """An image reference without spaces or shell characters, e.g. `ollama/ollama:0.20.6`."""
    if not IMAGE_RE.match(value):
        raise ValueError(f"{value!r} is not a valid image name")
    return value


def check_gpus(value: int | str) -> int | str:
    """A GPU count, `all` or `cpu`; 0 means cpu (engines.gpus reads the words for serving and training alike)."""
    return parse_gpu_word(value)


def check_gpu_ids(value: Any) -> list[str]:
    """GPU indexes or UUIDs, as a list or a comma-separated string; always strings."""
    if isinstance(value, str):
        value = [part for part in value.split(",") if part.strip()]
    if not isinstance(value, list):
        raise ValueError("must be a list of GPU indexes or UUIDs")
    ids = [str(item).strip() for item in value]
    for gpu_id in ids:
        if not GPU_ID_RE.match(gpu_id):
            raise ValueError(f"{gpu_id!r} is neither a GPU index nor a GPU UUID")
    if len(set(ids)) != len(ids):
        raise ValueError("lists a GPU twice")
    return ids


def check_bind(value: str) -> str:
    """An IP address to publish a port on; anything but loopback makes the balancer require a token."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    return value


def is_public(bind: str) -> bool:
    return not ipaddress.ip_address(bind).is_loopback


def dial_address(bind: str) -> str:
    """Where this host reaches a port published on `bind`: loopback for 0.0.0.0 or :: (every address, loopback
    included), else the bind itself (a port published on one address answers only there)."""
    address = ipaddress.ip_address(bind)
    if address.is_unspecified:
        return "::1" if address.version == 6 else "127.0.0.1"
    return str(address)


def published_url(bind: str, port: int) -> str:
    """The http URL of a port published on `bind`, as this host dials it (an IPv6 address in brackets)."""
    host = dial_address(bind)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def check_model_name(value: str) -> str:
    if not MODEL_NAME_RE.match(value):
        raise ValueError(f"{value!r} is not a model name (letters, digits, . _ - : /)")
    return value


def check_env_name(value: str) -> str:
    """A variable's name; the message never repeats the value, which may be a key pasted by mistake."""
    if not ENV_NAME_RE.match(value):
        raise ValueError("is not an environment variable name: give the variable's name, never the key itself")
    return value


ToolCheck = Literal["require", "warn", "off"]
TOOL_CHECK_HELP = ("the tool-calling conformance check at `up` and in `status` (a forced call through the balancer, "
                   "well-formed, following its schema, streamed equal to non-streamed): require (a failure fails "
                   "`up`, exit 3), warn (shown in status only) or off")

Port = Annotated[int, Field(ge=1, le=65535)]
ModelName = Annotated[str, AfterValidator(check_model_name)]
EnvName = Annotated[str, AfterValidator(check_env_name)]
ImageRef = Annotated[str, AfterValidator(check_image)]
GpuWord = Annotated[int | str, BeforeValidator(check_gpus)]
GpuIds = Annotated[list[str], BeforeValidator(check_gpu_ids)]
BindAddress = Annotated[str, AfterValidator(check_bind)]


class ReplicaGroupSpec(StrictModel):
    """What every engine section shares: replicas on GPUs (or the CPU) behind one nginx port."""

    gpus: GpuWord = Field("cpu", description="GPU count (GPUs 0..N-1), 'all', or 'cpu' (0)")
    gpu_ids: GpuIds = Field(default_factory=list, description="exact GPU indexes or UUIDs")
    gpus_per_replica: int | None = Field(None, ge=1, description="GPUs each replica gets (default 1)")
    replicas: int | None = Field(None, ge=1, description="default: one per GPU group, 1 on CPU")
    bind: BindAddress = Field("127.0.0.1", description="address the balancer's port is published on")
    share_gpus: bool = Field(False, description="true: this section may use GPUs another engine section also uses "
                                                "(on purpose: leave memory for both); otherwise that is an error")
    hosts: list[str] | dict[str, Annotated[int, Field(ge=1)]] | None = Field(
        None, description="with a hosts: section: the hosts this section's replicas run on, a list (spread over it in "
                          "turn) or host -> replicas (default: spread over every host); GPU words apply on each host")

    def per_replica_gpus(self, section: str, devices: list[str] | None) -> int | None:
        """GPUs each replica takes of `devices` (None: placement derives it from replicas)."""
        return self.gpus_per_replica


def format_validation_error(error: ValidationError, sources: Mapping[str, str]) -> str:
    """All problems on one line, each as `field: message`, naming the override it came from."""
    parts = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"] if not str(part).startswith("function-"))
        field = re.sub(r"\.(int|str|bool|list\[str\])$", "", field)
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        nested = re.match(r"^([a-z_][a-z0-9_.-]*): (.*)$", message)
        if nested and item["type"] == "value_error":  # a check across fields names the field it is about
            field, message = f"{field}.{nested.group(1)}" if field else nested.group(1), nested.group(2)
        origin = sources.get(field)
        parts.append(f"{field}: {message}" + (f" (from {origin})" if origin else ""))
    return "; ".join(dict.fromkeys(parts))
