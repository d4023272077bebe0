#!/usr/bin/env bash
# Runs a command in the real-Dapr test environment (issue #9): Dapr v1.18.3's daprd and Scheduler
# built from tools/dapr, a throwaway PostgreSQL (scripts/with-test-postgres.sh), one Apache Kafka
# node (tools/kafka/run.sh) with the suite's topics, and the Scheduler (standalone, embedded etcd
# in a temporary directory), each on free ports of 127.0.0.1 and each waited for with a deadline.
# daprd itself is not started: the command starts one per app (see TODO_DAPRD).
#
# Usage: scripts/with-real-dapr.sh COMMAND [ARG...]
#   e.g. scripts/with-real-dapr.sh scripts/real-dapr-components-smoke.sh
#
# Set for COMMAND:
#   TODO_TEST_DAPR=real         tests run against the real daprd, not localdapr
#   TODO_DAPRD                  the daprd binary
#   TODO_DAPR_SCHEDULER         the Scheduler's address (127.0.0.1:PORT), for --scheduler-host-address
#   TODO_KAFKA_BROKERS          the Kafka broker (127.0.0.1:PORT, PLAINTEXT)
#   TODO_KAFKA_CLASSPATH        Kafka's jars (java -cp), for its tools (topics, console consumer)
#   TODO_KAFKA_TOPICS           the topics created (space-separated)
#   TODO_TEST_POSTGRES_URL      the PostgreSQL database (with TODO_TEST_POSTGRES_LOG and _DATA)
#   TODO_REAL_DAPR_DIR          a directory for the run's logs and files (the Scheduler's log is
#                               there); deleted afterwards unless TODO_REAL_DAPR_KEEP=1
# COMMAND's standard input is /dev/null. When COMMAND fails, the ends of the Scheduler's, Kafka's
# and PostgreSQL's logs are printed. The exit status is COMMAND's (130/143 when interrupted).
#
# Settings: KAFKA_TOPICS (default: the suite's topics and the outbox's internal topic, below),
# TODO_REAL_DAPR_START_TIMEOUT (seconds for the Scheduler to be healthy; default 60),
# TODO_REAL_DAPR_KEEP=1; tools/kafka/run.sh's and tools/dapr/build.sh's own settings.
#
# No orphans. Everything the run starts lives in one process group, a session of its own that
# this script leads from outside (setsid), so one signal reaches all of it:
#   - SIGINT/SIGTERM/SIGHUP here are forwarded to the group as SIGTERM; each nested wrapper then
#     stops its piece (COMMAND, the Scheduler, Kafka, PostgreSQL), SIGKILL after 60 s;
#   - when COMMAND has ended, whatever is left in the group (a daprd a test did not stop) is
#     stopped the same way;
#   - if this script is SIGKILLed, a watchdog does the same: it runs in a session of its own and
#     holds the read end of a pipe whose only writer is this script, so the kernel's closing of the
#     pipe when this script dies is its signal. PostgreSQL is the one process outside the group
#     (pg_ctl starts it in a session of its own); the watchdog stops it through its postmaster.pid
#     if with-test-postgres.sh could not. (setpriv --pdeathsig alone would not do: it does not
#     reach grandchildren, and pg_ctl's daemon is not a child at all.)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
root="$(dirname "$here")"

log() { echo "with-real-dapr: $*" >&2; }
now_ms() { date +%s%3N; }
seconds_since() { # START_MS: seconds since then, one decimal
    local elapsed=$(($(now_ms) - $1))
    printf '%d.%d' $((elapsed / 1000)) $((elapsed % 1000 / 100))
}
# Outbox topic: daprd's outbox publishes each upsert first to <namespace><app id><topic>outbox and
# its namespace is "default" outside Kubernetes (reference §5.4; pkg/runtime/pubsub/outbox.go).
default_topics="task-events task-events-dlq reminders reminders-dlq defaulttodo-apitask-eventsoutbox"

# Stops what is left of a run: PGID's process group (SIGTERM, then SIGKILL after GRACE seconds),
# then a PostgreSQL whose data directory RUN_DIR/postgres.data names, if it still runs.
sweep() { # PGID RUN_DIR GRACE
    local pgid=$1 run_dir=$2 grace=$3 deadline data pid
    if kill -0 -- "-$pgid" 2>/dev/null; then
        log "stopping what is left in the run's process group $pgid:" \
            "$(ps -o pid=,comm= -g "$pgid" 2>/dev/null | tr -s ' \n' ' ')"
        kill -TERM -- "-$pgid" 2>/dev/null || true
        deadline=$((SECONDS + grace))
        while kill -0 -- "-$pgid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        if kill -KILL -- "-$pgid" 2>/dev/null; then log "killed process group $pgid after ${grace}s"; fi
    fi
    data="$(cat "$run_dir/postgres.data" 2>/dev/null || true)"
    case "$data" in
        */todo-test-postgres.*/data) ;;
        *) return 0 ;;
    esac
    pid="$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)"
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        log "stopping the PostgreSQL server left running (pid $pid)"
        kill -QUIT "$pid" 2>/dev/null || true # immediate shutdown
        deadline=$((SECONDS + 10))
        while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -rf "$(dirname "$data")"
}

# free_ports N: N distinct free ports of 127.0.0.1 (all bound at once, released on return).
free_ports() {
    python3 -c '
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))' "$1"
}

# Prints the last lines of each log, for a failed COMMAND.
print_log_tails() {
    local name file
    for name in "Scheduler:$TODO_REAL_DAPR_DIR/scheduler.log" "Kafka:${KAFKA_LOG:-}" \
            "PostgreSQL:${TODO_TEST_POSTGRES_LOG:-}"; do
        file="${name#*:}"
        if [ -n "$file" ] && [ -r "$file" ]; then
            echo "---- $(basename "$file") (${name%%:*}), last 40 lines:" >&2
            tail -n 40 "$file" >&2
        fi
    done
    echo "---- other files in $TODO_REAL_DAPR_DIR (TODO_REAL_DAPR_KEEP=1 keeps them):" >&2
    find "$TODO_REAL_DAPR_DIR" -maxdepth 2 -name '*.log' ! -name scheduler.log >&2 || true
}

case "${1:-}" in
    # ---- The watchdog: waits for the supervisor's pipe to close, then sweeps.
    --watchdog)
        pgid=$2 run_dir=$3
        # The first line is "started"; "done" means the supervisor cleaned up itself.
        last=""
        while IFS= read -r line; do last="$line"; done
        if [ "$last" != "done" ]; then
            log "the supervisor died (killed?); cleaning up after it"
            sweep "$pgid" "$run_dir" 30
            if [ "${TODO_REAL_DAPR_KEEP:-}" != 1 ]; then rm -rf "$run_dir"; fi
        fi
        exit 0
        ;;

    # ---- Inside with-test-postgres.sh: PostgreSQL is up. Next: Kafka, around the last stage.
    --after-postgres)
        shift
        echo "$TODO_TEST_POSTGRES_DATA" > "$TODO_REAL_DAPR_DIR/postgres.data"
        _TODO_REAL_DAPR_TIMES="$_TODO_REAL_DAPR_TIMES postgres=$(seconds_since "$_TODO_REAL_DAPR_MARK")"
        _TODO_REAL_DAPR_MARK="$(now_ms)"
        export _TODO_REAL_DAPR_TIMES _TODO_REAL_DAPR_MARK
        export KAFKA_TOPICS="${KAFKA_TOPICS:-$default_topics}"
        exec "$root/tools/kafka/run.sh" "$self" --inside "$@"
        ;;

    # ---- Inside tools/kafka/run.sh: Kafka is up. Start the Scheduler, run COMMAND.
    --inside)
        shift
        times="$_TODO_REAL_DAPR_TIMES kafka=$(seconds_since "$_TODO_REAL_DAPR_MARK")"
        mark="$(now_ms)"
        bin="$_TODO_REAL_DAPR_BIN"
        read -r grpc_port etcd_port peer_port health_port metrics_port <<<"$(free_ports 5)"
        scheduler_pid=""
        # shellcheck disable=SC2329 # invoked by the EXIT trap
        stop_scheduler() {
            if [ -n "$scheduler_pid" ] && kill -0 "$scheduler_pid" 2>/dev/null; then
                kill -TERM "$scheduler_pid" 2>/dev/null || true
                for _ in $(seq 1 200); do kill -0 "$scheduler_pid" 2>/dev/null || break; sleep 0.1; done
                kill -KILL "$scheduler_pid" 2>/dev/null || true
            fi
        }
        trap stop_scheduler EXIT
        trap 'exit 130' INT
        trap 'exit 143' TERM
        # Standalone mode, etcd embedded with its data in the run's directory; every port moved
        # off its default (2379/2380/8080/9090/50006), the peer port through the initial cluster.
        # --pdeathsig: the kernel stops it if this shell dies without its trap.
        (cd "$TODO_REAL_DAPR_DIR" && exec setpriv --pdeathsig KILL -- "$bin/scheduler" \
            --listen-address 127.0.0.1 --port "$grpc_port" \
            --etcd-data-dir "$TODO_REAL_DAPR_DIR/scheduler-etcd" \
            --etcd-client-listen-address 127.0.0.1 --etcd-client-port "$etcd_port" \
            --etcd-initial-cluster "dapr-scheduler-server-0=http://127.0.0.1:$peer_port" \
            --healthz-port "$health_port" \
            --metrics-listen-address 127.0.0.1 --metrics-port "$metrics_port" \
            --log-level info) >"$TODO_REAL_DAPR_DIR/scheduler.log" 2>&1 &
        scheduler_pid=$!
        # Healthy: /healthz answers 200 once its gRPC listener and embedded etcd are up.
        deadline=$((SECONDS + ${TODO_REAL_DAPR_START_TIMEOUT:-60}))
        until curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$health_port/healthz" 2>/dev/null; do
            if ! kill -0 "$scheduler_pid" 2>/dev/null; then
                log "the Scheduler exited before it was healthy; the end of its log:"
                tail -n 40 "$TODO_REAL_DAPR_DIR/scheduler.log" >&2
                scheduler_pid=""
                exit 1
            fi
            if [ "$SECONDS" -ge "$deadline" ]; then
                log "the Scheduler was not healthy within ${TODO_REAL_DAPR_START_TIMEOUT:-60}s; the end of its log:"
                tail -n 40 "$TODO_REAL_DAPR_DIR/scheduler.log" >&2
                exit 1
            fi
            sleep 0.1
        done
        times="$times scheduler=$(seconds_since "$mark")"

        export TODO_TEST_DAPR=real TODO_DAPRD="$bin/daprd" TODO_DAPR_SCHEDULER="127.0.0.1:$grpc_port" \
            TODO_KAFKA_BROKERS="$KAFKA_BOOTSTRAP_SERVERS" TODO_KAFKA_CLASSPATH="$KAFKA_CLASSPATH" \
            TODO_KAFKA_TOPICS="$KAFKA_TOPICS"
        unset _TODO_REAL_DAPR_TIMES _TODO_REAL_DAPR_MARK _TODO_REAL_DAPR_BIN
        log "ready in $(seconds_since "$_TODO_REAL_DAPR_T0")s;$times (seconds; Kafka includes its topics)." \
            "Scheduler $TODO_DAPR_SCHEDULER, Kafka $TODO_KAFKA_BROKERS, logs in $TODO_REAL_DAPR_DIR"
        status=0
        "$@" || status=$?
        if [ "$status" -ne 0 ]; then
            log "$1 failed (exit $status)"
            print_log_tails
        fi
        exit "$status"
        ;;

    "" | -*)
        echo "usage: $0 COMMAND [ARG...]" >&2
        exit 64
        ;;
esac

# ---- The supervisor: tools, then the nested run in a session of its own, watched.
start_ms="$(now_ms)"
mark="$start_ms"
if ! "$root/tools/dapr/build.sh" >&2; then
    log "tools/dapr/build.sh failed: no daprd/Scheduler"
    exit 69
fi
bin="$("$root/tools/dapr/build.sh" --print-dir)"
times="dapr-build=$(seconds_since "$mark")"
mark="$(now_ms)"
if ! "$root/tools/kafka/fetch.sh" >/dev/null; then
    log "tools/kafka/fetch.sh failed: no Kafka"
    exit 69
fi
times="$times kafka-jars=$(seconds_since "$mark")"

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/todo-real-dapr.XXXXXX")"
mark="$(now_ms)"
export TODO_REAL_DAPR_DIR="$run_dir" _TODO_REAL_DAPR_BIN="$bin" _TODO_REAL_DAPR_T0="$start_ms" \
    _TODO_REAL_DAPR_TIMES="$times" _TODO_REAL_DAPR_MARK="$mark"

signalled=""
chain=""
# shellcheck disable=SC2329 # invoked by the signal traps
forward() { # SIGNAL
    if [ -z "$signalled" ] && [ -n "$chain" ]; then
        signalled=$1
        kill_at=$((SECONDS + 60))
        log "got SIG$1; stopping the run (SIGKILL in 60 s)"
        kill -TERM -- "-$chain" 2>/dev/null || true
    fi
}
trap 'forward INT' INT
trap 'forward TERM' TERM
trap 'forward HUP' HUP
# Whether the chain still runs (a zombie has ended: only wait's reaping is left).
chain_running() {
    local stat
    stat="$(cat "/proc/$chain/stat" 2>/dev/null)" || return 1
    stat="${stat##*) }"
    [ "${stat:0:1}" != Z ]
}

# A background job without job control is not a process group leader, so setsid makes it the
# leader of a new session without forking: its pid is the group's id.
setsid "$here/with-test-postgres.sh" "$self" --after-postgres "$@" &
chain=$!
exec {watchdog}> >(exec setsid "$self" --watchdog "$chain" "$run_dir")
echo started >&"$watchdog"

# Until a signal comes, wait for the chain. wait returns early (status > 128) when a trap runs,
# without reaping: then poll, so that the chain gets SIGKILL at its deadline, and reap it.
status=""
while [ -z "$status" ]; do
    if [ -z "$signalled" ]; then
        # Without a signal, wait returns only when the chain has ended.
        if wait "$chain"; then status=0; else code=$?; [ -n "$signalled" ] || status=$code; fi
    elif chain_running; then
        if [ "$SECONDS" -ge "$kill_at" ]; then kill -KILL -- "-$chain" 2>/dev/null || true; fi
        sleep 0.2
    else
        if wait "$chain"; then status=0; else status=$?; fi
    fi
done

sweep "$chain" "$run_dir" 20
if [ "${TODO_REAL_DAPR_KEEP:-}" = 1 ]; then
    log "kept $run_dir"
else
    rm -rf "$run_dir"
fi
echo "done" >&"$watchdog"
exec {watchdog}>&-
log "finished in $(seconds_since "$start_ms")s (exit $status)"
exit "$status"
