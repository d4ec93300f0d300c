"""The hosts section of the stack file: each host's Docker Engine (how the controller reaches it), the private address
the other hosts reach it at, and what it has (GPUs, cores); one of them carries the front door."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from taustack.engines.cpus import parse_core_list
from taustack.stackfile.base import StrictModel, check_gpu_ids

HOST_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,30}$")
SSH_RE = re.compile(r"^ssh://(?:[A-Za-z0-9._-]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")
CONTEXT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")
LOCAL = "local"


def check_endpoint(value: str) -> str:
    """`ssh://[user@]host[:port]` (the user's own ssh: keys, known_hosts, config), a Docker context's name, or
    `local` (the Docker Engine the controller uses itself). Unauthenticated sockets are refused."""
    if value.startswith("ssh://"):
        if not SSH_RE.match(value):
            raise ValueError(f"{value!r} is not an ssh://[user@]host[:port] URL")
        return value
    if "://" in value:
        raise ValueError(f"{value!r}: give ssh://user@host or a Docker context name (a tcp:// or unix:// socket has "
                         "no authentication of its own)")
    if not CONTEXT_RE.match(value):
        raise ValueError(f"{value!r} is neither an ssh:// URL, a Docker context name nor 'local'")
    return value


def check_private_address(value: str) -> str:
    """An IP address other hosts reach this one at: not loopback, not 0.0.0.0."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an IP address") from None
    if address.is_loopback or address.is_unspecified:
        raise ValueError(f"{value} cannot be reached from another host: give the address on the private network")
    return str(address)


def check_host_gpus(value: Any) -> list[str] | None:
    """A GPU count (GPUs 0..N-1) or the host's GPU indexes or UUIDs."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{value} is not a GPU count")
        return [str(index) for index in range(value)]
    return check_gpu_ids(value)


def check_cores(value: object) -> tuple[int, ...] | None:
    return None if value is None else parse_core_list(value)  # type: ignore[arg-type]


Endpoint = Annotated[str, AfterValidator(check_endpoint)]
PrivateAddress = Annotated[str, AfterValidator(check_private_address)]


class HostSpec(StrictModel):
    """One host: its Docker Engine, its private address, and what it has."""

    docker: Endpoint = Field(..., description="how the controller reaches the host's Docker Engine: ssh://user@host "
                                              "(verified as the user's ssh does: keys, known_hosts, ~/.ssh/config), "
                                              "a Docker context name, or 'local' (the controller's own)")
    address: PrivateAddress = Field(..., description="the private address the other hosts reach this one at: "
                                                     "replicas listen there behind a token, vLLM groups talk there")
    front: bool = Field(False, description="carries the front door: the balancers, the session routers, the "
                                           "gateway and monitoring (default: the first host listed)")
    gpus: Annotated[list[str] | None, BeforeValidator(check_host_gpus)] = Field(
        None, description="the GPUs it has, as a count or indexes/UUIDs (checked against the engine sections; "
                          "needed for `gpus: all`)")
    cores: Annotated[tuple[int, ...] | None, BeforeValidator(check_cores)] = Field(
        None, description="the cores it has, e.g. '0-31' (needed where vLLM runs on its CPU)")

    def is_local(self) -> bool:
        return self.docker == LOCAL

    def is_ssh(self) -> bool:
        return self.docker.startswith("ssh://")


def check_host_names(hosts: Mapping[str, HostSpec]) -> None:
    """Names usable as compose labels and in errors; no host listed twice (one engine or one address under two
    names); at most one front host."""
    if not hosts:
        raise ValueError("hosts: lists no host (leave the section out for one host)")
    for name in hosts:
        if not HOST_NAME_RE.match(name):
            raise ValueError(f"hosts: {name!r} is not a host name (lowercase letters, digits and -, first a letter)")
    seen: dict[tuple[str, str], str] = {}
    for name, host in hosts.items():
        for key, value in (("docker", host.docker), ("address", host.address)):
            earlier = seen.setdefault((key, value), name)
            if earlier != name:
                raise ValueError(f"hosts.{name}.{key}: {value} is also hosts.{earlier}.{key}: one host listed twice")
    fronts = [name for name, host in hosts.items() if host.front]
    if len(fronts) > 1:
        raise ValueError(f"hosts.{fronts[1]}.front: {fronts[0]} is the front host already: one carries the front door")


def front_host(hosts: Mapping[str, HostSpec]) -> str:
    """The host with `front: true`, else the first listed."""
    return next((name for name, host in hosts.items() if host.front), next(iter(hosts)))
