#!/usr/bin/env bash
# Moves the images compose.yml runs to a machine too small to build them (the 2 GB VPS: a release
# build's largest compiler process alone takes about 1.1 GB).
#
#   scripts/ship-images.sh user@vps            docker save | ssh user@vps docker load
#   scripts/ship-images.sh --file FILE.tar.gz  write a compressed archive to carry yourself;
#                                              load it there with: gunzip -c FILE.tar.gz | docker load
#
# Build first (scripts/build-images.sh, on any x86_64 Linux machine with Docker); then on the VPS,
# in a checkout of the same commit: scripts/up.sh --no-build. Images are pincer/<image>:$PINCER_TAG
# (default local), the same tag up.sh runs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DOCKER=/usr/bin/docker
TAG="${PINCER_TAG:-local}"
# What compose.yml runs (fake-provider: the demo profile's model).
mapfile -t IMAGES < <(scripts/compose-images.sh)
((${#IMAGES[@]})) || die "compose.yml names no pincer/ images"

log() { printf 'ship-images: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; }

file="" host=""
case "${1:-}" in
    --file) file="${2:-}"; [[ -n "$file" ]] || die "--file needs a path" ;;
    -h | --help) usage; exit 0 ;;
    "") usage; exit 2 ;;
    -*) die "unknown option $1 (see --help)" ;;
    *) host="$1" ;;
esac

refs=()
for image in "${IMAGES[@]}"; do
    ref="pincer/$image:$TAG"
    "$DOCKER" image inspect "$ref" >/dev/null 2>&1 || die "$ref is missing: run scripts/build-images.sh"
    refs+=("$ref")
done

start=$SECONDS
if [[ -n "$file" ]]; then
    "$DOCKER" save "${refs[@]}" | gzip -1 >"$file"
    log "wrote $file ($(du -h "$file" | cut -f1)) in $((SECONDS - start)) s; on the target: gunzip -c $(basename "$file") | docker load"
else
    # Compressed on the wire: the images share a base, and most of the tool host is text.
    "$DOCKER" save "${refs[@]}" | gzip -1 | ssh "$host" 'gunzip -c | docker load'
    log "loaded ${#refs[@]} images on $host in $((SECONDS - start)) s; there: scripts/up.sh --no-build"
fi
