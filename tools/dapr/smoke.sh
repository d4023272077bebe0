#!/usr/bin/env bash
# Smoke test of the binaries build.sh made: starts the Scheduler (standalone,
# embedded etcd, temp data dir) and daprd (app id "probe", no app, a
# state.sqlite and a pubsub.in-memory component, Scheduler address), all on
# free loopback ports; waits for both to be healthy; saves and reads a state
# key over daprd's HTTP API; publishes one event; stops both with SIGTERM and
# checks they exit. Prints timings. Exit code 0 only if every step passed.
#
#   tools/dapr/smoke.sh [BIN_DIR]
#
# BIN_DIR defaults to the directory build.sh prints (see build.sh --print-dir).
# It must hold `scheduler`; `daprd` is optional (without it, only the
# Scheduler is checked and the script says so and exits 2).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${1:-$("$here/build.sh" --print-dir)}"
work="$(mktemp -d "${TMPDIR:-/tmp}/dapr-smoke.XXXXXX")"
keep="${KEEP_SMOKE_DIR:-}"
pids=()

now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2])-float(sys.argv[1]):.2f}')" "$1" "$(now)"; }

cleanup() {
  local rc=$?
  for p in "${pids[@]}"; do
    if kill -0 "$p" 2>/dev/null; then kill -TERM "$p" 2>/dev/null || true; fi
  done
  for p in "${pids[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    if kill -0 "$p" 2>/dev/null; then kill -KILL "$p" 2>/dev/null || true; fi
  done
  if [ "$rc" -ne 0 ]; then
    for f in "$work"/*.log; do
      [ -f "$f" ] || continue
      echo "---- last lines of $f"; tail -n 40 "$f"
    done
  fi
  if [ -z "$keep" ]; then rm -rf "$work"; else echo "kept $work"; fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# N free loopback ports (bound together, released just before use).
free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# wait_http URL SECONDS: until URL answers 2xx.
wait_http() {
  local url=$1 limit=$2 start; start=$(now)
  while ! curl -fsS -o /dev/null "$url" 2>/dev/null; do
    if python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) > float(sys.argv[2]) else 1)" "$(since "$start")" "$limit"; then
      echo "timed out after ${limit}s waiting for $url" >&2; return 1
    fi
    sleep 0.05
  done
}

# stop PID NAME: SIGTERM, wait up to 20 s, report.
stop() {
  local pid=$1 name=$2 t; t=$(now)
  kill -TERM "$pid"
  for _ in $(seq 1 400); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  if kill -0 "$pid" 2>/dev/null; then echo "FAIL: $name still running 20 s after SIGTERM" >&2; return 1; fi
  local rc=0; wait "$pid" || rc=$?
  echo "$name stopped in $(since "$t") s (exit $rc)"
}

[ -x "$bin/scheduler" ] || { echo "no $bin/scheduler: run build.sh first" >&2; exit 1; }

read -r S_GRPC S_ETCD S_PEER S_HEALTH S_METRICS D_HTTP D_GRPC D_INTERNAL D_METRICS <<<"$(free_ports 9)"

# ---- Scheduler: standalone mode, embedded etcd in a temp dir.
sched_flags=(
  --listen-address 127.0.0.1 --port "$S_GRPC"
  --etcd-data-dir "$work/scheduler-etcd"
  --etcd-client-listen-address 127.0.0.1 --etcd-client-port "$S_ETCD"
  --etcd-initial-cluster "dapr-scheduler-server-0=http://127.0.0.1:$S_PEER"
  --healthz-port "$S_HEALTH"
  --metrics-listen-address 127.0.0.1 --metrics-port "$S_METRICS"
  --log-level info
)
echo "scheduler ${sched_flags[*]}"
t=$(now)
(cd "$work" && exec "$bin/scheduler" "${sched_flags[@]}") >"$work/scheduler.log" 2>&1 &
sched_pid=$!; pids+=("$sched_pid")
wait_http "http://127.0.0.1:$S_HEALTH/healthz" 60
echo "scheduler healthy in $(since "$t") s (healthz :$S_HEALTH, metrics :$S_METRICS, gRPC :$S_GRPC)"
curl -fsS -o /dev/null "http://127.0.0.1:$S_METRICS/metrics"
echo "scheduler metrics endpoint answers"

if [ ! -x "$bin/daprd" ]; then
  stop "$sched_pid" scheduler
  echo "no $bin/daprd: Scheduler checked, daprd not (see README.md)"
  exit 2
fi

# ---- daprd: no app, sqlite state + in-memory pubsub.
mkdir -p "$work/resources"
cat >"$work/resources/statestore.yaml" <<EOF
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: statestore
spec:
  type: state.sqlite
  version: v1
  metadata:
    - name: connectionString
      value: "$work/state.db"
EOF
cat >"$work/resources/pubsub.yaml" <<'EOF'
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: pubsub
spec:
  type: pubsub.in-memory
  version: v1
  metadata: []
EOF
daprd_flags=(
  --app-id probe
  --resources-path "$work/resources"
  --scheduler-host-address "127.0.0.1:$S_GRPC"
  --dapr-listen-addresses 127.0.0.1
  --dapr-http-port "$D_HTTP" --dapr-grpc-port "$D_GRPC"
  --dapr-internal-grpc-listen-address 127.0.0.1 --dapr-internal-grpc-port "$D_INTERNAL"
  --metrics-listen-address 127.0.0.1 --metrics-port "$D_METRICS"
  --log-level info
)
echo "daprd ${daprd_flags[*]}"
t=$(now)
(cd "$work" && exec "$bin/daprd" "${daprd_flags[@]}") >"$work/daprd.log" 2>&1 &
daprd_pid=$!; pids+=("$daprd_pid")
wait_http "http://127.0.0.1:$D_HTTP/v1.0/healthz" 60
echo "daprd healthy in $(since "$t") s (HTTP :$D_HTTP, gRPC :$D_GRPC, metrics :$D_METRICS)"

api="http://127.0.0.1:$D_HTTP/v1.0"
curl -fsS -X POST "$api/state/statestore" -H 'content-type: application/json' \
  -d '[{"key":"probe-key","value":{"hello":"dapr","n":1}}]'
got="$(curl -fsS "$api/state/statestore/probe-key")"
echo "state get: $got"
[ "$got" = '{"hello":"dapr","n":1}' ] || { echo "FAIL: unexpected state value" >&2; exit 1; }
curl -fsS -o /dev/null -w 'publish: HTTP %{http_code}\n' -X POST "$api/publish/pubsub/probe-topic" \
  -H 'content-type: application/json' -d '{"ping":1}'
# Jobs API (stored by the Scheduler): schedule far in the future, read back, delete.
curl -fsS -o /dev/null -w 'job schedule: HTTP %{http_code}\n' -X POST "$api/jobs/probe-job" \
  -H 'content-type: application/json' -d '{"dueTime":"1h","data":{"x":1}}'
job="$(curl -fsS "$api/jobs/probe-job")"
echo "job get: $job"
case "$job" in *'"name":"probe-job"'*) ;; *) echo "FAIL: unexpected job" >&2; exit 1 ;; esac
curl -fsS -o /dev/null -w 'job delete: HTTP %{http_code}\n' -X DELETE "$api/jobs/probe-job"
code="$(curl -s -o "$work/job-after-delete" -w '%{http_code}' "$api/jobs/probe-job")"
echo "job get after delete: HTTP $code $(cat "$work/job-after-delete")"
[ "$code" != 200 ] || { echo "FAIL: job still there after delete" >&2; exit 1; }
meta="$(curl -fsS "$api/metadata")"
echo "metadata: $(python3 -c 'import json,sys; m=json.load(sys.stdin); print(m.get("runtimeVersion"), sorted((c["name"], c["type"], c["version"]) for c in m.get("components", [])), m.get("scheduler"))' <<<"$meta")"
curl -fsS -o /dev/null "http://127.0.0.1:$D_METRICS/metrics"
echo "daprd metrics endpoint answers"
if grep -q 'Connected to Scheduler\|Connected and received scheduler hosts' "$work/daprd.log"; then
  echo "daprd log: connected to the Scheduler"
fi

stop "$daprd_pid" daprd
stop "$sched_pid" scheduler
if ss -ltn 2>/dev/null | grep -E ":($S_GRPC|$S_ETCD|$S_PEER|$S_HEALTH|$S_METRICS|$D_HTTP|$D_GRPC|$D_INTERNAL|$D_METRICS)\b" >/dev/null; then
  echo "FAIL: a port is still listening after both stopped" >&2; exit 1
fi
echo "smoke: OK"
