"""The monitoring section: the exporter, Prometheus and Grafana (compose profile `monitoring`)."""

from __future__ import annotations

from pydantic import Field

from taustack.stackfile.base import ImageRef, Port, StrictModel


class MonitoringSpec(StrictModel):
    """Metrics for every replica (the exporter reads probes and nginx's access log), scraped by Prometheus."""

    exporter_image: ImageRef = Field("taustack/controller:0.1.0", description="built by `make images` from this repo")
    exporter_port: Port = Field(9400, description="the exporter's port (loopback)")
    prometheus_image: ImageRef = Field("taustack/prometheus:bookworm", description="Debian's prometheus package "
                                                                                   "(prom/prometheus works too)")
    prometheus_port: Port = Field(9090, description="Prometheus's port (loopback)")
    grafana_image: ImageRef = Field("grafana/grafana:12.2.0", description="official image, with the dashboard "
                                                                        "provisioned")
    grafana_port: Port = Field(3000, description="Grafana's port (loopback)")
    grafana: bool = Field(True, description="start Grafana with the monitoring profile")
    scrape_interval_s: int = Field(5, ge=1, le=300, description="how often Prometheus scrapes")
    probe_interval_s: int = Field(5, ge=1, le=300, description="how often the exporter probes replicas")
