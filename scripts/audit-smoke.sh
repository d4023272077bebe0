#!/usr/bin/env bash
# Starts todo-api, the gateway and audit on localdapr in a scratch directory, with the
# repository's components and the secrets `just up` writes (audit on a SQLite file), then uses
# the real grpcurl: a task created and renamed through the gateway shows up in its history
# (ListTaskHistory through the gateway, with the changed title), audit's own port answers
# grpc.health.v1 with its app token, and the SQLite file is the owner's only. Run by
# `just test`; needs the binaries built and grpcurl on PATH.
set -euo pipefail

script_name="audit-smoke"
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

gateway_port=$(free_port)
api_port=$(free_port)
audit_port=$(free_port)

scratch_components "$scratch/secrets.json"
cat > "$scratch/dapr.yaml" <<YAML
version: 1
common:
  resourcesPath: ./components
apps:
  - appID: todo-api
    appPort: $api_port
    command: ["todo-api"]
    env: { TODO_ADMIN_PORT: "0" }
  - appID: gateway
    appPort: $gateway_port
    command: ["gateway"]
    env: { TODO_ADMIN_PORT: "0" }
  - appID: audit
    appPort: $audit_port
    command: ["audit"]
    env: { TODO_ADMIN_PORT: "0" }
YAML

localdapr run -f "$scratch/dapr.yaml" --data-dir "$scratch/data" > "$scratch/localdapr.log" 2>&1 &
run_pid=$!

gateway="127.0.0.1:$gateway_port"
audit="127.0.0.1:$audit_port"
# Waits until `grpcurl ARGS... grpc.health.v1.Health/Check` answers SERVING, for 60s.
wait_serving() {
    local deadline=$((SECONDS + 60))
    until grpcurl -plaintext -max-time 2 "$@" grpc.health.v1.Health/Check >"$scratch/health.txt" 2>&1 \
        && grep -q '"status": "SERVING"' "$scratch/health.txt"; do
        kill -0 "$run_pid" 2>/dev/null || fail "localdapr exited before $* was healthy"
        ((SECONDS < deadline)) || fail "$* not SERVING within 60s: $(cat "$scratch/health.txt")"
        sleep 0.2
    done
}
wait_serving "$gateway"
app_token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["audit"]["APP_API_TOKEN"])' \
    "$scratch/data/tokens.json") || fail "no audit APP_API_TOKEN in tokens.json"
wait_serving -H "dapr-api-token: $app_token" "$audit"
audit_services=$(grpcurl -plaintext -H "dapr-api-token: $app_token" "$audit" list) || fail "audit list"
grep -qx "todo.v1.AuditService" <<<"$audit_services" || fail "audit list: $audit_services"

grpcurl -plaintext -d '{"email": "audit@example.com", "password": "correct horse battery", "display_name": "Audit"}' \
    "$gateway" todo.v1.AuthService/SignUp >"$scratch/signup.json" || fail "SignUp"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["accessToken"])' \
    "$scratch/signup.json") || fail "no token after SignUp"
auth=(-H "authorization: Bearer $token")
created=$(grpcurl -plaintext "${auth[@]}" -d '{"title": "audit me"}' "$gateway" todo.v1.TaskService/CreateTask) \
    || fail "CreateTask"
task_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["task"]["id"])' <<<"$created")
grpcurl -plaintext "${auth[@]}" \
    -d "{\"task\": {\"id\": \"$task_id\", \"title\": \"audited\"}, \"updateMask\": {\"paths\": [\"title\"]}, \"expectedVersion\": 1}" \
    "$gateway" todo.v1.TaskService/UpdateTask >/dev/null || fail "UpdateTask"

deadline=$((SECONDS + 30))
until grpcurl -plaintext "${auth[@]}" -d "{\"task_id\": \"$task_id\"}" \
        "$gateway" todo.v1.AuditService/ListTaskHistory >"$scratch/history.json" 2>&1 \
    && python3 -c 'import json,sys; sys.exit(len(json.load(open(sys.argv[1])).get("entries", [])) < 2)' \
        "$scratch/history.json" 2>/dev/null; do
    ((SECONDS < deadline)) || fail "no history of 2 entries within 30s: $(cat "$scratch/history.json")"
    sleep 0.2
done
python3 - "$scratch/history.json" <<'PY' || fail "unexpected history: $(cat "$scratch/history.json")"
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
assert [e["type"] for e in entries] == ["TASK_EVENT_TYPE_CREATED", "TASK_EVENT_TYPE_UPDATED"], entries
change = entries[1]["changes"][0]
assert (change["field"], change["beforeJson"], change["afterJson"]) == ("title", '"audit me"', '"audited"'), change
PY

mode=$(stat -c %a "$scratch/audit.db")
[ "$mode" = 600 ] || fail "audit.db has mode $mode, not 600"

echo "audit-smoke: ok (audit Health/Check and list with its app token, CreateTask and UpdateTask through the" \
    "gateway, ListTaskHistory through the gateway with the changed title, audit.db mode 600)"
