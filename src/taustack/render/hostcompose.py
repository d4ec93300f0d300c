"""The compose file of one host of several: services with no bind mount of this machine's files (Compose on a remote
engine would mount the REMOTE host's path of that name): rendered files travel inside the compose file as configs
(`content:`, which Compose copies into the container through the engine's API), host networking where asked."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from taustack.render.services import ComposeFile, ComposeService

HEADER = (
    "# Rendered by `taustack render` from {stack_file}: do not edit.\n"
    "# The compose project of host {host} ({endpoint}); taustack runs it there through Docker's remote access.\n"
)


@dataclass(frozen=True)
class ConfigFile:
    """A rendered file a service reads: its config name, the path inside the container, its text."""

    name: str
    target: str
    content: str


@dataclass(frozen=True)
class HostService:
    """A compose service plus what only a host's own file needs: configs, host networking, network sysctls."""

    service: ComposeService
    configs: tuple[ConfigFile, ...] = ()
    network_host: bool = False
    sysctls: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class HostCompose:
    """One host's compose document: its services in order and the named volumes they use."""

    host: str
    endpoint: str
    services: tuple[HostService, ...]
    volumes: tuple[str, ...] = ()

    def to_compose(self) -> dict[str, Any]:
        document = ComposeFile(tuple(s.service for s in self.services), self.volumes).to_compose()
        configs: dict[str, dict[str, str]] = {}
        for hosted in self.services:
            entry = document["services"][hosted.service.name]
            if hosted.network_host:
                entry["network_mode"] = "host"
            if hosted.sysctls:
                entry["sysctls"] = dict(hosted.sysctls)
            if hosted.configs:
                entry["configs"] = [{"source": config.name, "target": config.target} for config in hosted.configs]
            for config in hosted.configs:
                # Compose interpolates ${...} in a config's content too: nginx's $variables are written $$
                configs[config.name] = {"content": config.content.replace("$", "$$")}
        if configs:
            document["configs"] = configs
        return document


class BlockDumper(yaml.SafeDumper):
    """Multi-line strings (the configs' files) as literal blocks, readable as the files they are."""


def block_strings(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


BlockDumper.add_representer(str, block_strings)


def host_document(compose: HostCompose, stack_file: str) -> str:
    """The compose file's text: a header naming the stack file and the host, then the document."""
    text = yaml.dump(compose.to_compose(), Dumper=BlockDumper, sort_keys=False, default_flow_style=False, width=120)
    return HEADER.format(stack_file=stack_file, host=compose.host, endpoint=compose.endpoint) + text
