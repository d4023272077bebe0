#!/usr/bin/env bash
# Writes the local secret file the secretstore component reads, with fresh random keys, unless
# it exists. Usage: scripts/local-secrets.sh [path] (default .localdapr/secrets.json).
# The file is the owner's only (0600), in a directory it creates as the owner's only (0700): it
# holds the JWT signing key. The keys themselves are never printed.
set -euo pipefail
file="${1:-.localdapr/secrets.json}"
umask 077
if [ -s "$file" ]; then
    chmod 600 "$file"
    exit 0
fi
mkdir -p "$(dirname "$file")"
key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
printf '{"todo-suite": {"jwt-signing-key": "%s", "page-token-key": "%s"}}\n' "$(key)" "$(key)" > "$file"
echo "created $file with random keys"
