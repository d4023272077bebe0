#!/usr/bin/env bash
# A throwaway Apache Kafka 4.x for tests: one KRaft node that is broker and controller at once,
# on free ports of 127.0.0.1, its storage formatted in a new temporary directory on every run,
# the suite's topics created explicitly (automatic topic creation is off, as on Kubernetes),
# and the JVM stopped and the directory deleted when the run ends, fails or is interrupted.
# The jars come from tools/kafka/fetch.sh (Maven Central, cached outside the clone).
#
# Usage:
#   tools/kafka/run.sh COMMAND [ARG...]  runs COMMAND beside the broker, with the variables below
#   tools/kafka/run.sh --serve           starts it, prints the variables below on stdout, and keeps
#                                        it up until SIGINT/SIGTERM (Ctrl-C)
#   tools/kafka/run.sh --smoke           starts it, sends one message through task-events with the
#                                        console producer and reads it back with the console
#                                        consumer, prints the times taken, and stops it
#
# Set for COMMAND (and printed by --serve):
#   KAFKA_BOOTSTRAP_SERVERS   127.0.0.1:PORT, the PLAINTEXT listener
#   KAFKA_DIR                 the run's directory: server.properties, server.log, data/
#   KAFKA_LOG                 $KAFKA_DIR/server.log (print it when a test fails)
#   KAFKA_CLASSPATH           the jars' classpath, for Kafka's own tools
#
# Settings (environment):
#   KAFKA_TOPICS          topics to create; default: task-events reminders task-events-dlq reminders-dlq
#   KAFKA_PARTITIONS      partitions of each topic; default 1
#   KAFKA_AUTO_CREATE_TOPICS=true  let the broker create topics on first use (default false:
#                         the suite's topics are created explicitly, as in Kubernetes; the
#                         conformance suite on daprd needs per-test namespaced topics)
#   KAFKA_HEAP_OPTS       the broker's heap; default -Xms128m -Xmx512m
#   KAFKA_START_TIMEOUT   seconds to wait for the broker to be ready; default 120
#   KAFKA_KEEP_DIR=1      keep $KAFKA_DIR after the run (to read its logs)
#   JAVA_HOME             the JDK to use (17 or newer); default: java on PATH
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
mode="command"
case "${1:-}" in
    "") echo "usage: $0 COMMAND [ARG...] | --serve | --smoke" >&2; exit 64 ;;
    --serve) mode=serve ;;
    --smoke) mode=smoke ;;
    -*) echo "$0: unknown option $1 (usage: $0 COMMAND [ARG...] | --serve | --smoke)" >&2; exit 64 ;;
esac

java="${JAVA_HOME:+$JAVA_HOME/bin/}java"
if ! command -v "$java" >/dev/null 2>&1; then
    echo "$0: no java (Kafka 4.x needs Java 17 or newer): apt-get install -y openjdk-17-jre-headless" >&2
    exit 69
fi
topics="${KAFKA_TOPICS:-task-events reminders task-events-dlq reminders-dlq}"
partitions="${KAFKA_PARTITIONS:-1}"
auto_create="${KAFKA_AUTO_CREATE_TOPICS:-false}"
timeout="${KAFKA_START_TIMEOUT:-120}"
# shellcheck disable=SC2206 # word splitting of the options is wanted
heap=(${KAFKA_HEAP_OPTS:--Xms128m -Xmx512m})

t0=$SECONDS
now_ms() { date +%s%3N; }
start_ms="$(now_ms)"

classpath="$("$here/fetch.sh" --classpath)"
fetched_ms="$(now_ms)"

# Class-data sharing (AppCDS): the first run records the classes the broker and the tools load
# into two archives beside the jars (the broker's is written when it stops), and later runs map
# them instead of loading the classes again (measured: broker start-to-ready 7.4 s -> 4.6 s, a
# tool 1.5 s -> 0.7 s). An archive made by another JDK is rejected by the JVM, which then runs
# without it; it is remade when the java binary is newer than it. KAFKA_CDS=0 turns this off.
# -Xlog: the JVM's own warnings (CDS's among them) must not reach a tool's stdout.
jvm_log=(-Xlog:disable -Xlog:all=error:stderr)
cds_dir="$(dirname "${classpath%/\*}")/cds"
java_real="$(readlink -f "$(command -v "$java")")"
cds_key="$(printf '%s' "$java_real" | sha256sum | cut -c1-12)"
cds_args() { # ROLE: the options that use ROLE's archive, or record it when there is none yet
    local archive="$cds_dir/$1-$cds_key.jsa"
    if [ "${KAFKA_CDS:-1}" = 0 ]; then return; fi
    if [ -f "$archive" ] && [ ! "$java_real" -nt "$archive" ]; then
        echo "-XX:SharedArchiveFile=$archive"
    elif mkdir -p "$cds_dir" 2>/dev/null; then
        echo "-XX:ArchiveClassesAtExit=$cds_dir/.$1-$cds_key.$$.jsa"
    fi
}
cds_keep() { # ROLE: moves an archive this run recorded into place
    local recorded="$cds_dir/.$1-$cds_key.$$.jsa"
    if [ -f "$recorded" ]; then mv -f "$recorded" "$cds_dir/$1-$cds_key.jsa"; fi
}
tools_cds="$(cds_args tools)"

# Short-lived tools: a small heap, one GC thread, and only the quick JIT (they start faster).
# A call with TOOL_RECORD=1 records the tools' archive when there is none yet; the others only use
# it (the first topic creation records it: the admin client's classes are the ones worth having).
tool() {
    local cds="" status=0
    case "$tools_cds" in
        -XX:SharedArchiveFile=*) cds="$tools_cds" ;;
        -XX:ArchiveClassesAtExit=*) if [ "${TOOL_RECORD:-}" = 1 ]; then cds="$tools_cds"; fi ;;
    esac
    # shellcheck disable=SC2086 # $cds is one option or none
    "$java" -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 "${jvm_log[@]}" $cds \
        -Dlog4j2.configurationFile="$here/log4j2-tools.properties" -cp "$classpath" "$@" || status=$?
    if [ -n "$cds" ] && [ "$cds" != "${cds#-XX:ArchiveClassesAtExit=}" ]; then
        cds_keep tools
        tools_cds="$(cds_args tools)"
    fi
    return "$status"
}

# Directories of earlier runs that were killed (SIGKILL leaves no trap to run) go first: each
# holds the pid of the script that made it.
for stale in "${TMPDIR:-/tmp}"/todo-kafka.*; do
    if [ -f "$stale/owner.pid" ] && ! kill -0 "$(cat "$stale/owner.pid")" 2>/dev/null; then
        rm -rf "$stale"
    fi
done
dir="$(mktemp -d "${TMPDIR:-/tmp}/todo-kafka.XXXXXX")"
echo "$$" > "$dir/owner.pid"
pid=""
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
    local status=$?
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        # A KRaft node alone in its quorum shuts down in a second or two (plus a few the first
        # time, while the JVM writes its class-data archive); SIGKILL after 30 s.
        stop_ms="$(now_ms)"
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            echo "kafka: the broker (pid $pid) did not stop within 30 s; killing it" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
        echo "kafka: stopped in $(($(now_ms) - stop_ms)) ms" >&2
        cds_keep broker
    fi
    # A failed run shows the broker's log; an interrupted one (130, 143) or a failed COMMAND does
    # not (COMMAND's harness has $KAFKA_LOG).
    if [ "$status" -ne 0 ] && [ "$status" -ne 130 ] && [ "$status" -ne 143 ] \
            && [ -f "$dir/server.log" ] && [ "$mode" != command ]; then
        echo "kafka: the run failed; the end of $dir/server.log:" >&2
        tail -n 40 "$dir/server.log" >&2
    fi
    if [ "${KAFKA_KEEP_DIR:-}" = 1 ]; then
        rm -f "$dir/owner.pid" # not a killed run's: the next run leaves it alone
        echo "kafka: kept $dir" >&2
    else
        rm -rf "$dir"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Two distinct free ports (both sockets are open at once, so they differ).
read -r port controller_port < <(python3 -c '
import socket
a, b = socket.socket(), socket.socket()
a.bind(("127.0.0.1", 0)); b.bind(("127.0.0.1", 0))
print(a.getsockname()[1], b.getsockname()[1])')
bootstrap="127.0.0.1:$port"

# Kafka's cluster ids are 16 random bytes in unpadded base64url that do not start with "-"
# (what `kafka-storage.sh random-uuid` prints), made here without starting a JVM for it.
cluster_id="$(python3 -c '
import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"): print(s); break')"

cat > "$dir/server.properties" <<EOF
# One KRaft node, broker and controller (combined mode), written by tools/kafka/run.sh.
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$controller_port
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
advertised.listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$controller_port
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/data
# The suite's topics are created explicitly, as the Kubernetes setup creates them.
auto.create.topics.enable=$auto_create
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
# One node: the internal topics have one replica, and one partition each (quicker to create).
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=1
# Consumers join their group at once rather than after the default 3 s.
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
num.recovery.threads.per.data.dir=1
EOF

# kafka-storage.sh format --standalone: the node is the only voter of its controller quorum.
if ! tool kafka.tools.StorageTool format --standalone -t "$cluster_id" -c "$dir/server.properties" \
        >"$dir/format.log" 2>&1; then
    echo "kafka: formatting the storage failed:" >&2
    cat "$dir/format.log" >&2
    exit 1
fi
formatted_ms="$(now_ms)"

# The broker. setpriv --pdeathsig: the kernel kills the JVM if this script dies without running
# its trap (SIGKILL), so no JVM is left behind either way.
pdeath=()
if setpriv --help 2>/dev/null | grep -q -- --pdeathsig; then pdeath=(setpriv --pdeathsig KILL --); fi
broker_cds="$(cds_args broker)"
# shellcheck disable=SC2086 # $broker_cds is one option or none
"${pdeath[@]}" "$java" "${heap[@]}" -XX:+UseSerialGC -Djava.awt.headless=true "${jvm_log[@]}" $broker_cds \
    -Dlog4j2.configurationFile="$here/log4j2.properties" -cp "$classpath" \
    kafka.Kafka "$dir/server.properties" >"$dir/server.log" 2>&1 &
pid=$!

# Ready: the server says it started and its PLAINTEXT listener accepts connections.
deadline=$((SECONDS + timeout))
until grep -q "Kafka Server started" "$dir/server.log" 2>/dev/null \
        && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "kafka: the broker exited before it was ready" >&2
        tail -n 40 "$dir/server.log" >&2
        pid=""
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "kafka: the broker was not ready within ${timeout}s" >&2
        tail -n 40 "$dir/server.log" >&2
        exit 1
    fi
    sleep 0.1
done
ready_ms="$(now_ms)"

# One TopicCommand per topic (it creates one at a time): the first alone (it may record the tools'
# archive), the others side by side.
create_topic() { # TOPIC
    if ! tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --create --if-not-exists \
            --topic "$1" --partitions "$partitions" --replication-factor 1 >"$dir/topic-$1.log" 2>&1; then
        echo "kafka: creating topic $1 failed:" >&2
        cat "$dir/topic-$1.log" >&2
        return 1
    fi
}
read -r -a topic_list <<<"$topics"
if [ "${#topic_list[@]}" -gt 0 ]; then
    TOOL_RECORD=1 create_topic "${topic_list[0]}"
    creators=()
    for topic in "${topic_list[@]:1}"; do
        create_topic "$topic" &
        creators+=("$!")
    done
    for creator in "${creators[@]}"; do
        wait "$creator" || exit 1
    done
fi
topics_ms="$(now_ms)"

export KAFKA_BOOTSTRAP_SERVERS="$bootstrap" KAFKA_DIR="$dir" KAFKA_LOG="$dir/server.log" \
    KAFKA_CLASSPATH="$classpath"
version="$(cat "$(dirname "${classpath%/\*}")/version" 2>/dev/null || echo '?')"
echo "kafka: Apache Kafka $version (KRaft, broker+controller, pid $pid) on $bootstrap;" \
    "fetch $((fetched_ms - start_ms)) ms, format $((formatted_ms - fetched_ms)) ms," \
    "start-to-ready $((ready_ms - formatted_ms)) ms, topics ($topics) $((topics_ms - ready_ms)) ms" >&2

case "$mode" in
    serve)
        echo "KAFKA_BOOTSTRAP_SERVERS=$bootstrap"
        echo "KAFKA_DIR=$dir"
        echo "KAFKA_LOG=$dir/server.log"
        echo "KAFKA_CLASSPATH=$classpath"
        echo "READY"
        status=0
        wait "$pid" || status=$?
        pid=""
        echo "kafka: the broker exited (status $status)" >&2
        exit 1
        ;;
    smoke)
        message="todo-suite smoke $cluster_id"
        send_start="$(now_ms)"
        printf '%s\n' "$message" | tool org.apache.kafka.tools.ConsoleProducer \
            --bootstrap-server "$bootstrap" --topic task-events
        sent_ms="$(now_ms)"
        got="$(tool org.apache.kafka.tools.consumer.ConsoleConsumer --bootstrap-server "$bootstrap" \
            --topic task-events --from-beginning --max-messages 1 --timeout-ms 60000)"
        received_ms="$(now_ms)"
        listed="$(tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$bootstrap" --list | tr '\n' ' ')"
        if [ "$got" != "$message" ]; then
            echo "kafka smoke: sent '$message', got '$got'" >&2
            exit 1
        fi
        echo "kafka smoke: topics: $listed"
        echo "kafka smoke: one message through task-events and back (produce $((sent_ms - send_start)) ms," \
            "consume $((received_ms - sent_ms)) ms); whole run so far $((SECONDS - t0)) s"
        ;;
    command)
        status=0
        "$@" || status=$?
        exit "$status"
        ;;
esac
