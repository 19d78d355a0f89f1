#!/usr/bin/env bash
# GATEWAY_CMD for the shared side-by-side harness (../shared/bench/openclaw_bench.sh with
# TARGET=targets/cmd.sh): writes a Pincer config for the harness's fake LLM and runs `pincer dev` in
# the foreground, so the harness measures the whole stack (nats-server + four services) as one tree.
#
#   cargo build --release
#   cd ../shared/bench && TARGET=targets/cmd.sh GW_NAME=pincer GW_MODEL=pincer/default \
#     GW_READY_PATH=/readyz TOOL_N=0 GATEWAY_CMD="exec $PWD/../../main/bench/harness-target.sh" ./openclaw_bench.sh
#
# Uses from the harness: GW_PORT, GW_TOKEN, LLM_BASE (Ollama API root), STATE_DIR.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
: "${GW_PORT:?}" "${GW_TOKEN:?}" "${LLM_BASE:?}" "${STATE_DIR:?}"
if [[ -z "${NATS_SERVER_BIN:-}" ]]; then
    NATS_SERVER_BIN="$("$repo/scripts/ensure-nats.sh" | tail -1)"
    export NATS_SERVER_BIN
fi
config="$STATE_DIR/pincer.json5"
cat >"$config" <<JSON
{
  gateway: { port: $GW_PORT, bind: "loopback", auth: { mode: "token", token: "\${GW_TOKEN}" } },
  models: { providers: { ollama: { baseUrl: "$LLM_BASE", api: "ollama", models: [{ id: "fake-model" }] } } },
  agents: { defaults: { model: { primary: "ollama/fake-model" }, timeout: 120, maxConcurrent: ${PINCER_MAX_CONCURRENT:-16} } },
}
JSON
export GW_TOKEN RUST_LOG="${RUST_LOG:-warn}"
exec "$repo/target/release/pincer" dev --config "$config" --state-dir "$STATE_DIR/pincer"
