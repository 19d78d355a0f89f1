#!/usr/bin/env bash
# Starts the Pincer stack with docker-compose and waits until the gateway is healthy.
#
#   scripts/up.sh [--no-build] [--no-cargo]
#
#   --no-build   skip scripts/build-images.sh (use the images already built)
#   --no-cargo   build the images from the binaries already in target/release
#
# First run: creates .env from .env.example (with a fresh random gateway token) and
# config/pincer.json5 from config/pincer.example.json5. Existing files are never overwritten.
# Every run: adds the internal secrets .env lacks (bus passwords, service tokens:
# scripts/ensure-secrets.sh) and an empty config/tool-host.env (secrets of MCP servers).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCKER=/usr/bin/docker
# docker-compose with /usr/bin first in PATH: should it ever shell out to the docker CLI (builds
# with COMPOSE_DOCKER_CLI_BUILD=1), a newer /usr/local/bin/docker without buildx would fail.
compose() { PATH="/usr/bin:/usr/sbin:$PATH" docker-compose "$@"; }
WAIT_SECS="${PINCER_UP_WAIT_SECS:-60}"
PLACEHOLDER_TOKEN=change-me-run-openssl-rand-hex-32

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'up: error: %s\n' "$*" >&2; exit 1; }

build=1 build_args=()
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        --no-cargo) build_args+=(--no-cargo) ;;
        -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $arg (see --help)" ;;
    esac
done

# Value of KEY as compose sees it: the shell's environment wins over .env.
setting() {
    local key="$1" default="${2:-}" line
    if [[ -n "${!key:-}" ]]; then echo "${!key}"; return; fi
    line="$(grep -E "^[[:space:]]*${key}=" .env 2>/dev/null | tail -1 || true)"
    line="${line#*=}"
    line="${line%\"}" && line="${line#\"}"
    line="${line%\'}" && line="${line#\'}"
    echo "${line:-$default}"
}

scripts/ensure-docker.sh

if [[ ! -f .env ]]; then
    token="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    sed "s/^PINCER_GATEWAY_TOKEN=$PLACEHOLDER_TOKEN\$/PINCER_GATEWAY_TOKEN=$token/" .env.example >.env
    chmod 600 .env
    log "created .env from .env.example with a random PINCER_GATEWAY_TOKEN (edit it to taste)"
fi
scripts/ensure-secrets.sh .env
tool_env="$(setting PINCER_TOOL_HOST_ENV_FILE ./config/tool-host.env)"
if [[ ! -e "$tool_env" ]]; then
    mkdir -p "$(dirname "$tool_env")"
    install -m 600 /dev/null "$tool_env"
    log "created $tool_env (empty): the variables MCP servers reference (GH_TOKEN=...) go there"
fi
[[ "$(setting PINCER_GATEWAY_TOKEN)" != "$PLACEHOLDER_TOKEN" ]] ||
    log "warning: PINCER_GATEWAY_TOKEN is still the placeholder; set it in .env (openssl rand -hex 32)"

config="$(setting PINCER_CONFIG_FILE ./config/pincer.json5)"
if [[ ! -e "$config" ]]; then
    [[ "$config" == ./config/pincer.json5 || "$config" == config/pincer.json5 ]] ||
        die "PINCER_CONFIG_FILE=$config does not exist"
    cp config/pincer.example.json5 "$config"
    log "created $config from config/pincer.example.json5"
fi

tag="$(setting PINCER_TAG local)"
if ((build)); then
    # What compose.yml runs (the test servers' images are for scripts/test.sh).
    PINCER_TAG="$tag" scripts/build-images.sh "${build_args[@]}" compose
fi

log "docker-compose up -d (profiles: $(setting COMPOSE_PROFILES '<none>'))"
start=$SECONDS
start_ns=$(date +%s%N)
compose up -d --remove-orphans

# Compose v1 has no `up --wait`. Poll the gateway's /readyz on the published port (bash's /dev/tcp:
# a fresh Debian may have no curl); it answers 200 once NATS, the llm-router and an agent-runner are
# all reachable, which is stricter than the container healthcheck (liveness only).
gateway="$(compose ps -q gateway)"
[[ -n "$gateway" ]] || die "no gateway container after docker-compose up"
port="$(setting PINCER_GATEWAY_PORT 18789)"
ready() {
    local line
    # The braces keep 2>/dev/null from applying to the whole script (exec redirections persist).
    { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'GET /readyz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3 || line=""
    exec 3<&- 3>&-
    [[ "$line" == "HTTP/1.1 200"* ]]
}
deadline=$((start + WAIT_SECS))
while ! ready; do
    status="$("$DOCKER" inspect -f '{{ .State.Status }}' "$gateway" 2>/dev/null || echo missing)"
    if [[ "$status" == exited || "$status" == dead ]] || ((SECONDS >= deadline)); then
        printf '\nup: the gateway is not ready after %s s (container %s)\n\n' "$((SECONDS - start))" "$status" >&2
        compose ps >&2 || true
        printf '\n--- last 50 log lines ---\n' >&2
        compose logs --no-color --tail=50 >&2 || true
        exit 1
    fi
    sleep 0.05
done
elapsed_ms=$((($(date +%s%N) - start_ns) / 1000000))
log "ready $((elapsed_ms / 1000)).$(printf '%03d' $((elapsed_ms % 1000))) s after docker-compose up (GET /readyz = 200)"
compose ps

cat <<EOF

Pincer is up on http://127.0.0.1:$port (loopback only). Try:

  curl -s http://127.0.0.1:$port/v1/chat/completions \\
    -H "Authorization: Bearer \$(grep '^PINCER_GATEWAY_TOKEN=' .env | cut -d= -f2-)" \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"pincer/default","messages":[{"role":"user","content":"hi"}]}'

Logs: docker-compose logs -f     Stop: scripts/down.sh
EOF
