#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (issue #12): event decoding, RRULE parsing, page tokens
# and gRPC-web on the gateway's port. Installs nothing: it needs the nightly toolchain and
# cargo-fuzz (`cargo install --locked cargo-fuzz --version 0.13.1`; .ci/run installs it).
#
# Usage: scripts/fuzz.sh smoke [SECONDS_EACH]   every target for SECONDS_EACH (default 12): CI's run
#        scripts/fuzz.sh run TARGET SECONDS     one target, for longer
#        scripts/fuzz.sh list                   the targets
# Builds go to TODO_FUZZ_TARGET_DIR (default ~/.cache/todo-suite/target-fuzz), the corpus each
# run grows to TODO_FUZZ_CORPUS_DIR/TARGET (default ~/.cache/todo-suite/fuzz-corpus), both
# outside the clone; the committed seeds (fuzz/seeds/TARGET) are read, never written. A crash,
# a failed assertion or an input slower than 10 s fails the run and leaves the input in
# fuzz/artifacts/TARGET/ (replay it: `cargo +nightly fuzz run TARGET FILE`).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=(event_decode rrule_parse page_token grpc_web)
target_dir="${TODO_FUZZ_TARGET_DIR:-$HOME/.cache/todo-suite/target-fuzz}"
corpus_root="${TODO_FUZZ_CORPUS_DIR:-$HOME/.cache/todo-suite/fuzz-corpus}"
# Our code is safe Rust (unsafe_code is denied), so AddressSanitizer finds nothing the panics
# and debug assertions do not; without it builds and runs are about twice as fast.
fuzz_flags=(--sanitizer none --target-dir "$target_dir")

usage() {
    sed -n '5,7p' "$0" >&2
    exit 64
}

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    echo "$0: needs the nightly toolchain and cargo-fuzz: cargo install --locked cargo-fuzz --version 0.13.1" >&2
    exit 69
fi

run_target() { # TARGET SECONDS
    local target=$1 seconds=$2
    mkdir -p "$corpus_root/$target"
    # -timeout: an input slower than this is a hang, reported like a crash.
    cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" \
        "$corpus_root/$target" "fuzz/seeds/$target" \
        -- -max_total_time="$seconds" -timeout=10 -print_final_stats=1
}

case "${1:-}" in
smoke)
    seconds="${2:-12}"
    cargo +nightly fuzz build "${fuzz_flags[@]}"
    for target in "${TARGETS[@]}"; do
        printf '\n--- fuzz-smoke: %s for %ss\n' "$target" "$seconds"
        run_target "$target" "$seconds"
    done
    ;;
run)
    [ "$#" -eq 3 ] || usage
    run_target "$2" "$3"
    ;;
list)
    printf '%s\n' "${TARGETS[@]}"
    ;;
*)
    usage
    ;;
esac
