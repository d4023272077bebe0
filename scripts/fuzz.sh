#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (issue #12): event decoding, RRULE parsing, page tokens
# and gRPC-web on the gateway's port. Installs nothing: it needs the nightly toolchain and
# cargo-fuzz (`cargo install --locked cargo-fuzz --version 0.13.1`; .ci/run installs it).
#
# Usage: scripts/fuzz.sh smoke [SECONDS_EACH]   every target for SECONDS_EACH (default 10): CI's run
#        scripts/fuzz.sh run TARGET SECONDS     one target, for longer
#        scripts/fuzz.sh list                   the targets
# Builds go to TODO_FUZZ_TARGET_DIR (default ~/.cache/todo-suite/target-fuzz), the corpus a long
# run grows to TODO_FUZZ_CORPUS_DIR/TARGET (default ~/.cache/todo-suite/fuzz-corpus), both
# outside the clone; the smoke run starts from the committed seeds (fuzz/seeds/TARGET) alone. A
# crash, a failed assertion or an input slower than 30 s fails the run and leaves the input in
# fuzz/artifacts/TARGET/ (replay it: `cargo +nightly fuzz run -s none TARGET FILE`).
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

# An input slower than this is a hang, reported like a crash. Generous: the slowest inputs known
# take 0.3 s of CPU (see the README's Fuzzing section) but seconds on a loaded machine.
timeout_seconds=30

run_target() { # TARGET SECONDS
    local target=$1 seconds=$2
    mkdir -p "$corpus_root/$target"
    cargo +nightly fuzz run "${fuzz_flags[@]}" "$target" \
        "$corpus_root/$target" "fuzz/seeds/$target" \
        -- -max_total_time="$seconds" -timeout="$timeout_seconds" -report_slow_units=1 \
        -print_final_stats=1
}

smoke() { # SECONDS_EACH
    local seconds=$1 bin_dir target
    cargo +nightly fuzz build "${fuzz_flags[@]}"
    # The binaries are run directly: `cargo fuzz run` would check the build twice per target.
    bin_dir="$target_dir/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
    # A fresh corpus from the seeds each time, so a corpus grown by long runs cannot stretch the
    # smoke run past its budget.
    scratch=$(mktemp -d)
    trap 'rm -rf "$scratch"' EXIT
    for target in "${TARGETS[@]}"; do
        mkdir -p "$scratch/$target" "fuzz/artifacts/$target"
        if ! "$bin_dir/$target" -artifact_prefix="fuzz/artifacts/$target/" \
            -max_total_time="$seconds" -timeout="$timeout_seconds" -print_final_stats=1 \
            "$scratch/$target" "fuzz/seeds/$target" >"$scratch/log" 2>&1; then
            tail -n 60 "$scratch/log"
            echo "fuzz-smoke: $target failed; the input is in fuzz/artifacts/$target/ (replay:" \
                "cargo +nightly fuzz run -s none $target fuzz/artifacts/$target/FILE)" >&2
            return 1
        fi
        # libFuzzer logs every new input; the summary is enough here.
        printf 'fuzz-smoke: %-12s %s\n' "$target" \
            "$(grep -E '^(Done|stat::new_units_added|stat::peak_rss_mb)' "$scratch/log" | tr -s ' \n' ' ')"
    done
}

case "${1:-}" in
smoke)
    smoke "${2:-10}"
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
