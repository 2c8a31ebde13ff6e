# syntax=docker/dockerfile:1
# One image, two commands: `aifleet serve` (the composition function, the entrypoint) and
# `aifleet reconcile` (the companion reconciler sidecar, which sets its own `command`). The
# entrypoint names the subcommand, so the `args` a DeploymentRuntimeConfig gives the
# `package-runtime` container (`--debug`, `--max-recv-message-size=16`) are serve's flags. Both stages run Debian 13's Python
# 3.13, so the virtualenv built in the first runs unchanged on the distroless image of the
# second. The Helm binary is included: the reconciler renders charts with it when present.

FROM debian:13-slim AS build
ARG HELM_VERSION=v4.2.3
ARG TARGETARCH=amd64
RUN apt-get update \
 && apt-get install --yes --no-install-recommends python3-venv curl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN curl -fsSLo /tmp/helm.tgz "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz" \
 && curl -fsSLo /tmp/helm.sha256 "https://get.helm.sh/helm-${HELM_VERSION}-linux-${TARGETARCH}.tar.gz.sha256sum" \
 && echo "$(cut -d' ' -f1 /tmp/helm.sha256)  /tmp/helm.tgz" | sha256sum --check \
 && tar -xzf /tmp/helm.tgz -C /tmp \
 && install -m 0755 "/tmp/linux-${TARGETARCH}/helm" /usr/local/bin/helm
RUN python3 -m venv /venv/build && /venv/build/bin/pip install --no-cache-dir build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY function ./function
RUN /venv/build/bin/python -m build --wheel --outdir /wheels \
 && python3 -m venv /venv/fn \
 && /venv/fn/bin/pip install --no-cache-dir /wheels/*.whl

FROM gcr.io/distroless/python3-debian13:nonroot AS image
COPY --from=build /venv/fn /venv/fn
COPY --from=build /usr/local/bin/helm /usr/local/bin/helm
EXPOSE 9443
USER nonroot:nonroot
ENTRYPOINT ["/venv/fn/bin/aifleet", "serve"]
