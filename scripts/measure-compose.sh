#!/usr/bin/env bash
# Measures the compose deployment on this machine with the locally built images and the demo fake
# provider: `up` to ready, idle memory per container, memory and throughput under 32 concurrent
# turns, image sizes. Prints one JSON object. Needs the images (scripts/build-images.sh) and
# target/release/pincer-bench (cargo build --release -p pincer-bench).
#
#   scripts/measure-compose.sh [--requests N]
#
# Runs in its own compose project (pincer-measure), removed at the end with its volumes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

REQUESTS=3200
[[ "${1:-}" == "--requests" ]] && REQUESTS="$2"
TAG="${PINCER_TAG:-local}"
DOCKER=/usr/bin/docker
BENCH=target/release/pincer-bench
[[ -x "$BENCH" ]] || { echo "measure-compose: build $BENCH first (cargo build --release -p pincer-bench)" >&2; exit 1; }

work=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
token=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
cat > "$work/pincer.json5" <<'JSON5'
{
  gateway: { port: 18789, auth: { mode: "token", token: "${PINCER_GATEWAY_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "${OLLAMA_BASE_URL}", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: { primary: "ollama/fake-model" }, timeout: 60, maxConcurrent: 16 } },
}
JSON5
cat > "$work/env" <<ENV
COMPOSE_PROFILES=demo
PINCER_TAG=$TAG
PINCER_GATEWAY_PORT=$port
PINCER_GATEWAY_TOKEN=$token
PINCER_CONFIG_FILE=$work/pincer.json5
OLLAMA_BASE_URL=http://fake-provider:8080
OLLAMA_MODEL=fake-model
RUST_LOG=warn
ENV
compose=(docker-compose --project-name pincer-measure --project-directory . --env-file "$work/env" -f compose.yml)
cleanup() { "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# Memory of each running container of the project, "name MiB" lines.
memory() {
    "$DOCKER" stats --no-stream --format '{{.Name}} {{.MemUsage}}' $("${compose[@]}" ps -q) |
        python3 -c '
import sys
units = {"B": 1 / 2**20, "KiB": 1 / 1024, "MiB": 1, "GiB": 1024, "kB": 1e3 / 2**20, "MB": 1e6 / 2**20}
for line in sys.stdin:
    name, usage = line.split(" ", 1)
    value = usage.split("/")[0].strip()
    number = value.rstrip("BKMGiak")
    unit = value[len(number):]
    print(name, round(float(number) * units.get(unit, 1), 1))'
}

ready() {
    python3 - "$port" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
except Exception:
    sys.exit(1)
PY
}

t0=$(date +%s%N)
"${compose[@]}" up -d >/dev/null 2>&1
until ready; do sleep 0.1; done
up_ms=$((($(date +%s%N) - t0) / 1000000))

sleep 10
idle=$(memory)

# Load while sampling the total every half second.
peak_file="$work/peak"
echo 0 > "$peak_file"
(
    while true; do
        total=$(memory | awk '{s += $2} END {print s}')
        awk -v t="$total" -v f="$peak_file" 'BEGIN {getline p < f; if (t > p) print t > f}'
        sleep 0.5
    done
) &
sampler=$!
load=$(PINCER_GATEWAY_TOKEN=$token "$BENCH" load --url "http://127.0.0.1:$port" --phases "32:$REQUESTS")
kill "$sampler" 2>/dev/null || true
peak=$(cat "$peak_file")
after=$(memory)

sizes=$(for image in nats gateway llm-router agent-runner channel-bridge; do
    echo "$image $("$DOCKER" image inspect -f '{{ .Size }}' "pincer/$image:$TAG")"
done)

python3 - "$up_ms" "$peak" <<PY
import json, sys
def table(text):
    return {line.split()[0]: float(line.split()[1]) for line in text.strip().splitlines() if line.strip()}
idle = table("""$idle""")
after = table("""$after""")
sizes = {k: round(v / 1e6, 1) for k, v in table("""$sizes""").items()}
print(json.dumps({
    "up_to_ready_ms": int(sys.argv[1]),
    "idle_mib": idle, "idle_total_mib": round(sum(idle.values()), 1),
    "load": json.loads("""$load"""),
    "peak_total_mib_under_load": float(sys.argv[2]),
    "after_load_mib": after,
    "image_mb": sizes,
}, indent=2))
PY
