#!/usr/bin/env bash
# Usage: run-until-healthy.sh URL SECONDS READY_MESSAGE COMMAND [ARGS...]
#
# Runs COMMAND and waits until URL answers (HTTP 2xx), then prints READY_MESSAGE and keeps
# COMMAND running until it ends; exits with its status. If URL has not answered after SECONDS,
# it says so, stops COMMAND (SIGTERM, so it drains) and exits 1: a readiness wait that fails at
# its deadline instead of falling through. Used by `just up`.
set -euo pipefail

if [ "$#" -lt 4 ]; then
    echo "usage: $0 URL SECONDS READY_MESSAGE COMMAND [ARGS...]" >&2
    exit 64
fi
url=$1
seconds=$2
ready_message=$3
shift 3

# COMMAND stays in our process group, so Ctrl-C reaches it directly; a SIGTERM sent to this
# script is passed on, so stopping `just` stops the run too.
"$@" &
run=$!
trap 'kill -TERM "$run" 2>/dev/null || true' INT TERM

# Waits for COMMAND to end (a trapped signal interrupts `wait`, so wait again) and returns its
# status.
wait_for_run() {
    local status=0
    while :; do
        wait "$run" && status=0 || status=$?
        kill -0 "$run" 2>/dev/null || return "$status"
    done
}

deadline=$((SECONDS + seconds))
until curl -fsS --max-time 2 "$url" >/dev/null 2>&1; do
    if ! kill -0 "$run" 2>/dev/null; then
        status=0
        wait_for_run || status=$?
        echo "run-until-healthy: $1 exited ($status) before $url answered" >&2
        exit "$status"
    fi
    if ((SECONDS >= deadline)); then
        echo >&2
        echo "run-until-healthy: $url did not answer within ${seconds}s; stopping $1 (its output above says why)" >&2
        kill -TERM "$run" 2>/dev/null || true
        wait_for_run || true
        exit 1
    fi
    sleep 0.2
done
echo
echo "$ready_message"
echo
status=0
wait_for_run || status=$?
exit "$status"
