# shellcheck shell=bash
# Sourced (never run) by the scripts that run the suite in a scratch directory:
# grpcurl-smoke.sh, secure-run-smoke.sh and measure-latency.sh. The sourcing script sets
# `script_name` first. Gives it:
#   repo, scratch   the repository and a fresh scratch directory, removed on exit;
#   run_pid         set it to the `localdapr run` it starts: on exit it gets SIGTERM (drain);
#   fail MESSAGE    says what failed, shows the tail of every *.log in the scratch directory,
#                   and exits 1;
#   free_port       a free TCP port on 127.0.0.1;
#   scratch_components SECRETS_FILE
#                   the repository's components in $scratch/components, with the secret store
#                   reading SECRETS_FILE, written with fresh random keys.

: "${script_name:?set script_name before sourcing scratch-suite.sh}"
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
scratch=$(mktemp -d)
run_pid=""

cleanup() {
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        kill -TERM "$run_pid"
        wait "$run_pid" || true
    fi
    rm -rf "$scratch"
}
trap cleanup EXIT

fail() {
    echo "$script_name: FAILED: $*" >&2
    echo "--- localdapr output ---" >&2
    tail -n 60 "$scratch"/*.log >&2 || true
    exit 1
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

scratch_components() {
    local secrets_file=$1
    mkdir -p "$scratch/components"
    cp "$repo"/dapr-components/local/*.yaml "$scratch/components/"
    sed -i "s|\.localdapr/secrets\.json|$secrets_file|" "$scratch/components/secretstore.yaml"
    "$repo/scripts/local-secrets.sh" "$secrets_file" > "$scratch/secrets.log"
}
