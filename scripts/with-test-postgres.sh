#!/usr/bin/env bash
# Runs a command beside a throwaway PostgreSQL cluster, for the tests that need one (audit's
# store tests): initdb in a temporary directory, the server on a free port of 127.0.0.1 only,
# run as a non-root user (the `postgres` account when started as root), a random password,
# and TODO_TEST_POSTGRES_URL set for the command (with TODO_TEST_POSTGRES_LOG, the server's log,
# and TODO_TEST_POSTGRES_DATA, its data directory). The cluster is stopped and deleted when the
# command ends, fails or is interrupted.
#
# Usage: scripts/with-test-postgres.sh COMMAND [ARG...]
#   e.g. scripts/with-test-postgres.sh cargo test -p audit
# Needs PostgreSQL's server binaries: Debian's `apt-get install -y postgresql` (.ci/run does it).
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 COMMAND [ARG...]" >&2
    exit 64
fi

# Debian keeps the server binaries off PATH, one directory per major version: take the newest.
bindir=""
for candidate in /usr/lib/postgresql/*/bin; do
    if [ -x "$candidate/initdb" ]; then bindir="$candidate"; fi
done
if [ -z "$bindir" ] && command -v initdb >/dev/null 2>&1; then
    bindir="$(dirname "$(command -v initdb)")"
fi
if [ -z "$bindir" ]; then
    echo "$0: no PostgreSQL server binaries (initdb); install them: apt-get install -y postgresql" >&2
    exit 69
fi

# initdb and postgres refuse to run as root: as root, the cluster belongs to `postgres`.
as_owner=()
if [ "$(id -u)" -eq 0 ]; then
    if ! id postgres >/dev/null 2>&1; then
        echo "$0: running as root needs a postgres account to own the cluster" >&2
        exit 69
    fi
    as_owner=(runuser -u postgres --)
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/todo-test-postgres.XXXXXX")"
started=""
# shellcheck disable=SC2329 # invoked by the EXIT trap
cleanup() {
    if [ -n "$started" ]; then
        "${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

password="$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
(umask 077 && printf '%s\n' "$password" > "$dir/password")
if [ "${#as_owner[@]}" -gt 0 ]; then
    chown -R postgres "$dir"
fi
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"

"${as_owner[@]}" "$bindir/initdb" --pgdata="$dir/data" --username=todo_test \
    --auth=scram-sha-256 --pwfile="$dir/password" --encoding=UTF8 --no-instructions >"$dir/initdb.log" 2>&1 \
    || { cat "$dir/initdb.log" >&2; exit 1; }
started=yes
# fsync off: a crash loses a throwaway cluster, nothing else. Connections: parallel tests, each
# with its own pool.
"${as_owner[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c max_connections=400" \
    start >/dev/null \
    || { cat "$dir/server.log" >&2; exit 1; }

export TODO_TEST_POSTGRES_URL="postgres://todo_test:$password@127.0.0.1:$port/postgres"
# For harnesses that nest this script (scripts/with-real-dapr.sh): the server's log, to print when
# a test fails, and its data directory (postmaster.pid), to stop a server this script could not.
export TODO_TEST_POSTGRES_LOG="$dir/server.log" TODO_TEST_POSTGRES_DATA="$dir/data"
echo "with-test-postgres: PostgreSQL $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (TODO_TEST_POSTGRES_URL set)" >&2
status=0
"$@" || status=$?
exit "$status"
