#!/usr/bin/env bash
# Makes sure a Docker engine answers on this machine: installs docker.io + docker-compose (v1) from
# apt when they are missing, starts dockerd in the background when it is not running, and waits
# (polling, up to 60 s) until `docker info` works. Safe to run any number of times.
#
# Always uses /usr/bin/docker: some machines put a newer client without buildx/compose plugins first
# in PATH (/usr/local/bin/docker), which breaks `docker-compose build` (see offline-containers.md §3).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCKER=/usr/bin/docker
DOCKERD_LOG="${DOCKERD_LOG:-/tmp/pincer-dockerd.log}"
WAIT_SECS="${DOCKER_WAIT_SECS:-60}"

log() { printf 'ensure-docker: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"

if "$DOCKER" info >/dev/null 2>&1 && command -v docker-compose >/dev/null; then
    log "docker is ready ($("$DOCKER" version -f '{{.Server.Version}}'))"
    exit 0
fi

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"
    elif command -v sudo >/dev/null; then sudo -n "$@"
    else die "need root to run: $*"
    fi
}

missing=()
[[ -x "$DOCKER" && -x /usr/sbin/dockerd ]] || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
if ((${#missing[@]})); then
    log "installing ${missing[*]} with apt-get"
    # With recommends, as measured (apparmor among them: dockerd needs apparmor_parser on
    # AppArmor kernels). `env` because sudo resets the environment.
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q=2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 "${missing[@]}" >/dev/null
fi

if ! "$DOCKER" info >/dev/null 2>&1; then
    if pgrep -x dockerd >/dev/null; then
        if "$DOCKER" info 2>&1 | grep -qi 'permission denied'; then
            die "dockerd runs but $(id -un) may not use it: add the user to the docker group or run as root"
        fi
        log "dockerd is running but not answering yet; waiting"
    else
        # containerd is started by dockerd itself when no system containerd runs.
        log "starting dockerd in the background (log: $DOCKERD_LOG)"
        as_root bash -c "nohup /usr/sbin/dockerd >>'$DOCKERD_LOG' 2>&1 </dev/null &"
    fi
    deadline=$((SECONDS + WAIT_SECS))
    until "$DOCKER" info >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            log "docker did not answer within ${WAIT_SECS}s; last dockerd log lines:"
            tail -n 30 "$DOCKERD_LOG" >&2 2>/dev/null || true
            die "docker engine unavailable"
        fi
        sleep 0.2
    done
fi
log "docker is ready ($("$DOCKER" version -f '{{.Server.Version}}'), compose $(docker-compose version --short 2>/dev/null || echo '?'))"
