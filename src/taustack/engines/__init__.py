"""One module per engine kind: image, command, health probe, readiness, balancer routes."""
