#!/usr/bin/env bash
# Makes a minimal Debian 12 image locally with debootstrap (no registry needed) and tags it
# pincer/debian:bookworm: the base of the tool-host image, which needs apt, a shell and the
# runtimes MCP servers use (the services' images stay distroless).
#
# Idempotent: when the tag exists and was made by this recipe (label pincer.debian.recipe holds
# this script's sha256), nothing is done. --force rebuilds.
#
# Environment:
#   PINCER_DEBIAN_MIRROR   apt mirror (default http://deb.debian.org/debian)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DOCKER=/usr/bin/docker
IMAGE=pincer/debian:bookworm
MIRROR="${PINCER_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
RECIPE_SHA="$(sha256sum docker/debian/make-debian.sh | cut -c1-16)"

log() { printf 'make-debian: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        *) die "unknown argument: $arg (usage: $0 [--force])" ;;
    esac
done

if [[ $force -eq 0 ]] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    have="$("$DOCKER" image inspect -f '{{ index .Config.Labels "pincer.debian.recipe" }}' "$IMAGE" 2>/dev/null || true)"
    if [[ "$have" == "$RECIPE_SHA" ]]; then
        log "$IMAGE is up to date (recipe $RECIPE_SHA)"
        exit 0
    fi
fi

if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap (apt-get)"
    if [[ $EUID -eq 0 ]]; then as_root=(); else as_root=(sudo -n); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q=2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 debootstrap >/dev/null
fi
[[ $EUID -eq 0 ]] || die "debootstrap needs root"

start=$(date +%s%N)
work="$(mktemp -d "${TMPDIR:-/tmp}/pincer-debian.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "debootstrap --variant=minbase bookworm ($MIRROR)"
debootstrap --variant=minbase bookworm "$work/root" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; die "debootstrap failed"; }
root="$work/root"
# Trim what a container never reads; apt's lists and caches are refilled by `apt-get update`.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* \
    "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/var/log/* "$root"/debootstrap
# Translations of the base's messages (30+ MB): the tools run in C.UTF-8.
find "$root/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "$MIRROR" "$MIRROR" >"$root/etc/apt/sources.list"
# Keep images small: no docs, man pages or translations from later installs.
cat >"$root/etc/dpkg/dpkg.cfg.d/pincer-nodoc" <<'CFG'
path-exclude=/usr/share/doc/*
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
CFG
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/90pincer"
tar -C "$root" --numeric-owner -c . |
    "$DOCKER" import -c "LABEL pincer.debian.recipe=$RECIPE_SHA" -c 'CMD ["/bin/bash"]' - "$IMAGE" >/dev/null
log "$IMAGE made in $((($(date +%s%N) - start) / 1000000)) ms"
