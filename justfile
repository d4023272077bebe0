# Todo Suite tasks. `just --list` shows them; CI runs `just lint` and `just test` (see .ci/run).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Lists the recipes.
default:
    @just --list

# Formats the Rust code.
fmt:
    cargo fmt --all

# Runs every linter: rustfmt, clippy, buf lint and the proto breaking-change check.
lint: lint-rust lint-proto

# Checks formatting and runs clippy with warnings as errors.
lint-rust:
    cargo fmt --all --check
    cargo clippy --workspace --all-targets --locked -- -D warnings

# Lints proto/todo with buf (proto/dapr mirrors Dapr and is excluded) and checks for breaking changes.
lint-proto: node-tools
    npx --no-install buf lint
    just proto-breaking

# Fails if proto/todo breaks wire or source compatibility with the previous commit.
proto-breaking: node-tools
    #!/usr/bin/env bash
    set -euo pipefail
    if git rev-parse --verify --quiet HEAD~1 >/dev/null && git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then
        npx --no-install buf breaking --against '.git#ref=HEAD~1'
    else
        echo "proto-breaking: no earlier commit with buf.yaml to compare against"
    fi

# Checks the Dapr protos against the official dapr crate, and lints our own protos.
proto-check: lint-proto
    cargo test -p todo-proto --locked

# Runs every test.
test:
    cargo test --workspace --locked

# Installs the Node tools the checks use (buf), exactly as locked.
node-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x node_modules/.bin/buf ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi
