#!/usr/bin/env bash
# Smoke test of dapr-components/kubernetes on the real daprd, run under scripts/with-real-dapr.sh:
#   1. renders the components (scripts/real-dapr-resources.sh) and checks that Kafka has the
#      topics they need (the outbox's internal one among them: automatic creation is off);
#   2. starts daprd as todo-api (no app) and checks through GET /v1.0/metadata that statestore
#      (state.postgresql v2), pubsub (pubsub.kafka) and secretstore loaded, and nothing scoped to
#      other apps;
#   3. runs a state transaction on statestore and sees the outbox's message on the internal topic
#      and then on task-events (Kafka's console consumer), and the row in PostgreSQL (psql);
#   4. starts a second daprd as sync (POD_NAME=sync-0, for pubsub-sync's {podName}) and checks
#      that it loaded pubsub-sync, and that both sidecars found each other through the sqlite
#      name resolver (a service invocation from todo-api's sidecar reaches sync's);
#   5. stops both with SIGTERM.
# Each step fails with a clear message at its deadline; daprd's logs are in TODO_REAL_DAPR_DIR.
#
# Usage: scripts/with-real-dapr.sh scripts/real-dapr-components-smoke.sh
set -euo pipefail

for variable in TODO_DAPRD TODO_DAPR_SCHEDULER TODO_KAFKA_BROKERS TODO_KAFKA_CLASSPATH \
        TODO_TEST_POSTGRES_URL TODO_REAL_DAPR_DIR; do
    if [ -z "${!variable:-}" ]; then
        echo "$0: $variable is not set (run it under scripts/with-real-dapr.sh)" >&2
        exit 64
    fi
done
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$TODO_REAL_DAPR_DIR/components-smoke"
mkdir -p "$work"
# Internal outbox topic: <namespace><app id><outboxPublishTopic>outbox, namespace "default"
# outside Kubernetes (reference §5.4).
outbox_topic="defaulttodo-apitask-eventsoutbox"
needed_topics=(task-events task-events-dlq reminders reminders-dlq "$outbox_topic")

now_ms() { date +%s%3N; }
step_start="$(now_ms)"
step() { # NAME: reports the previous step's time
    echo "smoke: $1 ($(($(now_ms) - step_start)) ms)"
    step_start="$(now_ms)"
}
fail() {
    echo "smoke: FAIL: $*" >&2
    exit 1
}
free_ports() {
    python3 -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$1"
}
kafka_tool() { # MAIN_CLASS ARG...: one of Kafka's command-line tools, stopped after 90 s
    timeout 90 java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xlog:disable -Xlog:all=error:stderr \
        -Dlog4j2.configurationFile="$here/../tools/kafka/log4j2-tools.properties" \
        -cp "$TODO_KAFKA_CLASSPATH" "$@"
}

pids=()
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
    local pid
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do
        for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

token="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"

# start_daprd APP_ID POD_NAME: starts daprd (no app), waits for /v1.0/healthz; sets http_port,
# internal_port and daprd_pid. The API token guards its API, as every local run does.
start_daprd() {
    local app_id=$1 pod_name=$2 grpc_port metrics_port deadline
    read -r http_port grpc_port internal_port metrics_port <<<"$(free_ports 4)"
    # DAPR_HOST_IP: the address daprd registers with the name resolver (else the first
    # non-loopback one, which its loopback-only internal listener does not serve).
    env POD_NAME="$pod_name" DAPR_HOST_IP=127.0.0.1 DAPR_API_TOKEN="$token" \
        setpriv --pdeathsig KILL -- "$TODO_DAPRD" \
        --app-id "$app_id" \
        --resources-path "$work/resources" --config "$work/config.yaml" \
        --scheduler-host-address "$TODO_DAPR_SCHEDULER" \
        --dapr-listen-addresses 127.0.0.1 \
        --dapr-http-port "$http_port" --dapr-grpc-port "$grpc_port" \
        --dapr-internal-grpc-listen-address 127.0.0.1 --dapr-internal-grpc-port "$internal_port" \
        --metrics-listen-address 127.0.0.1 --metrics-port "$metrics_port" \
        --log-level info >"$TODO_REAL_DAPR_DIR/daprd-$app_id.log" 2>&1 &
    daprd_pid=$!
    pids+=("$daprd_pid")
    deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$http_port/v1.0/healthz" 2>/dev/null; do
        if ! kill -0 "$daprd_pid" 2>/dev/null; then
            tail -n 30 "$TODO_REAL_DAPR_DIR/daprd-$app_id.log" >&2
            fail "daprd $app_id exited before it was healthy (log above)"
        fi
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail -n 30 "$TODO_REAL_DAPR_DIR/daprd-$app_id.log" >&2
            fail "daprd $app_id was not healthy within 60 s (log above)"
        fi
        sleep 0.1
    done
}

api() { # PORT METHOD PATH [BODY]: daprd's HTTP API with the token; prints the body
    curl -fsS --max-time 30 -X "$2" -H "dapr-api-token: $token" -H 'content-type: application/json' \
        ${4:+--data "$4"} "http://127.0.0.1:$1/v1.0$3"
}

# check_components PORT EXPECTED UNEXPECTED: metadata lists every name:type:version of EXPECTED
# (space-separated) and no component named in UNEXPECTED.
check_components() {
    api "$1" GET /metadata | python3 -c '
import json, sys
metadata = json.load(sys.stdin)
loaded = {c["name"]: ":".join((c["name"], c["type"], c["version"])) for c in metadata.get("components", [])}
expected, unexpected = sys.argv[1].split(), sys.argv[2].split()
missing = [e for e in expected if e not in loaded.values()]
extra = [u for u in unexpected if u in loaded]
print("  loaded:", ", ".join(sorted(loaded.values())))
if missing or extra:
    sys.exit("smoke: FAIL: %s: missing %s, should not load %s" % (metadata.get("id"), missing, extra))
' "$2" "$3"
}

# ---- 1. Components and topics.
"$here/real-dapr-resources.sh" "$work" "$work/secrets.json"
listed="$(kafka_tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$TODO_KAFKA_BROKERS" --list)" \
    || fail "could not list Kafka's topics"
for topic in "${needed_topics[@]}"; do
    grep -qx -- "$topic" <<<"$listed" || fail "Kafka has no topic $topic (automatic creation is off; create it)"
done
step "rendered the components; Kafka has ${needed_topics[*]}"

# ---- 2. todo-api's sidecar.
start_daprd todo-api todo-api-0
api_port=$http_port
api_internal_port=$internal_port
step "daprd todo-api healthy on :$api_port"
check_components "$api_port" \
    "statestore:state.postgresql:v2 pubsub:pubsub.kafka:v1 secretstore:secretstores.local.file:v1" \
    "appstate pubsub-sync"
api "$api_port" GET /metadata | python3 -c '
import json, sys
scheduler = json.load(sys.stdin).get("scheduler") or {}
if sys.argv[1] not in scheduler.get("connected_addresses", []):
    sys.exit(f"smoke: FAIL: daprd todo-api is not connected to the Scheduler {sys.argv[1]}: {scheduler}")
' "$TODO_DAPR_SCHEDULER"
step "todo-api loaded statestore (postgresql v2), pubsub (kafka), secretstore; Scheduler connected"

# ---- 3. A transaction through the outbox.
marker="smoke-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
api "$api_port" POST /state/statestore/transaction \
    "{\"operations\":[{\"operation\":\"upsert\",\"request\":{\"key\":\"$marker\",\"value\":{\"marker\":\"$marker\"},\"metadata\":{\"contentType\":\"application/json\"}}}]}" \
    || fail "the state transaction on statestore failed"
step "state transaction committed (key $marker)"

# consume TOPIC: the first message whose value holds the marker, within 60 s (from the beginning).
consume() {
    local output
    output="$(kafka_tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$TODO_KAFKA_BROKERS" \
        --topic "$1" --from-beginning --max-messages 1 --timeout-ms 60000 2>"$work/consume-$1.log")" || true
    if ! grep -q -- "$marker" <<<"$output"; then
        cat "$work/consume-$1.log" >&2
        fail "no message with $marker on $1 within 60 s (got: ${output:-nothing})"
    fi
    printf '%s\n' "$output"
}
consume "$outbox_topic" >/dev/null
step "the outbox's internal message is on $outbox_topic"
published="$(consume task-events)"
python3 -c '
import json, sys
event = json.loads(sys.argv[1])
problems = [f"{name}={event.get(name)!r}" for name, want in
            (("topic", "task-events"), ("pubsubname", "pubsub"), ("source", "todo-api"))
            if event.get(name) != want]
if event.get("data", {}).get("marker") != sys.argv[2]:
    problems.append("data=%r" % (event.get("data"),))
if problems:
    sys.exit("smoke: FAIL: the CloudEvent on task-events: " + ", ".join(problems))
print("  task-events:", json.dumps({k: event.get(k) for k in ("id", "source", "type", "topic", "pubsubname", "datacontenttype", "data")}))
' "$published" "$marker"
step "the outbox published it to task-events"

# The row, and no outbox marker left once the message is out (the outbox deletes it).
psql_value() { PGCONNECT_TIMEOUT=10 timeout 30 psql "$TODO_TEST_POSTGRES_URL" -X -q -A -t -v ON_ERROR_STOP=1 -c "$1"; }
row="$(psql_value "select convert_from(value, 'UTF8') from tasks_state where key = 'todo-api||$marker'")" \
    || fail "psql could not read tasks_state"
case "$row" in
    *"\"marker\":\"$marker\""*) ;;
    *) fail "tasks_state has no row todo-api||$marker (got: ${row:-nothing})" ;;
esac
deadline=$((SECONDS + 15))
until [ "$(psql_value "select count(*) from tasks_state where key like 'outbox-%'")" = 0 ]; do
    [ "$SECONDS" -lt "$deadline" ] || fail "the outbox's marker rows are still in tasks_state after 15 s"
    sleep 0.2
done
step "the row is in PostgreSQL (tasks_state), the outbox's marker is gone"

# ---- 4. sync's sidecar, and the name resolver.
start_daprd sync sync-0
sync_port=$http_port
step "daprd sync healthy on :$sync_port"
check_components "$sync_port" \
    "pubsub-sync:pubsub.kafka:v1 secretstore:secretstores.local.file:v1" "statestore pubsub appstate"
step "sync loaded pubsub-sync (kafka, consumerID {podName} = sync-0)"
python3 -c '
import sqlite3, sys
rows = sqlite3.connect(sys.argv[1]).execute("select app_id, address from hosts").fetchall()
print("  name resolver:", sorted(rows))
if ("todo-api", f"127.0.0.1:{sys.argv[2]}") not in rows:
    sys.exit("smoke: FAIL: todo-api is not registered in the sqlite name resolver")
' "$work/nameresolution.db" "$api_internal_port"
# sync's sidecar has no app: the call must get past name resolution to sync's sidecar, whose
# gRPC answer is that it has no app channel (an unresolved id fails before any rpc).
answer="$(curl -sS --max-time 30 -H "dapr-api-token: $token" \
    "http://127.0.0.1:$api_port/v1.0/invoke/sync/method/ping" || true)"
echo "  todo-api -> sync: $answer"
case "$answer" in
    *ERR_DIRECT_INVOKE*"rpc error"*"app channel is not initialized"*) ;;
    *) fail "service invocation todo-api -> sync did not reach sync's sidecar" ;;
esac
step "todo-api's sidecar resolved and reached sync's (sqlite name resolution)"

# ---- 5. Stop.
for pid in "${pids[@]}"; do
    kill -TERM "$pid"
    deadline=$((SECONDS + 20))
    while kill -0 "$pid" 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || fail "daprd (pid $pid) still runs 20 s after SIGTERM"
        sleep 0.1
    done
    wait "$pid" || fail "daprd (pid $pid) exited with status $? after SIGTERM"
done
pids=()
step "both sidecars stopped"
echo "smoke: OK"
