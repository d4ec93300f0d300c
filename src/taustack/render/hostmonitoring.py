"""Monitoring on the front host of a stack across hosts: the exporter and Prometheus as on one host, but every replica
probed and scraped at its host's gate with the stack's token (written into the containers from their environment,
never into a file this renders), and their files carried as configs."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from taustack.engines.base import ReplicaGroup
from taustack.engines.hosted import HostedReplica
from taustack.render import monitoring
from taustack.render.hostcompose import ConfigFile, HostService
from taustack.secrets import API_TOKEN
from taustack.stackfile.monitoring import MonitoringSpec
from taustack.stackfile.stack import StackSpec

TOKEN_FILE = "/tmp/taustack-token"
TARGETS, SCRAPE = "monitoring/targets.json", "monitoring/prometheus.yml"


def gate_target(replica: Any) -> str:
    return replica.host_url.removeprefix("http://") if isinstance(replica, HostedReplica) else replica.service


def hosted_targets(groups: Sequence[ReplicaGroup]) -> str:
    """targets.json with each replica's gate URL (the exporter probes there, with the token)."""
    data = json.loads(monitoring.targets(groups))
    for group, entry in zip(groups, data["groups"], strict=True):
        for replica, target in zip(group.replicas, entry["replicas"], strict=True):
            if isinstance(replica, HostedReplica):
                target["url"] = replica.host_url
    return json.dumps(data, indent=2) + "\n"


def hosted_scrape(spec: StackSpec, settings: MonitoringSpec, groups: Sequence[ReplicaGroup]) -> str:
    """prometheus.yml: the engines' own metrics scraped at their gates, with the token from a file the container
    writes when it starts."""
    text = monitoring.scrape_config(spec, settings, groups)
    header, _, body = text.partition("\n")
    config = yaml.safe_load(body)
    by_engine = {group.engine: group for group in groups}
    for job in config["scrape_configs"]:
        group = by_engine.get(job["job_name"])
        if group is not None and group.routes.metrics_path:
            job["static_configs"] = [{"targets": [gate_target(replica) for replica in group.replicas]}]
            job["authorization"] = {"type": "Bearer", "credentials_file": TOKEN_FILE}
    return f"{header}\n" + yaml.safe_dump(config, sort_keys=False)


def monitoring_services(spec: StackSpec, groups: Sequence[ReplicaGroup], dashboards: Path) -> list[HostService]:
    """The exporter, Prometheus and Grafana for the front host: no bind mount, the token from the environment."""
    settings = spec.monitoring
    assert settings is not None
    files = {TARGETS: hosted_targets(groups), SCRAPE: hosted_scrape(spec, settings, groups),
             **monitoring.grafana_files(settings)}
    exporter, prometheus, grafana = monitoring.services(settings, groups, "", "", files)
    token = {API_TOKEN: f"${{{API_TOKEN}:?run: taustack up}}"}
    services = [
        HostService(replace(exporter, volumes=(f"{monitoring.LOGS_VOLUME}:{monitoring.LOGS_DIR}:ro",),
                            environment=token),
                    configs=(ConfigFile("exporter-targets", "/etc/taustack/targets.json", files[TARGETS]),)),
        HostService(replace(prometheus, volumes=(f"{monitoring.DATA_VOLUME}:/prometheus",), environment=token,
                            entrypoint=("sh", "-c", f"umask 077; printf '%s' \"$${API_TOKEN}\" > {TOKEN_FILE}; "
                                                    "exec prometheus \"$$@\"", "prometheus")),
                    configs=(ConfigFile("prometheus-config", "/etc/prometheus/prometheus.yml", files[SCRAPE]),)),
    ]
    if settings.grafana:
        provisioning = [ConfigFile(f"grafana-{index}", "/etc/grafana/provisioning/" +
                                   name.removeprefix("monitoring/grafana/"), text)
                        for index, (name, text) in enumerate(sorted(monitoring.grafana_files(settings).items()))]
        boards = [ConfigFile(f"dashboard-{path.stem}", f"/var/lib/grafana/dashboards/{path.name}",
                             path.read_text(encoding="utf-8")) for path in sorted(dashboards.glob("*.json"))]
        services.append(HostService(replace(grafana, volumes=()), configs=(*provisioning, *boards)))
    return services
