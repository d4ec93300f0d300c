# taustack/base:bookworm where a registry is reachable (scripts/images-offline.sh --prefer-registry): the same
# packages as the mmdebstrap build, plus any *.crt in the build context as trusted CA certificates.
FROM debian:bookworm-slim
ENV LANG=C.UTF-8 PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt PIP_CERT=/etc/ssl/certs/ca-certificates.crt \
    REQUESTS_CA_BUNDLE=/etc/ssl/certs/ca-certificates.crt
COPY . /usr/local/share/ca-certificates/
RUN apt-get update -qq \
 && apt-get install -y -qq --no-install-recommends python3 python3-venv python3-pip ca-certificates curl \
      nginx-light >/dev/null \
 && rm -f /usr/local/share/ca-certificates/Dockerfile && update-ca-certificates >/dev/null 2>&1 \
 && rm -f /usr/lib/python3*/EXTERNALLY-MANAGED && ln -sf python3 /usr/bin/python \
 && rm -f /etc/nginx/sites-enabled/default \
 && ln -sf /dev/stdout /var/log/nginx/access.log && ln -sf /dev/stderr /var/log/nginx/error.log \
 && rm -rf /var/lib/apt/lists/*
CMD ["bash"]
