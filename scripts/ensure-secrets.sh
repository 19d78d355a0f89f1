#!/usr/bin/env bash
# Adds the stack's internal secrets to an env file when they are missing: each service's password
# on the bus (NATS refuses anonymous clients) and the tokens of the llm-router and the tool host.
# Existing values are kept; the file stays mode 0600. The names match `pincer_bus::access::Role`
# and cli/src/secrets.rs (a test checks).
#
#   scripts/ensure-secrets.sh [ENV_FILE]     (default: .env)
set -euo pipefail

file="${1:-.env}"
[[ -f "$file" ]] || { echo "ensure-secrets: $file does not exist" >&2; exit 1; }
names=(
    PINCER_NATS_PASSWORD_GATEWAY
    PINCER_NATS_PASSWORD_CHANNEL_BRIDGE
    PINCER_NATS_PASSWORD_AGENT_RUNNER
    PINCER_NATS_PASSWORD_LLM_ROUTER
    PINCER_LLM_ROUTER_TOKEN
    PINCER_TOOL_HOST_TOKEN
)
added=()
for name in "${names[@]}"; do
    if ! grep -qE "^[[:space:]]*${name}=[^[:space:]]+" "$file"; then
        # An empty line for it (NAME=) is replaced; otherwise the line is appended.
        value="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
        if grep -qE "^[[:space:]]*${name}=" "$file"; then
            sed -i "s/^[[:space:]]*${name}=.*/${name}=${value}/" "$file"
        else
            [[ -z "$(tail -c1 "$file")" ]] || echo >>"$file"
            echo "${name}=${value}" >>"$file"
        fi
        added+=("$name")
    fi
done
chmod 600 "$file"
if ((${#added[@]})); then
    echo "ensure-secrets: generated ${added[*]} in $file" >&2
fi
