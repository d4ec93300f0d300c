# Prometheus from Debian's package, where the official prom/prometheus image cannot be pulled.
#   docker build -f docker/prometheus.Dockerfile -t taustack/prometheus:bookworm docker
ARG BASE_IMAGE=taustack/base:bookworm
FROM ${BASE_IMAGE}
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends prometheus >/dev/null \
 && rm -rf /var/lib/apt/lists/* && mkdir -p /prometheus
EXPOSE 9090
ENTRYPOINT ["/usr/bin/prometheus"]
CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus"]
