# One Dockerfile for every Pincer Rust image. The binaries are built on the host
# (`cargo build --release --locked`) and copied in; nothing is compiled here.
#
# Build context: a folder holding the binary, renamed `service`, and pincer-probe
# (scripts/build-images.sh makes target/docker/<image>/). Exec-form ENTRYPOINT/HEALTHCHECK cannot use build args, so every
# image runs /usr/local/bin/service and carries its real binary name in labels:
#
#   docker build -f docker/service.Dockerfile --build-arg BIN=pincer-channel-bridge \
#       --target service -t pincer/channel-bridge:local target/docker/channel-bridge
#
# Contract for each binary: no arguments = run the service (configured by PINCER_* env and the
# config file); `healthcheck` = probe the running service in the same container (HTTP /healthz or
# grpc.health.v1) and exit 0 when it is serving, 1 otherwise, within 2 s.
#
# How every service image runs its binary. Its one layer, the same file in every context, is
# shared by all the images: pincer-probe (crates/probe, std only), the health check compose runs
# (an HTTP GET or a gRPC health call), which starts a 0.4 MB process instead of the service's own
# executable.
FROM gcr.io/distroless/cc-debian12:nonroot AS runtime

COPY pincer-probe /usr/local/bin/pincer-probe
USER 65532:65532
ENV LOG_FORMAT=json
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/service"]
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/service", "healthcheck"]

# The binary is copied last: the instructions above it stay cached, so a rebuild after a code
# change is one layer.
FROM runtime AS service

ARG BIN=unknown
ARG VERSION=0.0.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.description="Pincer ${BIN} on a distroless (cc-debian12) base" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.pincer.binary="${BIN}"
COPY service /usr/local/bin/service

# The gateway, the agent-runner and the llm-router: one executable for the three
# (pincer-turn-services; context target/docker/turn-services), copied before anything that differs
# between them, so their images share that layer: on disk once, and in memory once, since
# containers reading the same layer's file share its pages in the page cache. Which service runs
# is PINCER_SERVICE:
#
#   docker build -f docker/service.Dockerfile --build-arg BIN=pincer-gateway \
#       --target turn-service -t pincer/gateway:local target/docker/turn-services
FROM runtime AS turn-service

COPY service /usr/local/bin/service

ARG BIN=unknown
ARG VERSION=0.0.0
ARG REVISION=unknown
ENV PINCER_SERVICE=${BIN}
LABEL org.opencontainers.image.title="${BIN}" \
      org.opencontainers.image.description="Pincer ${BIN} on a distroless (cc-debian12) base" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      io.pincer.binary="${BIN}" \
      io.pincer.executable="pincer-turn-services"

# The fake LLM provider (Ollama + OpenAI wire formats on one port) for the `demo` profile and tests.
FROM service AS fake-provider
EXPOSE 8080
CMD ["--host", "0.0.0.0", "--port", "8080"]
HEALTHCHECK --interval=2s --timeout=2s --start-period=5s --retries=3 \
    CMD ["/usr/local/bin/service", "healthcheck", "--url", "http://127.0.0.1:8080/health"]

# The fake Telegram Bot API (long polling, webhooks, 409/429/entity errors) for tests and demos.
FROM service AS fake-telegram
EXPOSE 8081
CMD ["--listen", "0.0.0.0:8081"]
HEALTHCHECK NONE

# The MCP test server over streamable HTTP (echo, crash, garbage, ... tools) for stack tests.
FROM service AS mcp-test-server
EXPOSE 8080
CMD ["--http", "0.0.0.0:8080"]
HEALTHCHECK NONE
