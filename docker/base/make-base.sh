#!/usr/bin/env bash
# Makes the runtime base image locally, from Debian packages, and tags it under the name the
# Dockerfiles use: gcr.io/distroless/cc-debian12:nonroot.
#
# Why: this build machine has no image registry, so the real distroless image cannot be pulled.
# This is recipe (d2) of /work/shared/reference/offline-containers.md: a distroless look-alike made of
# libc6 + libgcc-s1 + ca-certificates + tzdata + netbase from the host's apt sources (the same glibc
# the host links our binaries against), with a nonroot user 65532, no shell and no package manager.
#
# Idempotent: when the tag exists and was made by this same recipe (label pincer.base.recipe holds
# this script's sha256), nothing is done. A tag that this script did not make (e.g. the real distroless
# image, pulled by a user who has a registry) is never overwritten. --force rebuilds in every case.
#
# Environment:
#   PINCER_BASE_IMAGE      tag to create (default gcr.io/distroless/cc-debian12:nonroot)
#   PINCER_BASE_FULL_TZDATA=1   keep every time zone (default: only UTC and Etc/*, see trim_rootfs)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."

DOCKER=/usr/bin/docker
IMAGE="${PINCER_BASE_IMAGE:-gcr.io/distroless/cc-debian12:nonroot}"
PACKAGES=(libc6 libgcc-s1 ca-certificates tzdata netbase)
RECIPE_SHA="$(sha256sum docker/base/make-base.sh | cut -c1-16)${PINCER_BASE_FULL_TZDATA:+-fulltz}"

log() { printf 'make-base: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

force=0
for arg in "$@"; do
    case "$arg" in
        --force) force=1 ;;
        -h | --help)
            sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'
            echo "usage: $0 [--force]"
            exit 0
            ;;
        *) die "unknown argument: $arg (usage: $0 [--force])" ;;
    esac
done

command -v apt-get >/dev/null || die "apt-get not found: this recipe needs a Debian/Ubuntu host"
[[ -x "$DOCKER" ]] || die "$DOCKER not found (run scripts/ensure-docker.sh)"

if [[ $force -eq 0 ]] && "$DOCKER" image inspect "$IMAGE" >/dev/null 2>&1; then
    have="$("$DOCKER" image inspect -f '{{ index .Config.Labels "pincer.base.recipe" }}' "$IMAGE" 2>/dev/null || true)"
    if [[ "$have" == "$RECIPE_SHA" ]]; then
        log "$IMAGE is up to date (recipe $RECIPE_SHA); use --force to rebuild"
        exit 0
    elif [[ -z "$have" || "$have" == "<no value>" ]]; then
        log "$IMAGE exists and was not made by this script (a real pull?); keeping it. --force replaces it"
        exit 0
    fi
    log "$IMAGE was made by an older recipe ($have); rebuilding"
fi

start=$(date +%s%N)
work="$(mktemp -d "${TMPDIR:-/tmp}/pincer-base.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# apt-get download runs as the _apt user when it can: it must be able to write here.
chmod 755 "$work"
root="$work/root"

log "downloading ${PACKAGES[*]}"
download() { (cd "$work" && apt-get download -q=2 "${PACKAGES[@]}" 2>"$work/apt.err"); }
if ! download; then
    # A fresh machine (CI) may have empty apt lists.
    log "apt-get download failed ($(tail -1 "$work/apt.err")); running apt-get update and retrying"
    DEBIAN_FRONTEND=noninteractive apt-get update -q=2 >/dev/null
    download || { cat "$work/apt.err" >&2; die "apt-get download ${PACKAGES[*]} failed"; }
fi

mkdir -p "$root"
for deb in "$work"/*.deb; do
    dpkg-deb -x "$deb" "$root"
done

libc=("$root"/lib/*-linux-gnu/libc.so.6)
[[ -e "${libc[0]}" ]] || die "libc6 did not unpack as expected (no lib/*-linux-gnu/libc.so.6)"
multiarch="$(basename "$(dirname "${libc[0]}")")"

# The CA bundle comes from the ca-certificates .deb (Mozilla's roots), never from the host's store:
# the host may trust extra (e.g. intercepting proxy) roots that must not be baked into an image.
mkdir -p "$root/etc/ssl/certs"
cat "$root"/usr/share/ca-certificates/mozilla/*.crt >"$root/etc/ssl/certs/ca-certificates.crt"
ncerts=$(grep -c 'BEGIN CERTIFICATE' "$root/etc/ssl/certs/ca-certificates.crt")
[[ $ncerts -gt 100 ]] || die "CA bundle has only $ncerts certificates"

# Users and groups as in distroless: root, nobody, nonroot (65532).
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
nobody:x:65534:
tty:x:5:
staff:x:50:
nonroot:x:65532:
EOF
printf 'passwd: files\ngroup: files\nhosts: files dns\nservices: files\nprotocols: files\n' >"$root/etc/nsswitch.conf"
echo 'NAME="Pincer distroless look-alike (Debian 12 packages)"' >"$root/etc/os-release"
mkdir -p "$root/tmp" "$root/root" "$root/home/nonroot" "$root/var/tmp"
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 700 "$root/root" "$root/home/nonroot"

# Trim what a Rust (or static Go) service never touches. Each line says why it is safe.
trim_rootfs() {
    local lib="$root/lib/$multiarch" usrlib="$root/usr/lib/$multiarch"
    # Documentation, man pages, translations, lintian overrides: never read at run time.
    rm -rf "$root"/usr/share/{doc,man,info,locale,lintian,bug}
    # iconv modules (~8 MB): only glibc's iconv()/gconv uses them; Rust strings never go through it.
    rm -rf "$usrlib/gconv"
    # Libraries only for debuggers/profilers/LD_PRELOAD tools that the image cannot run anyway.
    rm -f "$lib"/{libmemusage.so,libpcprofile.so,libc_malloc_debug.so.0,libthread_db.so.1}
    # glibc's vector math library (1 MB): linked only by code built with OpenMP SIMD / -ffast-math
    # vectorisation; scripts/build-images.sh checks every binary's NEEDED entries against the image.
    rm -f "$lib/libmvec.so.1"
    # The update-ca-certificates tool needs a shell (absent); the bundle is built above, so the
    # individual certificates are duplicates of it.
    rm -rf "$root/usr/sbin/update-ca-certificates" "$root/etc/ca-certificates" \
        "$root/usr/share/ca-certificates" "$root/etc/ca-certificates.conf"
    rmdir "$root/usr/sbin" 2>/dev/null || true
    # Time zones: Pincer logs and schedules in UTC and never reads TZ; keep UTC and its aliases
    # (Etc/*, UTC, UCT, Universal, Zulu, GMT*, Greenwich) so TZ=UTC still resolves. ~2 MB saved.
    # Set PINCER_BASE_FULL_TZDATA=1 if a service ever needs local time zones.
    if [[ -z "${PINCER_BASE_FULL_TZDATA:-}" ]]; then
        local zi="$root/usr/share/zoneinfo" keep="$work/zoneinfo"
        mkdir -p "$keep"
        for z in Etc UTC UCT Universal Zulu GMT GMT+0 GMT-0 GMT0 Greenwich; do
            [[ -e "$zi/$z" || -L "$zi/$z" ]] && mv "$zi/$z" "$keep/"
        done
        rm -rf "$zi" && mv "$keep" "$zi"
    fi
}
trim_rootfs

# Deterministic layer: sorted names, fixed mtime, numeric owners (root for all but /home/nonroot).
# Building the tar with --owner instead of chown lets this run without root (docker group only).
tarball="$work/rootfs.tar"
tar_opts=(--sort=name --mtime=@0 --numeric-owner --format=gnu -C "$root")
tar -c -f "$tarball" "${tar_opts[@]}" --owner=0 --group=0 --exclude=./home/nonroot .
tar -r -f "$tarball" "${tar_opts[@]}" --owner=65532 --group=65532 ./home/nonroot

log "importing $IMAGE ($(du -h "$tarball" | cut -f1) tar, $ncerts CA certificates)"
"$DOCKER" import \
    -c 'USER 65532:65532' \
    -c 'WORKDIR /home/nonroot' \
    -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    -c 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    -c "LABEL pincer.base.recipe=$RECIPE_SHA" \
    -c 'LABEL org.opencontainers.image.description="distroless/cc-debian12 look-alike made from Debian .debs by docker/base/make-base.sh"' \
    -m "docker/base/make-base.sh: ${PACKAGES[*]}" \
    "$tarball" "$IMAGE" >/dev/null

elapsed=$((($(date +%s%N) - start) / 1000000))
size=$("$DOCKER" image inspect -f '{{ .Size }}' "$IMAGE")
log "built $IMAGE: $((size / 1000)) kB in ${elapsed} ms"
