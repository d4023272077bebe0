#!/usr/bin/env bash
# Starts the whole suite (the six apps of `just up`) on localdapr in a scratch directory, with
# the gateway serving the built frontend (frontend/dist), then runs the browser end-to-end tests
# (frontend/e2e/app.test.mjs: playwright-core driving Debian's chromium) against it.
# Run by `just test` after the frontend is built; needs the binaries built and grpcurl on PATH
# (for the health wait). With CI=true a browser test that cannot run fails instead of skipping.
set -euo pipefail

script_name=browser-e2e
# shellcheck source=scripts/scratch-suite.sh
source "$(dirname "$0")/scratch-suite.sh"

[ -f "$repo/frontend/dist/index.html" ] || fail "frontend/dist is not built (npm --prefix frontend run build)"
# Every test signs up its own users, all from 127.0.0.1: more than the default 10 sign-ups per
# address and window.
start_suite "TODO_FRONTEND_DIR: \"$repo/frontend/dist\"" 'TODO_SIGN_UPS_PER_ADDRESS: "100"'
wait_serving 90 "127.0.0.1:${port[gateway]}"

E2E_BASE_URL="http://127.0.0.1:${port[gateway]}" \
    node --test --test-reporter=spec "$repo/frontend/e2e/app.test.mjs" || fail "browser tests"
echo "browser-e2e: ok"
