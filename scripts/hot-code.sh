#!/usr/bin/env bash
# Remakes services/all/hot-code.txt: the functions of pincer-services that run when the stack
# starts, idles and answers turns, which the linker then places side by side (see
# services/all/build.rs).
#
#   scripts/hot-code.sh
#
# Why: the kernel maps a program's code into a process 64 KiB at a time around each page it runs
# (fault-around), and the ~2 MiB of code a turn runs were spread over ~13 MiB of the executable's
# 18 MiB of code: each of those 64 KiB windows counted in the services' resident memory. Packed,
# the code the services had mapped under 32 clients fell from 10.9 to 5.6 MiB PSS.
#
# How: the release build of pincer-services, relinked with its symbol table (same code, same
# symbol names), runs `pincer-bench stack` under `perf record`: a few start-ups sampled with their
# call chains (code that runs once is then caught through its callees), then 30,000 turns in new
# sessions and 20,000 in known ones sampled at 20 kHz. Every function of pincer-services seen is
# listed: those seen in turns first, the most sampled first, then those only start-up ran. Then
# rounds of page faults add what sampling missed (below). Needs perf (Debian: linux-perf) and
# root, or perf_event_paranoid <= 0; takes ~15 minutes on 2 cores.
#
# The symbol names carry hashes of the compiler version, the release profile and Cargo.lock, so
# the list is written with the compiler it was made with, and build.rs uses it only with that
# compiler. Remake it after a toolchain update or a Cargo.lock change; a stale list costs nothing
# but the packing of whatever it no longer names.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

out=services/all/hot-code.txt
command -v perf >/dev/null || {
    echo "hot-code: perf is needed (apt-get install linux-perf)" >&2
    exit 1
}
: "${NATS_SERVER_BIN:=$(command -v nats-server || true)}"
[[ -n "$NATS_SERVER_BIN" ]] || {
    echo "hot-code: no nats-server (scripts/ensure-nats.sh, or set NATS_SERVER_BIN)" >&2
    exit 1
}
export NATS_SERVER_BIN

cargo build --release --bins
# The same link with its symbols kept: perf can then name what it samples.
cargo rustc --release -p pincer-services --bin pincer-services -- -C strip=none

work="$(mktemp -d)"
trap 'rm -rf "$work"; cargo build --release -p pincer-services --bins >/dev/null 2>&1 || true' EXIT
bench=target/release/pincer-bench

echo "hot-code: start-ups, sampled with call chains"
perf record -q -a -F 4000 --call-graph dwarf,8192 -o "$work/starts.data" -- \
    bash -c "for run in 1 2 3 4 5; do $bench stack --phases 1:40 --floor-requests 10 --idle-secs 1 >/dev/null; done"
echo "hot-code: 30,000 turns in new sessions and 20,000 in 1,000 known ones, sampled at 20 kHz"
perf record -q -a -F 20000 -o "$work/load.data" -- \
    "$bench" stack --phases 1:1000,8:6000,32:6000,8:6000,32:6000 --floor-requests 10 >/dev/null
perf record -q -a -F 20000 -o "$work/sessions.data" -- \
    "$bench" stack --phases 8:10000,32:10000 --sessions 1000 --floor-requests 10 >/dev/null

for data in starts load sessions; do
    perf script -i "$work/$data.data" -F ip,sym,dso --no-demangle 2>/dev/null >"$work/$data.txt"
done

# The functions of pincer-services in `perf script -F ip,sym,dso` output (lines "<ip> <symbol>
# (<dso>)", a call chain's frames one per line), one line per frame; what perf could not name is
# left out.
symbols() {
    sed -nE 's/^[[:space:]]*[0-9a-f]+ ([^ ]+) \(.*\/pincer-services\)$/\1/p' "$@" |
        sed -E 's/\+0x[0-9a-f]+$//' | grep -vxF '[unknown]' || true
}
# Each line once, the most frequent first.
by_count() { sort | uniq -c | sort -rn | awk '{ print $2 }'; }
# The lines of stdin not in file $1, each once, in their order.
not_in() { awk '!seen[$0]++' | { grep -vxFf "$1" || true; }; }

symbols "$work/load.txt" "$work/sessions.txt" | by_count >"$work/turns.list"
{
    echo "# Functions of pincer-services that answer turns (the most sampled first), then those only"
    echo "# start-up runs: the linker places them side by side in this order (build.rs)."
    echo "# Made by scripts/hot-code.sh on $(date -u +%Y-%m-%d); used only with the compiler below."
    echo "# rustc: $(rustc -V)"
    # What turns run first, then what only start-up runs: the services drop their code's mappings
    # two seconds after start and after each busy spell, so under load only windows of the first
    # part come back, none of them half full of start-up code.
    cat "$work/turns.list"
    symbols "$work/starts.txt" | by_count | not_in "$work/turns.list"
} >"$work/hot-code.txt"
mv "$work/hot-code.txt" "$out"

# Sampling misses code that runs seldom: start-up's, and a turn's short functions. A page fault
# misses nothing: the first run of any page of a 64 KiB window not yet mapped faults, at the
# instruction that ran there. Each round links with the list so far, runs the stack and adds the
# functions where faults happened in pincer-services; each round, fewer windows outside the list's
# are touched.
for round in 1 2 3 4 5; do
    cargo rustc --release -p pincer-services --bin pincer-services -- -C strip=none >/dev/null 2>&1
    perf record -q -a -e page-faults -c 1 -o "$work/faults.data" -- \
        "$bench" stack --phases 1:500,8:2000,32:6000,8:2000,32:6000 --floor-requests 10 >/dev/null
    perf script -i "$work/faults.data" -F ip,sym,dso --no-demangle 2>/dev/null >"$work/faults.txt"
    symbols "$work/faults.txt" | not_in "$out" >"$work/new.list"
    cat "$work/new.list" >>"$out"
    echo "hot-code: round $round of faults added $(wc -l <"$work/new.list") functions"
done
echo "hot-code: $(grep -vc '^#' "$out") functions in $out"
