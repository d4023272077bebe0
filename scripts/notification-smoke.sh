#!/usr/bin/env bash
# Starts todo-api, the gateway and notification on localdapr in a scratch directory, then with
# the real grpcurl: checks notification's own health and reflection (with its app token, and
# refused without), sets a reminder 2 s ahead through the gateway, waits until it is listed,
# and marks it read. Run by `just test`; needs the binaries built and grpcurl on PATH.
#
# NOTIFICATION_SMOKE_WAIT_SECONDS bounds each wait (default 60 for startup, then 10 for the
# reminder).
set -euo pipefail

script_name="notification-smoke"
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

gateway_port=$(free_port)
api_port=$(free_port)
notification_port=$(free_port)

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
  - appID: notification
    appPort: $notification_port
    command: ["notification"]
    env: { TODO_ADMIN_PORT: "0" }
YAML

localdapr run -f "$scratch/dapr.yaml" --data-dir "$scratch/data" > "$scratch/localdapr.log" 2>&1 &
run_pid=$!

address="127.0.0.1:$gateway_port"
notification="127.0.0.1:$notification_port"
wait_seconds="${NOTIFICATION_SMOKE_WAIT_SECONDS:-60}"
deadline=$((SECONDS + wait_seconds))
until [ -s "$scratch/data/tokens.json" ] \
    && grpcurl -plaintext -max-time 2 "$address" grpc.health.v1.Health/Check >"$scratch/health.txt" 2>&1 \
    && grep -q '"status": "SERVING"' "$scratch/health.txt"; do
    kill -0 "$run_pid" 2>/dev/null || fail "localdapr exited before the gateway was healthy"
    ((SECONDS < deadline)) || fail "the gateway was not SERVING within ${wait_seconds}s: $(cat "$scratch/health.txt")"
    sleep 0.2
done

# notification's own port: health and reflection with the app token its sidecar sends.
app_token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["notification"]["APP_API_TOKEN"])' \
    "$scratch/data/tokens.json") || fail "no notification APP_API_TOKEN in tokens.json"
app_auth=(-H "dapr-api-token: $app_token")
until health=$(grpcurl -plaintext -max-time 2 "${app_auth[@]}" "$notification" grpc.health.v1.Health/Check 2>&1) \
    && grep -q '"status": "SERVING"' <<<"$health"; do
    ((SECONDS < deadline)) || fail "notification Health/Check is not SERVING: $health"
    sleep 0.2
done
services=$(grpcurl -plaintext "${app_auth[@]}" "$notification" list) || fail "notification list"
grep -qx "todo.v1.NotificationService" <<<"$services" || fail "notification list: $services"
if grpcurl -plaintext "$notification" grpc.health.v1.Health/Check 2>"$scratch/unauthenticated.txt"; then
    fail "notification answered Health/Check without its app token"
fi
grep -q "Unauthenticated" "$scratch/unauthenticated.txt" \
    || fail "notification without its app token: $(cat "$scratch/unauthenticated.txt")"

grpcurl -plaintext -d '{"email": "smoke@example.com", "password": "correct horse battery", "display_name": "Smoke"}' \
    "$address" todo.v1.AuthService/SignUp >"$scratch/signed-up.json" || fail "SignUp"
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["tokens"]["accessToken"])' "$scratch/signed-up.json") \
    || fail "no token after SignUp"
auth=(-H "authorization: Bearer $token")
remind_at=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z"))')
grpcurl -plaintext "${auth[@]}" -d "{\"title\": \"Smoke reminder\", \"reminder\": {\"remindTime\": \"$remind_at\"}}" \
    "$address" todo.v1.TaskService/CreateTask >/dev/null || fail "CreateTask with a reminder"

deadline=$((SECONDS + ${NOTIFICATION_SMOKE_WAIT_SECONDS:-10}))
until listed=$(grpcurl -plaintext "${auth[@]}" -d '{}' "$address" todo.v1.NotificationService/ListNotifications) \
    && grep -q '"title": "Smoke reminder"' <<<"$listed"; do
    ((SECONDS < deadline)) || fail "the reminder due at $remind_at is not listed: $listed"
    sleep 0.2
done
grep -q '"unreadCount": 1' <<<"$listed" || fail "ListNotifications: no unread count of 1: $listed"
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["notifications"][0]["id"])' <<<"$listed") || fail "no id in $listed"
grpcurl -plaintext "${auth[@]}" -d "{\"notificationIds\": [\"$id\"]}" \
    "$address" todo.v1.NotificationService/MarkRead >/dev/null || fail "MarkRead"
listed=$(grpcurl -plaintext "${auth[@]}" -d '{}' "$address" todo.v1.NotificationService/ListNotifications) \
    || fail "ListNotifications after MarkRead"
if grep -q '"unreadCount"' <<<"$listed"; then
    fail "still unread after MarkRead: $listed"
fi
grep -q '"read": true' <<<"$listed" || fail "not marked read: $listed"

echo "notification-smoke: ok (Health/Check and list on notification with its app token, Unauthenticated" \
    "without; a reminder set 2 s ahead listed through the gateway; MarkRead)"
