#!/usr/bin/env bash
# Builds every Pincer image from binaries compiled on the host; needs no image registry.
#
#   scripts/build-images.sh [--no-cargo] [--force-base] [IMAGE...]
#
#   IMAGE         any of: nats gateway llm-router agent-runner channel-bridge fake-provider fake-telegram
#                 (default: all)
#   --no-cargo    do not run `cargo build --release --locked`; use the binaries already in target/release
#   --force-base  remake the distroless look-alike base (docker/base/make-base.sh --force)
#
# Images are tagged pincer/<image>:${PINCER_TAG:-local}. Steps: ensure docker, make the base image,
# build release binaries, stage one build context per image under target/docker/, `docker build`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Always /usr/bin/docker: a newer /usr/local/bin/docker may come first in PATH (offline-containers.md §3).
DOCKER=/usr/bin/docker
TAG="${PINCER_TAG:-local}"
BUDGET_MB="${PINCER_IMAGE_BUDGET_MB:-25}"
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
STAGE="target/docker"

# image name -> binary
declare -A BIN_OF=(
    [gateway]=pincer-gateway
    [llm-router]=pincer-llm-router
    [agent-runner]=pincer-agent-runner
    [channel-bridge]=pincer-channel-bridge
    [fake-provider]=pincer-fake-provider
    [fake-telegram]=pincer-fake-telegram
)
# image name -> Dockerfile stage
declare -A STAGE_OF=([fake-provider]=fake-provider [fake-telegram]=fake-telegram)
ALL_IMAGES=(nats gateway llm-router agent-runner channel-bridge fake-provider fake-telegram)

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'build-images: error: %s\n' "$*" >&2; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

run_cargo=1 force_base=()
images=()
for arg in "$@"; do
    case "$arg" in
        --no-cargo) run_cargo=0 ;;
        --force-base) force_base=(--force) ;;
        -h | --help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $arg (see --help)" ;;
        *)
            [[ " ${ALL_IMAGES[*]} " == *" $arg "* ]] || die "unknown image '$arg' (one of: ${ALL_IMAGES[*]})"
            images+=("$arg")
            ;;
    esac
done
((${#images[@]})) || images=("${ALL_IMAGES[@]}")

t_all=$(date +%s%N)

log "docker"
scripts/ensure-docker.sh

log "base image"
docker/base/make-base.sh "${force_base[@]}"

if ((run_cargo)); then
    log "cargo build --release --locked"
    t=$(date +%s%N)
    cargo build --release --locked \
        -p pincer-gateway -p pincer-llm-router -p pincer-agent-runner -p pincer-channel-bridge \
        -p pincer-fake-provider -p pincer-fake-telegram -p pincer-probe -p pincer
    echo "cargo build: $(ms_since "$t") ms" >&2
fi

version="$(sed -n '/^\[workspace.package\]/,/^\[/s/^version *= *"\(.*\)"/\1/p' Cargo.toml)"
revision="$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)"
common_args=(--force-rm --quiet --build-arg "VERSION=${version:-0.0.0}" --build-arg "REVISION=$revision")
export DOCKER_BUILDKIT=0 # the classic builder: measured here, never tries to pull the local base

# Files of the base image, to check each binary's shared libraries against it (the base is trimmed).
base_libs=""
if command -v readelf >/dev/null; then
    cid="$("$DOCKER" create gcr.io/distroless/cc-debian12:nonroot /none)"
    base_libs="$("$DOCKER" export "$cid" | tar -t | grep -E '\.so(\.[0-9]+)*$' | sed 's#.*/##' | sort -u)"
    "$DOCKER" rm "$cid" >/dev/null
fi
check_libs() {
    local bin="$1" lib
    [[ -n "$base_libs" ]] || return 0
    for lib in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
        grep -qxF "$lib" <<<"$base_libs" ||
            die "$bin needs $lib, which the base image lacks: add its package in docker/base/make-base.sh"
    done
}

need_bin() {
    local bin="$TARGET_DIR/release/$1"
    [[ -x "$bin" ]] || die "$bin not found: run without --no-cargo (or cargo build --release -p $1)"
    check_libs "$bin"
    echo "$bin"
}

build() { # image context [docker build args...]
    local image="$1" context="$2" t
    shift 2
    t=$(date +%s%N)
    "$DOCKER" build "${common_args[@]}" -t "pincer/$image:$TAG" "$@" "$context" >/dev/null
    printf '  built pincer/%s:%s in %s ms\n' "$image" "$TAG" "$(ms_since "$t")" >&2
}

log "images (tag $TAG)"
for image in "${images[@]}"; do
    ctx="$STAGE/$image"
    rm -rf "$ctx" && mkdir -p "$ctx"
    if [[ "$image" == nats ]]; then
        nats_bin="$(docker/nats/fetch-nats-server.sh | tail -1)"
        cp -p "$nats_bin" "$ctx/nats-server"
        probe="$(need_bin pincer-probe)"
        cp -p "$probe" "$ctx/pincer-probe"
        mkdir -p "$ctx/data"
        nats_version="$("$ctx/nats-server" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)"
        build nats "$ctx" -f docker/nats/Dockerfile --build-arg "NATS_SERVER_VERSION=$nats_version"
    else
        bin="${BIN_OF[$image]}"
        bin_path="$(need_bin "$bin")"
        cp -p "$bin_path" "$ctx/service"
        build "$image" "$ctx" -f docker/service.Dockerfile --build-arg "BIN=$bin" \
            --target "${STAGE_OF[$image]:-service}"
    fi
done

# Rebuilds leave the previous images untagged; drop those of ours (only dangling ones, by label).
for label in io.pincer.binary io.nats.server.version pincer.base.recipe; do
    "$DOCKER" image prune -f --filter "label=$label" >/dev/null
done

log "image sizes (budget ${BUDGET_MB} MB each)"
printf '  %-34s %8s  %s\n' IMAGE "SIZE MB" ""
over=0
for image in "${images[@]}"; do
    size=$("$DOCKER" image inspect -f '{{ .Size }}' "pincer/$image:$TAG")
    mark=""
    if ((size > BUDGET_MB * 1000 * 1000)); then mark="OVER BUDGET"; over=1; fi
    printf '  %-34s %8s  %s\n' "pincer/$image:$TAG" "$(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}')" "$mark"
done
base_size=$("$DOCKER" image inspect -f '{{ .Size }}' gcr.io/distroless/cc-debian12:nonroot)
printf '  %-34s %8s\n' "(base) distroless/cc-debian12" "$(awk -v s="$base_size" 'BEGIN{printf "%.1f", s/1e6}')"
echo "build-images: done in $(ms_since "$t_all") ms" >&2
# The budget is a gate, not a hint: CI (scripts/test.sh runs this) fails when an image outgrows it.
# PINCER_IMAGE_BUDGET_MB raises it for a local experiment.
if ((over)); then
    die "an image is over the ${BUDGET_MB} MB budget (see the table above)"
fi
