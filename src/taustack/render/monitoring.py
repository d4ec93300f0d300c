"""The monitoring profile: exporter targets, Prometheus's scrape config, Grafana's provisioning, services."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import yaml

from taustack.engines.base import ReplicaGroup
from taustack.render.nginx import ROUTER_METRICS_PORT
from taustack.render.services import ComposeService, Dependency, Healthcheck, config_digest
from taustack.stackfile.balancer import STATUS_PORT
from taustack.stackfile.monitoring import MonitoringSpec
from taustack.stackfile.stack import StackSpec

PROFILE = "monitoring"
LOGS_VOLUME = "balancer-logs"
LOGS_DIR = "/var/log/taustack"
DATA_VOLUME = "prometheus-data"
VOLUMES = (LOGS_VOLUME, DATA_VOLUME)


def targets(groups: Sequence[ReplicaGroup]) -> str:
    """What the exporter probes, without the stack file: groups, replicas, ports, models."""
    data = {
        "status_port": STATUS_PORT,
        "groups": [
            {"engine": g.engine, "port": g.port, "bind": g.bind, "auth": g.auth, "models": list(g.models),
             "health_path": g.routes.health_path,
             "replicas": [{"index": r.index, "port": r.port, "devices": list(r.devices)} for r in g.replicas]}
            for g in groups
        ],
    }
    return json.dumps(data, indent=2) + "\n"


def scrape_config(spec: StackSpec, monitoring: MonitoringSpec, groups: Sequence[ReplicaGroup]) -> str:
    """Prometheus scrapes the exporter, and the engines, routers and gateway that export metrics of their own."""
    jobs: list[dict[str, Any]] = [
        {"job_name": "taustack", "static_configs": [{"targets": [f"exporter:{monitoring.exporter_port}"]}]},
    ]
    for group in groups:
        if group.routes.metrics_path:  # the engine says where it exports metrics, if it does
            jobs.append({"job_name": group.engine, "metrics_path": group.routes.metrics_path, "static_configs": [
                {"targets": [f"{r.service}:{r.port}" for r in group.replicas]}]})
        if group.router:  # sessions and decisions per replica (worker: nginx's port for that replica)
            jobs.append({"job_name": f"{group.engine}-router",
                         "static_configs": [{"targets": [f"{group.router_service}:{ROUTER_METRICS_PORT}"]}]})
    if spec.gateway is not None:
        jobs.append({"job_name": "litellm", "metrics_path": "/metrics/",
                     "static_configs": [{"targets": [f"gateway:{spec.gateway.port}"]}]})
    config = {"global": {"scrape_interval": f"{monitoring.scrape_interval_s}s",
                         "evaluation_interval": f"{monitoring.scrape_interval_s}s"},
              "scrape_configs": jobs}
    return "# Rendered by `taustack render`: do not edit.\n" + yaml.safe_dump(config, sort_keys=False)


def grafana_files(monitoring: MonitoringSpec) -> dict[str, str]:
    datasource = {"apiVersion": 1, "datasources": [{
        "name": "Prometheus", "uid": "taustack-prometheus", "type": "prometheus", "access": "proxy",
        "url": f"http://prometheus:{monitoring.prometheus_port}", "isDefault": True}]}
    provider = {"apiVersion": 1, "providers": [{
        "name": "taustack", "folder": "taustack", "type": "file", "disableDeletion": True,
        "options": {"path": "/var/lib/grafana/dashboards"}}]}
    return {
        "monitoring/grafana/datasources/prometheus.yaml": yaml.safe_dump(datasource, sort_keys=False),
        "monitoring/grafana/dashboards/taustack.yaml": yaml.safe_dump(provider, sort_keys=False),
    }


def services(monitoring: MonitoringSpec, groups: Sequence[ReplicaGroup], generated: str, dashboards: str,
             files: Mapping[str, str]) -> list[ComposeService]:
    """The exporter, Prometheus and Grafana, each labelled with a hash of the rendered `files` it mounts."""
    grafana = [name for name in files if name.startswith("monitoring/grafana/")]
    return [
        ComposeService(
            name="exporter",
            image=monitoring.exporter_image,
            profiles=(PROFILE,),
            command=("taustack", "exporter", "--targets", "/etc/taustack/targets.json", "--logs", LOGS_DIR,
                     "--port", str(monitoring.exporter_port), "--interval", str(monitoring.probe_interval_s)),
            volumes=(f"{generated}/monitoring/targets.json:/etc/taustack/targets.json:ro",
                     f"{LOGS_VOLUME}:{LOGS_DIR}:ro"),
            ports=(f"127.0.0.1:{monitoring.exporter_port}:{monitoring.exporter_port}",),
            depends_on=tuple(Dependency(group.balancer_service) for group in groups),
            healthcheck=Healthcheck(
                test=("CMD", "python3", "-c", "import urllib.request; urllib.request.urlopen("
                      f"'http://127.0.0.1:{monitoring.exporter_port}/metrics')"),
                interval="3s", start_period="10s",
            ),
            labels={"io.taustack.role": "exporter"},
            config=config_digest(files, ["monitoring/targets.json"]),
        ),
        ComposeService(
            name="prometheus",
            image=monitoring.prometheus_image,
            profiles=(PROFILE,),
            command=("--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus",
                     f"--web.listen-address=:{monitoring.prometheus_port}"),
            volumes=(f"{generated}/monitoring/prometheus.yml:/etc/prometheus/prometheus.yml:ro",
                     f"{DATA_VOLUME}:/prometheus"),
            ports=(f"127.0.0.1:{monitoring.prometheus_port}:{monitoring.prometheus_port}",),
            depends_on=(Dependency("exporter"),),
            labels={"io.taustack.role": "prometheus"},
            config=config_digest(files, ["monitoring/prometheus.yml"]),
        ),
        ComposeService(
            name="grafana",
            image=monitoring.grafana_image,
            profiles=("grafana",),
            environment={"GF_AUTH_ANONYMOUS_ENABLED": "true", "GF_AUTH_ANONYMOUS_ORG_ROLE": "Viewer",
                         "GF_SECURITY_ADMIN_PASSWORD": "${GRAFANA_ADMIN_PASSWORD:-admin}"},
            volumes=(f"{generated}/monitoring/grafana:/etc/grafana/provisioning:ro",
                     f"{dashboards}:/var/lib/grafana/dashboards:ro"),
            ports=(f"127.0.0.1:{monitoring.grafana_port}:3000",),
            depends_on=(Dependency("prometheus"),),
            labels={"io.taustack.role": "grafana"},
            config=config_digest(files, grafana) if grafana else "",
        ),
    ]
