#!/usr/bin/env bash
# The test suite: what CI runs after fmt and clippy, and what a developer runs before pushing.
#
#   scripts/test.sh [ARGS...]      ARGS go to the test runner (cargo nextest run, or cargo test)
#
# 0. protoc, and chromium + chromium-driver for the Control UI browser test (apt-get when missing)
# 1. a nats-server >= 2.10 for the tests that start their own (exported as NATS_SERVER_BIN)
# 2. docker, and every image built from release binaries (scripts/build-images.sh; the images are
#    made in the background while the tests compile), for the testcontainers tests, which use
#    pincer/<image>:$PINCER_IMAGE_TAG and never pull
# 3. the workspace's tests: `cargo nextest run --workspace --locked` when cargo-nextest is
#    installed (its summary is easy for CI to read), else `cargo test --workspace --locked`
#
# Set PINCER_SKIP_IMAGES=1 to reuse the images already built (faster local reruns), or
# PINCER_TEST_IMAGES=debug to make the images from the test build's own binaries (stripped) once
# the tests are compiled, instead of from a release build before: CI does, and saves the release
# build (~5 minutes on 2 cores). The tests that start the services' processes then run those
# binaries too (pincer-test-support's workspace_binary falls back to target/debug).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export PATH="$PATH:$HOME/.cargo/bin"
log() { printf '\n==> %s\n' "$*" >&2; }

# protoc: crates/proto's bootstrap test regenerates the committed gRPC code and compares.
if ! command -v protoc >/dev/null; then
    log "protoc (apt-get install protobuf-compiler)"
    if [[ $EUID -eq 0 ]]; then as_root=(); else as_root=(sudo -n); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q=2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 protobuf-compiler >/dev/null
fi

# chromium + chromedriver: the Control UI test drives a real headless browser (Debian packages).
if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    log "chromium and chromium-driver (apt-get install)"
    if [[ $EUID -eq 0 ]]; then as_root=(); else as_root=(sudo -n); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q=2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 chromium chromium-driver >/dev/null
fi

log "nats-server"
NATS_SERVER_BIN="$(scripts/ensure-nats.sh | tail -1)"
export NATS_SERVER_BIN
echo "NATS_SERVER_BIN=$NATS_SERVER_BIN" >&2

export PINCER_TAG="${PINCER_TAG:-local}"
export PINCER_IMAGE_TAG="$PINCER_TAG"
images_pid=""
images_log="$(mktemp)"
# A failed compile must not leave image builds running behind it.
trap 'rm -f "$images_log"; [[ -z "$images_pid" ]] || kill "$images_pid" 2>/dev/null || true' EXIT
images_from="${PINCER_TEST_IMAGES:-release}"
[[ "$images_from" == release || "$images_from" == debug ]] ||
    { echo "PINCER_TEST_IMAGES must be release or debug, not '$images_from'" >&2; exit 1; }
if [[ -n "${PINCER_SKIP_IMAGES:-}" ]]; then
    log "docker (PINCER_SKIP_IMAGES set: using the existing pincer/*:$PINCER_TAG images)"
    scripts/ensure-docker.sh
elif [[ "$images_from" == debug ]]; then
    log "docker (the images are made from the test build, once it is compiled)"
    scripts/ensure-docker.sh
else
    scripts/build-images.sh --cargo-only
    # The images are mostly waiting (docker, the tool host's packages): made while the tests compile.
    log "images (in the background: $images_log)"
    scripts/build-images.sh --no-cargo >"$images_log" 2>&1 &
    images_pid=$!
fi
images_built() {
    if [[ -z "${PINCER_SKIP_IMAGES:-}" && "$images_from" == debug ]]; then
        log "images from the test build's binaries"
        scripts/build-images.sh --no-cargo --debug >"$images_log" 2>&1 &
        images_pid=$!
    fi
    [[ -n "$images_pid" ]] || return 0
    if ! wait "$images_pid"; then
        cat "$images_log" >&2
        echo "scripts/build-images.sh failed" >&2
        exit 1
    fi
    tail -n 3 "$images_log" >&2
    images_pid=""
}

if cargo nextest --version >/dev/null 2>&1; then
    log "cargo nextest run --workspace --locked $*"
    cargo nextest run --workspace --locked --no-run
    images_built
    # --no-fail-fast: one report with every failure. nextest skips doctests: run them after
    # (only for a full run, not when ARGS select tests).
    cargo nextest run --workspace --locked --no-fail-fast "$@"
    if (($# == 0)); then
        log "cargo test --doc --workspace --locked"
        cargo test --doc --workspace --locked
    fi
else
    log "cargo test --workspace --locked $*"
    cargo test --workspace --locked --no-run
    images_built
    cargo test --workspace --locked --no-fail-fast "$@"
fi
