#!/usr/bin/env bash
# Builds every Pincer image from binaries compiled on the host; needs no image registry.
#
#   scripts/build-images.sh [--no-cargo | --cargo-only] [--debug] [--force-base] [IMAGE...]
#
#   IMAGE         any of: nats gateway llm-router agent-runner channel-bridge tool-host fake-provider
#                 fake-telegram mcp-test-server; or `compose`: the ones compose.yml runs
#                 (scripts/compose-images.sh) (default: all)
#   --no-cargo    do not run `cargo build --release --locked`; use the binaries already in target/release
#   --cargo-only  only build the release binaries (scripts/test.sh then makes the images in the
#                 background while it compiles the tests)
#   --debug       the test build's binaries (target/debug, from `cargo nextest run --no-run`),
#                 stripped as they are staged; the size budget is not applied (unoptimised code is
#                 bigger). CI's images: the tests compile these anyway, a release build is ~5 min more
#   --force-base  remake the distroless look-alike base (docker/base/make-base.sh --force)
#
# Images are tagged pincer/<image>:${PINCER_TAG:-local}. Steps: ensure docker, make the base image,
# build release binaries, stage one build context per image under target/docker/ (one for the three
# turn services, which share their executable), `docker build`.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Always /usr/bin/docker: a newer /usr/local/bin/docker may come first in PATH (offline-containers.md §3).
DOCKER=/usr/bin/docker
TAG="${PINCER_TAG:-local}"
BUDGET_MB="${PINCER_IMAGE_BUDGET_MB:-25}"
# The tool host carries Node, Python, git and friends for MCP servers and exec: its own budget.
TOOL_HOST_BUDGET_MB="${PINCER_TOOL_HOST_BUDGET_MB:-420}"
NPM_VERSION=10.9.9
UV_VERSION=0.13.9
TARGET_DIR="${CARGO_TARGET_DIR:-target}"
STAGE="target/docker"

# image name -> binary
declare -A BIN_OF=(
    [gateway]=pincer-gateway
    [llm-router]=pincer-llm-router
    [agent-runner]=pincer-agent-runner
    [channel-bridge]=pincer-channel-bridge
    [tool-host]=pincer-tool-host
    [fake-provider]=pincer-fake-provider
    [fake-telegram]=pincer-fake-telegram
    [mcp-test-server]=pincer-mcp-test-server
)
# image name -> Dockerfile stage
declare -A STAGE_OF=([fake-provider]=fake-provider [fake-telegram]=fake-telegram [mcp-test-server]=mcp-test-server)
# The images of the three services every turn passes through: one executable and one shared layer
# (docker/service.Dockerfile, stage turn-service), which runs the service PINCER_SERVICE names.
TURN_SERVICES=(gateway llm-router agent-runner)
TURN_EXECUTABLE=pincer-turn-services
ALL_IMAGES=(nats gateway llm-router agent-runner channel-bridge tool-host fake-provider fake-telegram mcp-test-server)

is_turn_service() { [[ " ${TURN_SERVICES[*]} " == *" $1 "* ]]; }
log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf 'build-images: error: %s\n' "$*" >&2; exit 1; }
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

run_cargo=1 cargo_only=0 force_base=() profile=release
images=()
for arg in "$@"; do
    case "$arg" in
        --no-cargo) run_cargo=0 ;;
        --cargo-only) cargo_only=1 ;;
        --force-base) force_base=(--force) ;;
        --debug) profile=debug ;;
        -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) die "unknown option $arg (see --help)" ;;
        compose)
            mapfile -t -O "${#images[@]}" images < <(scripts/compose-images.sh)
            ((${#images[@]})) || die "compose.yml names no pincer/ images"
            ;;
        *)
            [[ " ${ALL_IMAGES[*]} " == *" $arg "* ]] || die "unknown image '$arg' (one of: ${ALL_IMAGES[*]}, compose)"
            images+=("$arg")
            ;;
    esac
done
((${#images[@]})) || images=("${ALL_IMAGES[@]}")

t_all=$(date +%s%N)

# Only the binaries of the images asked for (up.sh asks for `compose`, so a user's build skips the
# test servers): every image takes pincer-probe, the NATS image `pincer bus config` too.
cargo_build() {
    local packages=(-p pincer-probe -p pincer) image t
    for image in "${images[@]}"; do
        if is_turn_service "$image"; then
            [[ " ${packages[*]} " == *" pincer-services "* ]] || packages+=(-p pincer-services)
        elif [[ -n "${BIN_OF[$image]:-}" ]]; then
            packages+=(-p "${BIN_OF[$image]}")
        fi
    done
    local release=(--release)
    [[ "$profile" == release ]] || release=()
    log "cargo build ${release[*]} --locked ${packages[*]}"
    t=$(date +%s%N)
    cargo build "${release[@]}" --locked "${packages[@]}"
    echo "cargo build: $(ms_since "$t") ms" >&2
}
if ((cargo_only)); then
    ((run_cargo)) || die "--cargo-only and --no-cargo exclude each other"
    cargo_build
    exit 0
fi

log "docker"
scripts/ensure-docker.sh

log "base image"
docker/base/make-base.sh "${force_base[@]}"

if ((run_cargo)); then
    cargo_build
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
    local bin="$TARGET_DIR/$profile/$1"
    local build="cargo build --release -p $1"
    [[ "$profile" == release ]] || build="cargo nextest run --no-run, or cargo build -p $1"
    [[ -x "$bin" ]] || die "$bin not found: run without --no-cargo (or $build)"
    check_libs "$bin"
    if [[ "$profile" == debug ]]; then
        # Line tables and symbols are most of a debug binary; the images need neither.
        local stripped="$STAGE/stripped/$1"
        mkdir -p "$STAGE/stripped"
        [[ "$stripped" -nt "$bin" ]] || strip -o "$stripped" "$bin"
        echo "$stripped"
        return
    fi
    # Symbols would be a quarter of an image's size (a package's own profile settings in
    # Cargo.toml need `strip = true` again).
    ! readelf -S -W "$bin" | grep -q ' \.symtab ' ||
        die "$bin still has its symbol table: give its package strip = true in Cargo.toml"
    echo "$bin"
}

build() { # image context [docker build args...]
    local image="$1" context="$2" t
    shift 2
    t=$(date +%s%N)
    "$DOCKER" build "${common_args[@]}" -t "pincer/$image:$TAG" "$@" "$context" >/dev/null
    printf '  built pincer/%s:%s in %s ms\n' "$image" "$TAG" "$(ms_since "$t")" >&2
}

# npm from the npm registry and uv from PyPI, downloaded once into target/docker-cache.
stage_tool_runtimes() {
    local ctx="$1" cache="target/docker-cache"
    mkdir -p "$cache"
    if [[ ! -f "$cache/npm-$NPM_VERSION.tgz" ]]; then
        (cd "$cache" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) ||
            die "cannot download npm@$NPM_VERSION from the npm registry"
    fi
    tar -xzf "$cache/npm-$NPM_VERSION.tgz" -C "$ctx" && mv "$ctx/package" "$ctx/npm"
    local wheel
    wheel="$(ls "$cache"/uv-"$UV_VERSION"-*.whl 2>/dev/null | head -1 || true)"
    if [[ -z "$wheel" ]]; then
        python3 -m pip download --quiet --no-deps --only-binary=:all: \
            --platform manylinux_2_17_x86_64 "uv==$UV_VERSION" -d "$cache" ||
            die "cannot download uv==$UV_VERSION from PyPI"
        wheel="$(ls "$cache"/uv-"$UV_VERSION"-*.whl | head -1)"
    fi
    python3 - "$wheel" "$ctx" <<'PY'
import os, sys, zipfile
wheel, ctx = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.endswith(("/scripts/uv", "/scripts/uvx")):
            target = os.path.join(ctx, os.path.basename(name))
            with z.open(name) as src, open(target, "wb") as dst:
                dst.write(src.read())
            os.chmod(target, 0o755)
PY
    [[ -x "$ctx/uv" && -x "$ctx/uvx" ]] || die "uv and uvx are missing from $wheel"
}

log "images (tag $TAG)"
rm -rf "$STAGE/turn-services"
# Every image's health check under compose. The images of docker/service.Dockerfile copy it in
# their shared base stage: the same file in each context, so one layer for them all.
probe="$(need_bin pincer-probe)"
for image in "${images[@]}"; do
    if is_turn_service "$image"; then
        # One context for the three, staged once: the same file, so the same layer.
        ctx="$STAGE/turn-services"
        if [[ ! -f "$ctx/service" ]]; then
            mkdir -p "$ctx"
            cp -p "$(need_bin "$TURN_EXECUTABLE")" "$ctx/service"
            cp -p "$probe" "$ctx/pincer-probe"
        fi
        build "$image" "$ctx" -f docker/service.Dockerfile --build-arg "BIN=${BIN_OF[$image]}" \
            --target turn-service
        continue
    fi
    ctx="$STAGE/$image"
    rm -rf "$ctx" && mkdir -p "$ctx"
    cp -p "$probe" "$ctx/pincer-probe"
    if [[ "$image" == nats ]]; then
        nats_bin="$(docker/nats/fetch-nats-server.sh | tail -1)"
        cp -p "$nats_bin" "$ctx/nats-server"
        mkdir -p "$ctx/data"
        # Every service's user and subjects, from pincer-bus (passwords stay in the environment).
        "$(need_bin pincer)" bus config >"$ctx/pincer.conf"
        nats_version="$("$ctx/nats-server" --version | grep -oE '[0-9]+\.[0-9]+\.[0-9]+' | head -1)"
        build nats "$ctx" -f docker/nats/Dockerfile --build-arg "NATS_SERVER_VERSION=$nats_version"
    elif [[ "$image" == tool-host ]]; then
        docker/debian/make-debian.sh
        stage_tool_runtimes "$ctx"
        cp -p "$(need_bin pincer-tool-host)" "$ctx/service"
        build tool-host "$ctx" -f docker/tool-host/Dockerfile
    else
        bin="${BIN_OF[$image]}"
        bin_path="$(need_bin "$bin")"
        cp -p "$bin_path" "$ctx/service"
        build "$image" "$ctx" -f docker/service.Dockerfile --build-arg "BIN=$bin" \
            --target "${STAGE_OF[$image]:-service}"
    fi
done

# Rebuilds leave the previous images untagged; drop those of ours (only dangling ones, by label).
for label in io.pincer.binary io.nats.server.version pincer.base.recipe pincer.debian.recipe; do
    "$DOCKER" image prune -f --filter "label=$label" >/dev/null
done

log "image sizes (budget ${BUDGET_MB} MB each, tool-host ${TOOL_HOST_BUDGET_MB} MB; $profile binaries)"
printf '  %-34s %8s  %s\n' IMAGE "SIZE MB" ""
over=0
for image in "${images[@]}"; do
    size=$("$DOCKER" image inspect -f '{{ .Size }}' "pincer/$image:$TAG")
    mark="" budget="$BUDGET_MB"
    [[ "$image" != tool-host ]] || budget="$TOOL_HOST_BUDGET_MB"
    if [[ "$profile" == release ]] && ((size > budget * 1000 * 1000)); then
        mark="OVER BUDGET ($budget MB)"
        over=1
    fi
    printf '  %-34s %8s  %s\n' "pincer/$image:$TAG" "$(awk -v s="$size" 'BEGIN{printf "%.1f", s/1e6}')" "$mark"
done
base_size=$("$DOCKER" image inspect -f '{{ .Size }}' gcr.io/distroless/cc-debian12:nonroot)
printf '  %-34s %8s\n' "(base) distroless/cc-debian12" "$(awk -v s="$base_size" 'BEGIN{printf "%.1f", s/1e6}')"
echo "build-images: done in $(ms_since "$t_all") ms" >&2
# The budget is a gate, not a hint: CI (scripts/test.sh runs this) fails when an image outgrows it.
# PINCER_IMAGE_BUDGET_MB raises it for a local experiment.
if ((over)); then
    die "an image is over its budget (see the table above)"
fi
