#!/usr/bin/env bash
# Single-call latency through the gateway, as a user's client sees it: the suite on
# `localdapr run` with API tokens (as `just up` runs it), one connection, sequential calls,
# percentiles from ghz. The baseline, measured in the same run, is grpc.health.v1.Health/Check
# on the same gateway port (a call that never leaves the gateway), so figures compare across
# machines as ratios. Needs release binaries, grpcurl (`just python-tools`) and ghz
# (`go install github.com/bojand/ghz/cmd/ghz@v0.120.0`).
# Usage: scripts/measure-latency.sh [RELEASE_BIN_DIR] (default: cargo's target/release).
set -euo pipefail

script_name=measure-latency
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

bin=${1:-$(cargo metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release}
calls=${LATENCY_CALLS:-300}
ghz=$(command -v ghz || echo "$HOME/go/bin/ghz")
grpcurl=$(command -v grpcurl || echo "$repo/.venv/bin/grpcurl")
gateway_port=$(free_port)
gateway_admin=$(free_port)
api_port=$(free_port)

scratch_components "$scratch/data/secrets.json"
cat > "$scratch/dapr.yaml" <<YAML
version: 1
common:
  resourcesPath: ./components
  env: { RUST_LOG: warn, TODO_LISTEN_HOST: "127.0.0.1" }
apps:
  - appID: todo-api
    appPort: $api_port
    command: ["todo-api"]
    env: { TODO_ADMIN_PORT: "0" }
  - appID: gateway
    appPort: $gateway_port
    command: ["gateway"]
    env: { TODO_ADMIN_PORT: "$gateway_admin" }
YAML
(cd "$scratch" && PATH="$bin:$PATH" exec localdapr run -f dapr.yaml --data-dir "$scratch/data") \
    > "$scratch/run.log" 2>&1 &
run_pid=$!
deadline=$((SECONDS + 60))
until curl -fsS "http://127.0.0.1:$gateway_admin/readyz" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$run_pid" 2>/dev/null; then
        fail "the suite was not ready within 60 s"
    fi
    sleep 0.2
done

gateway="127.0.0.1:$gateway_port"
"$grpcurl" -plaintext -d '{"email": "latency@example.com", "password": "correct horse battery", "display_name": "L"}' \
    "$gateway" todo.v1.AuthService/SignUp >/dev/null
token=$("$grpcurl" -plaintext -d '{"email": "latency@example.com", "password": "correct horse battery"}' \
    "$gateway" todo.v1.AuthService/SignIn |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["accessToken"])')

measure() {
    local name=$1
    shift
    echo "== $name ($calls sequential calls, one connection)"
    "$ghz" --insecure -c 1 -n "$calls" --connections 1 "$@" "$gateway" |
        grep -E "Average|Fastest|Slowest|50 % in|99 % in|Requests/sec|\[OK\]|\[[A-Z][a-zA-Z]*\]"
}
auth="{\"authorization\": \"Bearer $token\"}"
measure "baseline: Health/Check on the gateway" --call grpc.health.v1.Health/Check -d '{}'
measure "ListTasks, empty account" --call todo.v1.TaskService/ListTasks -m "$auth" -d '{}'
measure "CreateTask" --call todo.v1.TaskService/CreateTask -m "$auth" -d '{"title": "latency {{.RequestNumber}}"}'
