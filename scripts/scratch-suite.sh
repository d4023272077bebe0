# shellcheck shell=bash
# Sourced (never run) by the scripts that run the suite in a scratch directory:
# grpcurl-smoke.sh, secure-run-smoke.sh and measure-latency.sh. The sourcing script sets
# `script_name` first. Gives it:
#   repo, scratch   the repository and a fresh scratch directory, removed on exit;
#   run_pid         set it to the `localdapr run` it starts: on exit it gets SIGTERM (drain);
#   fail MESSAGE    says what failed, shows the tail of every *.log in the scratch directory,
#                   and exits 1;
#   free_port       a free TCP port on 127.0.0.1, never one it gave before in this run;
#   scratch_components SECRETS_FILE
#                   the repository's components in $scratch/components, with the secret store
#                   reading SECRETS_FILE, written with fresh random keys. Under
#                   TODO_TEST_DAPR=real (scripts/with-real-dapr.sh), the production components
#                   of dapr-components/kubernetes instead, rendered for this machine
#                   (scripts/real-dapr-resources.sh), and audit on PostgreSQL.
#   run_suite RUN_FILE DATA_DIR LOG
#                   starts `localdapr run` on RUN_FILE in the background (run_pid); under
#                   TODO_TEST_DAPR=real each app runs beside the real daprd ($TODO_DAPRD), with
#                   the Scheduler at $TODO_DAPR_SCHEDULER.
#   real_dapr       true under TODO_TEST_DAPR=real.
#   start_suite [ENV_ENTRY...]
#                   runs the six apps of `just up` with run_suite in the scratch directory
#                   (components from scratch_components, secrets in $scratch/secrets.json, data
#                   in $scratch/data, output in $scratch/localdapr.log), each app on a free port
#                   kept in the array `port` (port[gateway], ...), its admin port from the array
#                   `admin_port` when the caller set one (else off), and sync_replicas - 1 more
#                   sync replicas (sync-2, ...: same app id, own ports and `{podName}`); each ENV_ENTRY
#                   ('NAME: "value"') is added to every app's environment. Sets run_pid.
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

# Each call binds and releases its own socket, so two calls could get the same port (a run file
# with one port twice, seen in CI): the ports handed out are kept in $scratch and never repeated.
free_port() {
    python3 - "$scratch/ports-given" <<'PY'
import socket, sys

path = sys.argv[1]
try:
    with open(path) as given_file:
        given = set(given_file.read().split())
except FileNotFoundError:
    given = set()
held = []  # bound until the end, so each try gets a port the others do not hold
while True:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    held.append(sock)
    port = str(sock.getsockname()[1])
    if port not in given:
        break
with open(path, "a") as given_file:
    given_file.write(port + "\n")
print(port)
PY
}

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

real_dapr() { [ "${TODO_TEST_DAPR:-local}" = real ]; }

scratch_components() {
    local secrets_file=$1
    mkdir -p "$scratch/components"
    "$repo/scripts/local-secrets.sh" "$secrets_file" > "$scratch/secrets.log"
    if real_dapr; then
        : "${TODO_TEST_POSTGRES_URL:?TODO_TEST_DAPR=real needs scripts/with-real-dapr.sh}"
        # audit keeps its log in PostgreSQL, as in production.
        python3 - "$secrets_file" <<'PY'
import json, os, sys
path = sys.argv[1]
secrets = json.load(open(path))
secrets["todo-suite"]["audit-database-url"] = os.environ["TODO_TEST_POSTGRES_URL"]
with open(path, "w") as file:
    json.dump(secrets, file)
PY
        "$repo/scripts/real-dapr-resources.sh" "$scratch/real-dapr" "$secrets_file" >> "$scratch/secrets.log"
    else
        cp "$repo"/dapr-components/local/*.yaml "$scratch/components/"
        sed -i "s|\.localdapr/secrets\.json|$secrets_file|" "$scratch/components/secretstore.yaml"
    fi
}

run_suite() {
    local run_file=$1 data_dir=$2 log=$3
    local beside=()
    if real_dapr; then
        : "${TODO_DAPRD:?TODO_TEST_DAPR=real needs scripts/with-real-dapr.sh}"
        beside=(--daprd "$TODO_DAPRD" --daprd-resources-path "$scratch/real-dapr/resources"
            --daprd-config "$scratch/real-dapr/config.yaml")
    fi
    localdapr run -f "$run_file" --data-dir "$data_dir" --metrics-port 0 "${beside[@]}" > "$log" 2>&1 &
    run_pid=$!
}

start_suite() {
    local app entry
    declare -gA port admin_port
    suite_apps=(todo-api gateway recurring notification audit sync)
    # More sync replicas when the caller sets sync_replicas: sync-2, sync-3, ... in `port`.
    local replica replicas=()
    for ((replica = 2; replica <= ${sync_replicas:-1}; replica++)); do replicas+=("sync-$replica"); done
    for app in "${suite_apps[@]}" "${replicas[@]}"; do
        port[$app]=$(free_port)
        : "${admin_port[$app]:=0}"
    done
    scratch_components "$scratch/secrets.json"
    {
        printf 'version: 1\ncommon:\n  resourcesPath: ./components\n'
        if [ "$#" -gt 0 ]; then
            printf '  env:\n'
            for entry in "$@"; do printf '    %s\n' "$entry"; done
        fi
        printf 'apps:\n'
        for app in "${suite_apps[@]}" "${replicas[@]}"; do
            printf '  - appID: %s\n    appPort: %s\n    command: ["%s"]\n    env: { TODO_ADMIN_PORT: "%s" }\n' \
                "${app%-[0-9]*}" "${port[$app]}" "${app%-[0-9]*}" "${admin_port[$app]}"
        done
    } > "$scratch/dapr.yaml"
    run_suite "$scratch/dapr.yaml" "$scratch/data" "$scratch/localdapr.log"
}
