# shellcheck shell=bash
# Sourced (never run) by the scripts that run the suite in a scratch directory:
# grpcurl-smoke.sh, secure-run-smoke.sh and measure-latency.sh. The sourcing script sets
# `script_name` first. Gives it:
#   repo, scratch   the repository and a fresh scratch directory, removed on exit;
#   run_pid         set it to the `localdapr run` it starts: on exit it gets SIGTERM (drain);
#   fail MESSAGE    says what failed, shows the tail of every *.log in the scratch directory,
#                   and exits 1;
#   free_port       a free TCP port on 127.0.0.1;
#   scratch_components SECRETS_FILE
#                   the repository's components in $scratch/components, with the secret store
#                   reading SECRETS_FILE, written with fresh random keys.
#   start_suite [ENV_ENTRY...]
#                   runs the six apps of `just up` with `localdapr run` in the scratch directory
#                   (components from scratch_components, secrets in $scratch/secrets.json, data
#                   in $scratch/data, output in $scratch/localdapr.log), each app on a free port
#                   kept in the array `port` (port[gateway], ...), admin ports off; each
#                   ENV_ENTRY ('NAME: "value"') is added to every app's environment. Sets run_pid.
#   wait_serving SECONDS [GRPCURL_ARGS...] ADDRESS
#                   waits until grpc.health.v1.Health/Check at ADDRESS answers SERVING, failing
#                   at the deadline or when `localdapr run` exits.
#   app_token APP   the APP_API_TOKEN the run gave APP (from its tokens.json).
#   json_field PATH the field at the dotted PATH (list indices as numbers) of the JSON on stdin.
#   await SECONDS DESCRIPTION OUT CONDITION COMMAND...
#                   runs COMMAND into OUT until the Python expression CONDITION (reading OUT on
#                   sys.stdin, with json and sys imported) holds, failing at the deadline.

: "${script_name:?set script_name before sourcing scratch-suite.sh}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d)
run_pid=""

cleanup() {
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        kill -TERM "$run_pid"
        wait "$run_pid" || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

fail() {
    echo "$script_name: FAILED: $*" >&2
    echo "--- localdapr output ---" >&2
    tail -n 60 "$scratch"/*.log >&2 || true
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

wait_serving() {
    local seconds=$1
    shift
    local deadline=$((SECONDS + seconds))
    until grpcurl -plaintext -max-time 2 "$@" grpc.health.v1.Health/Check >"$scratch/health.txt" 2>&1 \
        && grep -q '"status": "SERVING"' "$scratch/health.txt"; do
        kill -0 "$run_pid" 2>/dev/null || fail "localdapr exited before ${*: -1} was healthy"
        ((SECONDS < deadline)) || fail "no SERVING from grpc.health.v1.Health/Check at ${*: -1} within ${seconds}s;" \
            "last answer: $(cat "$scratch/health.txt")"
        sleep 0.2
    done
}

app_token() {
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]]["APP_API_TOKEN"])' \
        "$scratch/data/tokens.json" "$1" || fail "no $1 APP_API_TOKEN in tokens.json"
}

json_field() {
    python3 -c '
import json, sys
value = json.load(sys.stdin)
for part in sys.argv[1].split("."):
    value = value[int(part)] if isinstance(value, list) else value[part]
print(value)' "$1"
}

await() {
    local seconds=$1 description=$2 out=$3 condition=$4
    shift 4
    local deadline=$((SECONDS + seconds))
    until "$@" >"$out" 2>&1 && python3 -c "import json, sys; sys.exit(not ($condition))" <"$out" 2>/dev/null; do
        ((SECONDS < deadline)) || fail "not within ${seconds}s: $description; last answer: $(cat "$out")"
        sleep 0.2
    done
}

scratch_components() {
    local secrets_file=$1
    mkdir -p "$scratch/components"
    cp "$repo"/dapr-components/local/*.yaml "$scratch/components/"
    sed -i "s|\.localdapr/secrets\.json|$secrets_file|" "$scratch/components/secretstore.yaml"
    "$repo/scripts/local-secrets.sh" "$secrets_file" > "$scratch/secrets.log"
}

start_suite() {
    local app entry
    declare -gA port
    suite_apps=(todo-api gateway recurring notification audit sync)
    for app in "${suite_apps[@]}"; do port[$app]=$(free_port); done
    scratch_components "$scratch/secrets.json"
    {
        printf 'version: 1\ncommon:\n  resourcesPath: ./components\n  env:\n    TODO_ADMIN_PORT: "0"\n'
        for entry in "$@"; do printf '    %s\n' "$entry"; done
        printf 'apps:\n'
        for app in "${suite_apps[@]}"; do
            printf '  - appID: %s\n    appPort: %s\n    command: ["%s"]\n' "$app" "${port[$app]}" "$app"
        done
    } > "$scratch/dapr.yaml"
    localdapr run -f "$scratch/dapr.yaml" --data-dir "$scratch/data" > "$scratch/localdapr.log" 2>&1 &
    run_pid=$!
}
