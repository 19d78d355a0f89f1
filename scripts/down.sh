#!/usr/bin/env bash
# Stops the Pincer stack. NATS data (the `nats-data` volume) is kept, so `scripts/up.sh` resumes
# where it stopped.
#
#   scripts/down.sh            stop and remove the containers and networks
#   scripts/down.sh --volumes  also delete the volumes (all sessions, queues and pairing state!)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# docker-compose with /usr/bin first in PATH: should it ever shell out to the docker CLI (builds
# with COMPOSE_DOCKER_CLI_BUILD=1), a newer /usr/local/bin/docker without buildx would fail.
compose() { PATH="/usr/bin:/usr/sbin:$PATH" docker-compose "$@"; }

args=(--remove-orphans)
for arg in "$@"; do
    case "$arg" in
        -v | --volumes) args+=(--volumes) ;;
        -h | --help) sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) printf 'down: unknown argument %s (see --help)\n' "$arg" >&2; exit 1 ;;
    esac
done

if ! /usr/bin/docker info >/dev/null 2>&1; then
    echo "down: docker is not running; nothing to stop" >&2
    exit 0
fi
# Profiles are listed so that their services (fake-provider, ollama) are stopped too.
COMPOSE_PROFILES="${COMPOSE_PROFILES:-demo,ollama}" compose down "${args[@]}"
