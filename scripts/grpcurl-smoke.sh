#!/usr/bin/env bash
# Starts todo-api and the gateway on localdapr in a scratch directory, then drives the gateway
# with the real grpcurl: list and describe through reflection, sign up and in, create and list
# a task with the token. Run by `just test`; needs the binaries built and grpcurl on PATH.
#
# GRPCURL_SMOKE_ADDRESS points grpcurl at another address than the gateway it started (to see
# the health wait fail); GRPCURL_SMOKE_HEALTH_SECONDS bounds that wait (default 60).
set -euo pipefail

script_name=grpcurl-smoke
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

gateway_port=$(free_port)
api_port=$(free_port)

# The repository's components, with the secret file moved into the scratch directory.
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
YAML

localdapr run -f "$scratch/dapr.yaml" --data-dir "$scratch/data" > "$scratch/localdapr.log" 2>&1 &
run_pid=$!

address="${GRPCURL_SMOKE_ADDRESS:-127.0.0.1:$gateway_port}"
health_seconds="${GRPCURL_SMOKE_HEALTH_SECONDS:-60}"
deadline=$((SECONDS + health_seconds))
until grpcurl -plaintext -max-time 2 "$address" grpc.health.v1.Health/Check >"$scratch/health.txt" 2>&1 \
    && grep -q '"status": "SERVING"' "$scratch/health.txt"; do
    kill -0 "$run_pid" 2>/dev/null || fail "localdapr exited before the gateway was healthy"
    if ((SECONDS >= deadline)); then
        fail "no SERVING from grpc.health.v1.Health/Check at $address within ${health_seconds}s;" \
            "last answer: $(cat "$scratch/health.txt")"
    fi
    sleep 0.2
done

services=$(grpcurl -plaintext "$address" list) || fail "list"
for service in todo.v1.AuthService todo.v1.TaskService grpc.health.v1.Health \
    grpc.reflection.v1.ServerReflection grpc.reflection.v1alpha.ServerReflection; do
    grep -qx "$service" <<<"$services" || fail "list does not show $service: $services"
done
# Each answer is captured before it is searched: `grpcurl … | grep -q` under pipefail fails when
# grep stops reading at the first match and grpcurl dies of SIGPIPE on the rest.
described=$(grpcurl -plaintext "$address" describe todo.v1.TaskService) || fail "describe"
grep -q "rpc CreateTask" <<<"$described" || fail "describe does not show CreateTask: $described"
# The health service resolves through reflection, as grpcurl needs for any call.
health=$(grpcurl -plaintext "$address" grpc.health.v1.Health/Check) || fail "Health/Check"
grep -q '"status": "SERVING"' <<<"$health" || fail "Health/Check is not SERVING: $health"
# google.rpc error details resolve, so grpcurl can decode the BadRequest our statuses carry.
bad_request=$(grpcurl -plaintext "$address" describe google.rpc.BadRequest) || fail "describe google.rpc.BadRequest"
grep -q "FieldViolation" <<<"$bad_request" || fail "describe google.rpc.BadRequest: $bad_request"

# Every service serves health and reflection, not only the edge: todo-api's own port answers
# grpcurl with the app token its sidecar sends (from the run's tokens.json), and refuses it
# without the token.
api="127.0.0.1:$api_port"
app_token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["todo-api"]["APP_API_TOKEN"])' \
    "$scratch/data/tokens.json") || fail "no todo-api APP_API_TOKEN in tokens.json"
api_auth=(-H "dapr-api-token: $app_token")
api_health=$(grpcurl -plaintext "${api_auth[@]}" "$api" grpc.health.v1.Health/Check) || fail "todo-api Health/Check"
grep -q '"status": "SERVING"' <<<"$api_health" || fail "todo-api Health/Check is not SERVING: $api_health"
api_services=$(grpcurl -plaintext "${api_auth[@]}" "$api" list) || fail "todo-api list"
grep -qx "grpc.health.v1.Health" <<<"$api_services" || fail "todo-api list does not show the health service: $api_services"
if grpcurl -plaintext "$api" grpc.health.v1.Health/Check 2>"$scratch/api-unauthenticated.txt"; then
    fail "todo-api answered Health/Check without its app token"
fi
grep -q "Unauthenticated" "$scratch/api-unauthenticated.txt" \
    || fail "todo-api without its app token: $(cat "$scratch/api-unauthenticated.txt")"

credentials='{"email": "smoke@example.com", "password": "correct horse battery"}'
grpcurl -plaintext -d '{"email": "smoke@example.com", "password": "correct horse battery", "display_name": "Smoke"}' \
    "$address" todo.v1.AuthService/SignUp >/dev/null || fail "SignUp"
signed_in=$(grpcurl -plaintext -d "$credentials" "$address" todo.v1.AuthService/SignIn) || fail "SignIn"
token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["tokens"]["accessToken"])' <<<"$signed_in") || fail "no token in $signed_in"

auth=(-H "authorization: Bearer $token")
grpcurl -plaintext "${auth[@]}" -d '{"title": "Try grpcurl", "tags": ["smoke"]}' \
    "$address" todo.v1.TaskService/CreateTask >/dev/null || fail "CreateTask"
if grpcurl -plaintext "${auth[@]}" -d '{"title": ""}' "$address" todo.v1.TaskService/CreateTask \
    2>"$scratch/invalid.txt"; then
    fail "CreateTask with an empty title succeeded"
fi
grep -Eq '"fieldViolations": ?\[\{"field": ?"title"' "$scratch/invalid.txt" \
    || fail "CreateTask with an empty title: no decoded BadRequest: $(cat "$scratch/invalid.txt")"
listed=$(grpcurl -plaintext "${auth[@]}" -d '{"query": "grpcurl"}' "$address" todo.v1.TaskService/ListTasks) || fail "ListTasks"
grep -q '"title": "Try grpcurl"' <<<"$listed" || fail "ListTasks does not show the task: $listed"
if grpcurl -plaintext -d '{}' "$address" todo.v1.TaskService/ListTasks 2>"$scratch/unauthenticated.txt"; then
    fail "ListTasks without a token succeeded"
fi
grep -q "Unauthenticated" "$scratch/unauthenticated.txt" || fail "ListTasks without a token: $(cat "$scratch/unauthenticated.txt")"

echo "grpcurl-smoke: ok (list, describe, Health/Check on the gateway and todo-api, describe google.rpc.BadRequest, SignUp, SignIn," \
    "CreateTask, InvalidArgument with decoded details, ListTasks, Unauthenticated without a token)"
