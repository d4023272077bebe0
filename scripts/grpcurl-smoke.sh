#!/usr/bin/env bash
# Starts the whole suite (all six apps, as `just up` does) on localdapr in a scratch directory
# with the repository's components, then drives it with the real grpcurl:
# - the gateway: list and describe through reflection, health, google.rpc details;
# - every app's own port: grpc.health.v1 and reflection with its app token, Unauthenticated
#   without it;
# - through the gateway: sign up and in, create and list tasks, a validation error with its
#   BadRequest; a daily task completed gets its next occurrence (recurring); a reminder set 2 s
#   ahead is listed and marked read (notification); a renamed task's history shows the change
#   (audit, on its SQLite file, 0600); a WatchTasks stream sees each change exactly once (sync).
# Under TODO_TEST_DAPR=real (scripts/with-real-dapr.sh, `just test-dapr`) every app runs beside
# the real daprd on the production components (PostgreSQL v2 with its outbox, Kafka, the
# Scheduler), and audit keeps its log in PostgreSQL.
# Run by `just test`; needs the binaries built and grpcurl on PATH.
#
# GRPCURL_SMOKE_ADDRESS points grpcurl at another address than the gateway it started (to see
# the health wait fail); GRPCURL_SMOKE_HEALTH_SECONDS bounds that wait (default 60).
# GRPCURL_SMOKE_METRICS_OUT=FILE: at the end, every app's /metrics (admin port), after all of the
# above ran, is written to FILE, each line prefixed with the app id and a tab; `just test` gives
# it to deploy/tests/live_metrics.py (no dashboard panel or alert on a metric that does not exist).
set -euo pipefail

script_name=grpcurl-smoke
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

# The six apps (start_suite), with the repository's components and the secret file in the
# scratch directory; admin ports (for /metrics) only when GRPCURL_SMOKE_METRICS_OUT asks.
declare -A admin_port
if [ -n "${GRPCURL_SMOKE_METRICS_OUT:-}" ]; then
    for app in todo-api gateway recurring notification audit sync; do admin_port[$app]=$(free_port); done
fi
# Two sync replicas, each with its own consumer of task events (`{podName}`): both must deliver.
sync_replicas=2
# shellcheck disable=SC2119 # no extra environment: the apps' defaults
start_suite
apps=("${suite_apps[@]}")

address="${GRPCURL_SMOKE_ADDRESS:-127.0.0.1:${port[gateway]}}"
wait_serving "${GRPCURL_SMOKE_HEALTH_SECONDS:-60}" "$address"

services=$(grpcurl -plaintext "$address" list) || fail "list"
for service in todo.v1.AuthService todo.v1.TaskService todo.v1.AuditService todo.v1.NotificationService \
    todo.v1.SyncService grpc.health.v1.Health grpc.reflection.v1.ServerReflection \
    grpc.reflection.v1alpha.ServerReflection; do
    grep -qx "$service" <<<"$services" || fail "list does not show $service: $services"
done
# Each answer is captured before it is searched: `grpcurl … | grep -q` under pipefail fails when
# grep stops reading at the first match and grpcurl dies of SIGPIPE on the rest.
described=$(grpcurl -plaintext "$address" describe todo.v1.TaskService) || fail "describe"
grep -q "rpc CreateTask" <<<"$described" || fail "describe does not show CreateTask: $described"
# google.rpc error details resolve, so grpcurl can decode the BadRequest our statuses carry.
bad_request=$(grpcurl -plaintext "$address" describe google.rpc.BadRequest) || fail "describe google.rpc.BadRequest"
grep -q "FieldViolation" <<<"$bad_request" || fail "describe google.rpc.BadRequest: $bad_request"

# Every app serves health and reflection on its own port, to the holder of the app token its
# sidecar sends (from the run's tokens.json), and refuses anyone else.
declare -A own_service=([todo-api]=todo.v1.TaskService [recurring]=grpc.health.v1.Health
    [notification]=todo.v1.NotificationService [audit]=todo.v1.AuditService [sync]=todo.v1.SyncService)
for app in todo-api recurring notification audit sync; do
    app_address="127.0.0.1:${port[$app]}"
    app_auth=(-H "dapr-api-token: $(app_token "$app")")
    wait_serving 30 "${app_auth[@]}" "$app_address"
    app_services=$(grpcurl -plaintext "${app_auth[@]}" "$app_address" list) || fail "$app list"
    grep -qx "${own_service[$app]}" <<<"$app_services" || fail "$app list does not show ${own_service[$app]}: $app_services"
    if grpcurl -plaintext "$app_address" grpc.health.v1.Health/Check 2>"$scratch/unauthenticated.txt"; then
        fail "$app answered Health/Check without its app token"
    fi
    grep -q "Unauthenticated" "$scratch/unauthenticated.txt" \
        || fail "$app without its app token: $(cat "$scratch/unauthenticated.txt")"
done

credentials='{"email": "smoke@example.com", "password": "correct horse battery"}'
signed_up=$(grpcurl -plaintext -d '{"email": "smoke@example.com", "password": "correct horse battery", "display_name": "Smoke"}' \
    "$address" todo.v1.AuthService/SignUp) || fail "SignUp"
user_id=$(json_field user.id <<<"$signed_up") || fail "no user id in $signed_up"
signed_in=$(grpcurl -plaintext -d "$credentials" "$address" todo.v1.AuthService/SignIn) || fail "SignIn"
token=$(json_field tokens.accessToken <<<"$signed_in") || fail "no token in $signed_in"
auth=(-H "authorization: Bearer $token")

# sync: a watch opened now sees the changes below.
grpcurl -plaintext "${auth[@]}" -max-time 60 -d '{}' "$address" todo.v1.SyncService/WatchTasks \
    >"$scratch/watch.json" 2>&1 &
watch_pid=$!
# ... and so does a watch on each sync replica's own port, as its sidecar would open it for the
# gateway (the app token, the caller's app id, the user).
replica_watch_pids=()
for replica in sync sync-2; do
    grpcurl -plaintext -H "dapr-api-token: $(app_token sync)" -H "dapr-caller-app-id: gateway" \
        -H "todo-user-id: $user_id" -max-time 60 -d '{}' "127.0.0.1:${port[$replica]}" \
        todo.v1.SyncService/WatchTasks >"$scratch/watch-$replica.json" 2>&1 &
    replica_watch_pids+=($!)
    await 20 "the watch on $replica opens" "$scratch/watch-open.json" "'heartbeat' in sys.stdin.read()" \
        cat "$scratch/watch-$replica.json"
done

created=$(grpcurl -plaintext "${auth[@]}" -d '{"title": "Try grpcurl", "tags": ["smoke"]}' \
    "$address" todo.v1.TaskService/CreateTask) || fail "CreateTask"
task_id=$(json_field task.id <<<"$created") || fail "no task id in $created"
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

# audit: the task renamed; its history shows both changes, the second with the title's diff.
grpcurl -plaintext "${auth[@]}" \
    -d "{\"task\": {\"id\": \"$task_id\", \"title\": \"audited\"}, \"updateMask\": {\"paths\": [\"title\"]}, \"expectedVersion\": 1}" \
    "$address" todo.v1.TaskService/UpdateTask >/dev/null || fail "UpdateTask"
await 30 "a history of 2 entries" "$scratch/history.json" \
    'len(json.load(sys.stdin).get("entries", [])) >= 2' \
    grpcurl -plaintext "${auth[@]}" -d "{\"task_id\": \"$task_id\"}" "$address" todo.v1.AuditService/ListTaskHistory
python3 - "$scratch/history.json" <<'PY' || fail "unexpected history: $(cat "$scratch/history.json")"
import json, sys
entries = json.load(open(sys.argv[1]))["entries"]
assert [e["type"] for e in entries] == ["TASK_EVENT_TYPE_CREATED", "TASK_EVENT_TYPE_UPDATED"], entries
change = entries[1]["changes"][0]
assert (change["field"], change["beforeJson"], change["afterJson"]) == ("title", '"Try grpcurl"', '"audited"'), change
PY
if ! real_dapr; then
    mode=$(stat -c %a "$scratch/audit.db")
    [ "$mode" = 600 ] || fail "audit.db has mode $mode, not 600"
fi

# sync: the watch saw the task's two events, each exactly once (through the outbox, the broker
# and sync: a duplicate anywhere on the way would show here).
watch_events() { # FILE: the [type, version] of every event of $task_id a watch saw, as JSON
    python3 - "$1" "$task_id" <<'PY'
import json, sys
text, task_id = open(sys.argv[1]).read(), sys.argv[2]
decoder, position, seen = json.JSONDecoder(), 0, []
while True:
    while position < len(text) and text[position].isspace():
        position += 1
    if position >= len(text):
        break
    try:
        message, position = decoder.raw_decode(text, position)
    except ValueError:
        break  # a message still being written, or grpcurl's closing error
    event = message.get("taskEvent") if isinstance(message, dict) else None
    if event and event.get("taskId") == task_id:
        seen.append([event.get("type"), int(event.get("version", 0))])
print(json.dumps(seen))
PY
}
for watch in watch watch-sync watch-sync-2; do
    await 10 "$watch sees the task created and renamed" "$scratch/watch-seen.json" \
        'len(json.load(sys.stdin)) >= 2' watch_events "$scratch/$watch.json"
done
sleep 1 # a duplicate would arrive right behind
for watch in watch watch-sync watch-sync-2; do
    watch_events "$scratch/$watch.json" >"$scratch/watch-seen.json"
    [ "$(cat "$scratch/watch-seen.json")" = '[["TASK_EVENT_TYPE_CREATED", 1], ["TASK_EVENT_TYPE_UPDATED", 2]]' ] \
        || fail "$watch saw the task's events not exactly once each: $(cat "$scratch/watch-seen.json")"
done
kill "$watch_pid" "${replica_watch_pids[@]}" 2>/dev/null || true

# recurring: a daily task completed gets its next occurrence, due a day later.
due=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)).replace(microsecond=0).isoformat().replace("+00:00", "Z"))')
daily=$(grpcurl -plaintext "${auth[@]}" \
    -d "{\"title\": \"Daily smoke\", \"dueTime\": \"$due\", \"timeZone\": \"Europe/Berlin\", \"recurrence\": {\"preset\": \"RECURRENCE_PRESET_DAILY\"}}" \
    "$address" todo.v1.TaskService/CreateTask) || fail "CreateTask of a daily task"
daily_id=$(json_field task.id <<<"$daily") || fail "no task id in $daily"
grpcurl -plaintext "${auth[@]}" -d "{\"task_id\": \"$daily_id\"}" "$address" todo.v1.TaskService/CompleteTask >/dev/null \
    || fail "CompleteTask"
await 30 "the next occurrence of the daily task" "$scratch/daily.json" \
    'sum(t["title"] == "Daily smoke" for t in json.load(sys.stdin).get("tasks", [])) == 2' \
    grpcurl -plaintext "${auth[@]}" -d '{"query": "Daily smoke"}' "$address" todo.v1.TaskService/ListTasks

# notification: a reminder 2 s ahead is listed, then marked read.
remind_at=$(python3 -c 'import datetime; print((datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=2)).isoformat(timespec="milliseconds").replace("+00:00", "Z"))')
grpcurl -plaintext "${auth[@]}" -d "{\"title\": \"Smoke reminder\", \"reminder\": {\"remindTime\": \"$remind_at\"}}" \
    "$address" todo.v1.TaskService/CreateTask >/dev/null || fail "CreateTask with a reminder"
await 10 "the reminder due at $remind_at is listed" "$scratch/notifications.json" \
    'json.load(sys.stdin).get("unreadCount") == 1' \
    grpcurl -plaintext "${auth[@]}" -d '{}' "$address" todo.v1.NotificationService/ListNotifications
id=$(json_field notifications.0.id <"$scratch/notifications.json") || fail "no notification id"
grpcurl -plaintext "${auth[@]}" -d "{\"notificationIds\": [\"$id\"]}" \
    "$address" todo.v1.NotificationService/MarkRead >/dev/null || fail "MarkRead"
listed=$(grpcurl -plaintext "${auth[@]}" -d '{}' "$address" todo.v1.NotificationService/ListNotifications) \
    || fail "ListNotifications after MarkRead"
grep -q '"unreadCount"' <<<"$listed" && fail "still unread after MarkRead: $listed"
grep -q '"read": true' <<<"$listed" || fail "not marked read: $listed"

# recurring, seconds later: still exactly one next occurrence (no redelivery made a second).
listed=$(grpcurl -plaintext "${auth[@]}" -d '{"query": "Daily smoke"}' "$address" todo.v1.TaskService/ListTasks) \
    || fail "ListTasks of the daily task"
count=$(python3 -c 'import json, sys; print(sum(t["title"] == "Daily smoke" for t in json.load(sys.stdin).get("tasks", [])))' <<<"$listed")
[ "$count" = 2 ] || fail "the daily task has $count tasks, not itself and one next occurrence: $listed"

if [ -n "${GRPCURL_SMOKE_METRICS_OUT:-}" ]; then
    : > "$GRPCURL_SMOKE_METRICS_OUT"
    for app in "${apps[@]}"; do
        python3 - "$app" "http://127.0.0.1:${admin_port[$app]}/metrics" >>"$GRPCURL_SMOKE_METRICS_OUT" <<'PY' \
            || fail "no /metrics from $app on its admin port ${admin_port[$app]}"
import sys, urllib.request
app, url = sys.argv[1], sys.argv[2]
for line in urllib.request.urlopen(url, timeout=5).read().decode().splitlines():
    print(f"{app}\t{line}")
PY
    done
fi

echo "grpcurl-smoke: ok (six apps; list, describe, health on the gateway; health and reflection on every app's" \
    "own port with its token, Unauthenticated without; SignUp, SignIn, CreateTask, InvalidArgument with decoded" \
    "details, ListTasks; history with the title's diff (audit.db 0600 locally); WatchTasks, and each of two sync replicas," \
    "saw each of the task's events once; a daily task's one next occurrence; a reminder listed and marked read)"
