#!/usr/bin/env bash
# Writes the local secret file the secretstore component reads, with fresh random keys, unless
# it exists. Usage: scripts/local-secrets.sh [path] (default .localdapr/secrets.json).
set -euo pipefail
file="${1:-.localdapr/secrets.json}"
if [ -s "$file" ]; then
    exit 0
fi
mkdir -p "$(dirname "$file")"
key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
umask 077
printf '{"todo-suite": {"jwt-signing-key": "%s", "page-token-key": "%s"}}\n' "$(key)" "$(key)" > "$file"
echo "created $file with random keys"
