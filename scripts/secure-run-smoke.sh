#!/usr/bin/env bash
# Runs the real localdapr, todo-api and gateway binaries as `just up` does (in a scratch
# directory), then tries what an attacker on the same machine would, and a crash:
#   - the data directory is 0700, tokens.json and secrets.json 0600, and no token or key is
#     ever printed;
#   - each sidecar refuses GetSecret, GetState, SaveState and Shutdown without its token or
#     with a wrong one (Unauthenticated), and answers the token from tokens.json;
#   - todo-api refuses forged dapr-caller-app-id/todo-user-id headers on its own port
#     (ListTasks and UpdateTask as the gateway, a series create as recurring: Unauthenticated);
#   - the gateway still serves a user end to end (SignUp, CreateTask, ListTasks), and the
#     victim's task is untouched;
#   - after `kill -9` of localdapr no app survives, their ports are free, and the next run on
#     the same data directory starts.
# Run by `just test`; needs the binaries built and grpcurl on PATH.
set -euo pipefail

script_name=secure-run-smoke
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

gateway_port=$(free_port)
gateway_sidecar=$(free_port)
gateway_admin=$(free_port)
api_port=$(free_port)
api_sidecar=$(free_port)
api_admin=$(free_port)
data="$scratch/.localdapr"

# The repository's components with the secrets file where `just up` keeps it, relative to the
# run file's directory, and a run file like dapr.yaml with every port pinned.
scratch_components "$data/secrets.json"
cat > "$scratch/dapr.yaml" <<YAML
version: 1
common:
  resourcesPath: ./components
  env:
    RUST_LOG: info
    TODO_LISTEN_HOST: "127.0.0.1"
apps:
  - appID: todo-api
    appPort: $api_port
    daprGRPCPort: $api_sidecar
    command: ["todo-api"]
    env: { TODO_ADMIN_PORT: "$api_admin" }
  - appID: gateway
    appPort: $gateway_port
    daprGRPCPort: $gateway_sidecar
    command: ["gateway"]
    env: { TODO_ADMIN_PORT: "$gateway_admin" }
YAML

gateway="127.0.0.1:$gateway_port"

# Starts `localdapr run` (log: run-$1.log) and waits until both apps report ready on their
# admin ports; fails at the deadline or when localdapr exits.
start_run() {
    (cd "$scratch" && exec localdapr run -f dapr.yaml --metrics-port 0) > "$scratch/run-$1.log" 2>&1 &
    run_pid=$!
    local deadline=$((SECONDS + 60)) admin
    for admin in "$api_admin" "$gateway_admin"; do
        until curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1; do
            kill -0 "$run_pid" 2>/dev/null || fail "localdapr exited during start $1"
            [ "$SECONDS" -lt "$deadline" ] || fail "an app did not report ready within 60s (start $1)"
            sleep 0.1
        done
    done
}

# Runs grpcurl with the remaining arguments and requires it to fail with gRPC code $2.
expect_code() {
    local what=$1 code=$2
    shift 2
    local output
    if output=$(grpcurl -plaintext "$@" 2>&1); then
        fail "$what succeeded: $output"
    fi
    grep -q "Code: $code" <<<"$output" || fail "$what: expected $code, got: $output"
}

mode_of() { stat -c '%a' "$1"; }
json_field() { python3 -c 'import json,sys; d=json.load(sys.stdin)
for k in sys.argv[1:]: d=d[k]
print(d)' "$@"; }

start_run 1
cp "$data/tokens.json" "$scratch/tokens-1.json"

# Private files, and tokens for both apps.
[ "$(mode_of "$data")" = 700 ] || fail "$data is $(mode_of "$data"), not 700"
for file in "$data/tokens.json" "$data/secrets.json"; do
    [ "$(mode_of "$file")" = 600 ] || fail "$file is $(mode_of "$file"), not 600"
done
api_token=$(json_field todo-api DAPR_API_TOKEN < "$data/tokens.json")
gateway_token=$(json_field gateway DAPR_API_TOKEN < "$data/tokens.json")

# The gateway serves a user end to end.
signed_up=$(grpcurl -plaintext -d '{"email": "victim@example.com", "password": "correct horse battery", "display_name": "Victim"}' \
    "$gateway" todo.v1.AuthService/SignUp) || fail "SignUp"
victim=$(json_field user id <<<"$signed_up")
access=$(json_field tokens accessToken <<<"$signed_up")
auth=(-H "authorization: Bearer $access")
created=$(grpcurl -plaintext "${auth[@]}" -d '{"title": "victim task"}' "$gateway" todo.v1.TaskService/CreateTask) \
    || fail "CreateTask through the gateway"
task_id=$(json_field task id <<<"$created")

# Sidecar attacks, on both sidecars, without a token and with a wrong one.
dapr_protos=(-import-path "$repo/proto/dapr" -proto dapr/proto/runtime/v1/dapr.proto)
bucket_key="tasks-$victim-0"
for sidecar in "127.0.0.1:$api_sidecar" "127.0.0.1:$gateway_sidecar"; do
    for token in none guessed; do
        headers=()
        [ "$token" = none ] || headers=(-H "dapr-api-token: $token")
        attacks=(
            "GetSecret|{\"store_name\": \"secretstore\", \"key\": \"todo-suite\"}"
            "GetState|{\"store_name\": \"statestore\", \"key\": \"$bucket_key\"}"
            "SaveState|{\"store_name\": \"statestore\", \"states\": [{\"key\": \"$bucket_key\", \"value\": \"Z2FyYmFnZQ==\"}]}"
            "Shutdown|{}"
        )
        for attack in "${attacks[@]}"; do
            rpc=${attack%%|*}
            expect_code "$rpc on $sidecar (token: $token)" Unauthenticated "${dapr_protos[@]}" "${headers[@]}" \
                -d "${attack#*|}" "$sidecar" "dapr.proto.runtime.v1.Dapr/$rpc"
        done
    done
done
grpcurl -plaintext "${dapr_protos[@]}" -H "dapr-api-token: $api_token" -d '{}' \
    "127.0.0.1:$api_sidecar" dapr.proto.runtime.v1.Dapr/GetMetadata >/dev/null \
    || fail "GetMetadata with the token from tokens.json"

# Forged identity straight to todo-api's port.
todo_protos=(-import-path "$repo/proto" -proto todo/v1/task_service.proto)
for token in none guessed; do
    headers=(-H "todo-user-id: $victim")
    [ "$token" = none ] || headers+=(-H "dapr-api-token: $token")
    expect_code "ListTasks as the gateway (token: $token)" Unauthenticated "${todo_protos[@]}" "${headers[@]}" \
        -H "dapr-caller-app-id: gateway" -d '{}' "127.0.0.1:$api_port" todo.v1.TaskService/ListTasks
    expect_code "UpdateTask as the gateway (token: $token)" Unauthenticated "${todo_protos[@]}" "${headers[@]}" \
        -H "dapr-caller-app-id: gateway" \
        -d "{\"task\": {\"id\": \"$task_id\", \"title\": \"pwned\"}, \"update_mask\": {\"paths\": [\"title\"]}}" \
        "127.0.0.1:$api_port" todo.v1.TaskService/UpdateTask
    expect_code "a series CreateTask as recurring (token: $token)" Unauthenticated "${todo_protos[@]}" "${headers[@]}" \
        -H "dapr-caller-app-id: recurring" \
        -d '{"title": "forged", "series_id": "0195e5a4-0000-7000-8000-000000000000", "occurrence_index": 1}' \
        "127.0.0.1:$api_port" todo.v1.TaskService/CreateTask
done

# The gateway still works, and the victim's tasks are as they were.
listed=$(grpcurl -plaintext "${auth[@]}" -d '{}' "$gateway" todo.v1.TaskService/ListTasks) || fail "ListTasks through the gateway"
titles=$(python3 -c 'import json,sys; print(",".join(t["title"] for t in json.load(sys.stdin).get("tasks", [])))' <<<"$listed")
[ "$titles" = "victim task" ] || fail "the victim's tasks changed: $titles"

# kill -9 of the runner: every app dies with it, and the next run starts.
apps=$(pgrep -P "$run_pid" | tr '\n' ' ')
[ "$(wc -w <<<"$apps")" = 2 ] || fail "expected two app processes under localdapr, found: $apps"
kill -KILL "$run_pid"
wait "$run_pid" 2>/dev/null || true
run_pid=""
deadline=$((SECONDS + 10))
for pid in $apps; do
    # Gone, or a zombie nobody reaped (in a container PID 1 may not reap).
    while state=$(ps -o stat= -p "$pid" 2>/dev/null) && [ "${state:0:1}" != Z ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "app process $pid ($(ps -o comm= -p "$pid")) outlived localdapr by 10s"
        sleep 0.05
    done
done
start_run 2
cp "$data/tokens.json" "$scratch/tokens-2.json"
cmp -s "$scratch/tokens-1.json" "$scratch/tokens-2.json" && fail "the second run reused the first run's tokens"
restarted=$(grpcurl -plaintext "${auth[@]}" -d '{}' "$gateway" todo.v1.TaskService/ListTasks) \
    || fail "ListTasks on the restarted run"
grep -q '"victim task"' <<<"$restarted" || fail "the restarted run does not serve the victim's task: $restarted"
kill -TERM "$run_pid"
wait "$run_pid" || fail "the restarted run did not stop cleanly"
run_pid=""

# Nothing secret was printed, by the secrets script or by either run.
secrets=$(python3 -c 'import json,sys
keys = list(json.load(open(sys.argv[1]))["todo-suite"].values())
tokens = [v for f in sys.argv[2:] for app in json.load(open(f)).values() for v in app.values() if v]
print("\n".join(keys + tokens))' "$data/secrets.json" "$scratch/tokens-1.json" "$scratch/tokens-2.json")
if grep -F -f <(printf '%s\n' "$secrets") "$scratch"/run-*.log "$scratch/secrets.log" >/dev/null; then
    fail "a token or key appears in the output"
fi
[ "$gateway_token" != "$api_token" ] || fail "the two apps share a token"

echo "secure-run-smoke: ok (0700/0600 files, sidecar attacks and forged identity Unauthenticated, gateway end to end, kill -9 leaves no app and the next run starts, nothing secret printed)"
