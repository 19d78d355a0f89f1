#!/usr/bin/env bash
# Measures the compose deployment on this machine with the locally built images and the demo fake
# provider: `up` to ready, idle memory per container, memory and throughput under 32 concurrent
# turns, how soon a turn whose agent-runner is killed mid-turn is answered, image sizes. Prints one
# JSON object. Needs the images (scripts/build-images.sh) and
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
PINCER_TOOL_HOST_ENV_FILE=$work/tool-host.env
ENV
: >"$work/tool-host.env"
# The internal secrets (bus passwords, service tokens) that up.sh generates into .env.
scripts/ensure-secrets.sh "$work/env" >/dev/null
# The fake model's port on loopback, for this project only: the crash measurement slows its answers
# at run time (POST /control) to kill the agent-runner while one is awaited.
fake_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/measure.yml" <<YML
version: "3.8"
services:
  fake-provider:
    networks: [internal, egress]
    ports: ["127.0.0.1:$fake_port:8080"]
YML
compose=(docker-compose --project-name pincer-measure --project-directory . --env-file "$work/env" -f compose.yml -f "$work/measure.yml")
cleanup() { "${compose[@]}" down -v --remove-orphans >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT

# Memory of the project's containers, read from their cgroups, two ways:
# - the working set: what `docker stats` means by usage (cgroup usage without inactive page cache),
#   in milliseconds where `docker stats --no-stream` takes two seconds. It counts the page cache
#   each container was the first to read, such as its binary's code, mapped or not;
# - PSS: what the container's processes map, shared pages divided among their users (the figure
#   the stack bench reads for `pincer dev`).
# Reads "name id" lines; prints "name working-set-MiB PSS-MiB" lines, or with --peak FILE samples
# both totals (the demo's fake model left out: not part of a deployment) ten times a second and
# keeps the largest of each in FILE ("working-set PSS") until killed. cgroup v1 or v2.
cat >"$work/memory.py" <<'PY'
import glob, sys, time
def read(path):
    with open(path) as f:
        return f.read()
def cgroup(cid):
    v1 = glob.glob(f"/sys/fs/cgroup/memory/docker/{cid}") + glob.glob(f"/sys/fs/cgroup/memory/system.slice/docker-{cid}.scope")
    v2 = glob.glob(f"/sys/fs/cgroup/system.slice/docker-{cid}.scope") + glob.glob(f"/sys/fs/cgroup/docker/{cid}")
    if v1:
        return v1[0], "memory.usage_in_bytes", "total_inactive_file"
    if v2:
        return v2[0], "memory.current", "inactive_file"
    return None
def usage(cid):
    found = cgroup(cid)
    if found is None:
        return None, None
    base, current, inactive = found
    stat = dict(line.split() for line in read(f"{base}/memory.stat").splitlines())
    working_set = max(int(read(f"{base}/{current}")) - int(stat.get(inactive, 0)), 0) / 2**20
    pss_kib = 0
    for pid in read(f"{base}/cgroup.procs").split():
        try:
            rollup = read(f"/proc/{pid}/smaps_rollup")
        except OSError:
            continue  # gone since the list was read
        pss_kib += sum(int(line.split()[1]) for line in rollup.splitlines() if line.startswith("Pss:"))
    return working_set, pss_kib / 1024
containers = [line.split() for line in sys.stdin if line.strip()]
if sys.argv[1:2] == ["--peak"]:
    peak = [0.0, 0.0]
    while True:
        readings = [usage(cid) for name, cid in containers if "fake-provider" not in name]
        totals = [sum(r[i] or 0 for r in readings) for i in (0, 1)]
        if totals[0] > peak[0] or totals[1] > peak[1]:
            peak = [max(a, b) for a, b in zip(peak, totals)]
            with open(sys.argv[2], "w") as f:
                f.write(f"{peak[0]:.1f} {peak[1]:.1f}\n")
        time.sleep(0.1)
for name, cid in containers:
    working_set, pss = usage(cid)
    if working_set is not None:
        print(name.lstrip("/"), round(working_set, 1), round(pss, 1))
PY
containers=""
memory() { python3 "$work/memory.py" <<<"$containers"; }

ready() {
    python3 - "$port" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/readyz", timeout=1)
except Exception:
    sys.exit(1)
PY
}

# The images' files out of the page cache first, as after a reboot: a container's working set
# counts the file pages it is the first to read, so pages left cached by the image build (or by
# the previous run) would make the figures depend on what ran before. Best effort: a layer it
# cannot read (not root) is skipped and named.
for image in $(scripts/compose-images.sh); do
    "$DOCKER" image inspect -f '{{.GraphDriver.Data.UpperDir}}:{{.GraphDriver.Data.LowerDir}}' "pincer/$image:$TAG"
done | python3 -c '
import os, sys
for dirs in sys.stdin.read().split():
    for top in filter(None, dirs.split(":")):
        for root, _, files in os.walk(top, onerror=lambda e: print("measure-compose: not evicted:", e, file=sys.stderr)):
            for name in files:
                path = os.path.join(root, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                try:
                    fd = os.open(path, os.O_RDONLY)
                except OSError:
                    continue
                try:
                    os.fdatasync(fd)
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                except OSError:
                    pass
                finally:
                    os.close(fd)
'

t0=$(date +%s%N)
"${compose[@]}" up -d >"$work/up.log" 2>&1 || { cat "$work/up.log" >&2; exit 1; }
deadline=$((SECONDS + 120))
until ready; do
    ((SECONDS < deadline)) || { "${compose[@]}" logs --tail=30 >&2; echo "measure-compose: not ready after 120 s" >&2; exit 1; }
    sleep 0.05
done
up_ms=$((($(date +%s%N) - t0) / 1000000))
containers="$("$DOCKER" inspect -f '{{.Name}} {{.Id}}' $("${compose[@]}" ps -q))"

sleep 10
idle=$(memory)

# Load while the peak is sampled.
peak_file="$work/peak"
python3 "$work/memory.py" --peak "$peak_file" <<<"$containers" &
sampler=$!
load=$(PINCER_GATEWAY_TOKEN=$token "$BENCH" load --url "http://127.0.0.1:$port" --phases "32:$REQUESTS")
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
peak=$(cat "$peak_file" 2>/dev/null || echo 0 0)
after=$(memory)
# Containers that died under the load and were restarted (a kernel OOM kill under mem_limit, a
# panic): the turns they held fail, and the figures above would hide why.
restarts=$("$DOCKER" inspect -f '{{.Name}} {{.RestartCount}}' $("${compose[@]}" ps -q))

# Crash recovery: a turn is asked while the model takes 3 s to answer; once the model has the call,
# the agent-runner's process is killed (SIGKILL). Compose restarts it, JetStream hands the
# unacknowledged turn over once its ack wait lapses, and the waiting client gets the answer.
runner="$("${compose[@]}" ps -q agent-runner)"
crash=$(python3 - "$port" "$fake_port" "$token" "$runner" "$DOCKER" <<'PY'
import json, os, signal, subprocess, sys, threading, time, urllib.request
port, fake_port, token, runner, docker = sys.argv[1:6]
fake = f"http://127.0.0.1:{fake_port}"
def call(url, body=None, timeout=5):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    if url.startswith(f"http://127.0.0.1:{port}"):
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return response.status, json.loads(response.read())
call(f"{fake}/control", {"delay_ms": 3000})
calls_before = call(f"{fake}/stats")[1]["chat"]
outcome = {}
def ask():
    try:
        outcome["status"], body = call(
            f"http://127.0.0.1:{port}/v1/chat/completions",
            {"model": "pincer/default", "user": "crash-recovery",
             "messages": [{"role": "user", "content": "still there?"}]},
            timeout=120)
        outcome["answer"] = body["choices"][0]["message"]["content"]
    except Exception as error:
        outcome["error"] = str(error)
    outcome["at"] = time.monotonic()
asker = threading.Thread(target=ask)
asker.start()
deadline = time.monotonic() + 30
while call(f"{fake}/stats")[1]["chat"] == calls_before:
    if time.monotonic() > deadline:
        sys.exit("measure-compose: the turn never reached the model")
    time.sleep(0.02)
# SIGKILL to the container's init, as a crash would end it (a `docker kill` counts as a
# deliberate stop, which the restart policy leaves stopped).
pid = subprocess.run([docker, "inspect", "-f", "{{.State.Pid}}", runner], check=True,
                     capture_output=True, text=True).stdout.strip()
os.kill(int(pid), signal.SIGKILL)
killed = time.monotonic()
call(f"{fake}/control", {"delay_ms": 0})
asker.join(150)
print(json.dumps({
    "answered_after_kill_ms": round((outcome.get("at", killed) - killed) * 1000),
    "status": outcome.get("status"),
    "error": outcome.get("error"),
    "model_calls": call(f"{fake}/stats")[1]["chat"] - calls_before,
}))
PY
)

sizes=$(for image in nats gateway llm-router agent-runner channel-bridge; do
    echo "$image $("$DOCKER" image inspect -f '{{ .Size }}' "pincer/$image:$TAG")"
done)

python3 - "$up_ms" $peak <<PY
import json, sys
def table(text, column=1):
    return {line.split()[0]: float(line.split()[column]) for line in text.strip().splitlines() if line.strip()}
idle = table("""$idle""")
idle_pss = table("""$idle""", 2)
after = table("""$after""")
sizes = {k: round(v / 1e6, 1) for k, v in table("""$sizes""").items()}
print(json.dumps({
    "up_to_ready_ms": int(sys.argv[1]),
    "idle_mib": idle,
    "idle_total_mib": round(sum(v for k, v in idle.items() if "fake-provider" not in k), 1),
    "load": json.loads("""$load"""),
    "peak_total_mib_under_load": float(sys.argv[2]),  # without the fake provider, like idle
    "idle_pss_mib": idle_pss,
    "idle_pss_total_mib": round(sum(v for k, v in idle_pss.items() if "fake-provider" not in k), 1),
    "peak_pss_total_mib_under_load": float(sys.argv[3]),
    "after_load_mib": after,
    "restarts_under_load": {k.lstrip("/"): int(v) for k, v in table("""$restarts""").items() if v},
    "crash_recovery": json.loads("""$crash"""),
    "image_mb": sizes,
}, indent=2))
PY
