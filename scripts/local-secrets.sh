#!/usr/bin/env bash
# Writes the local secret file the secretstore component reads, with fresh random keys, unless
# it exists. Usage: scripts/local-secrets.sh [path] (default .localdapr/secrets.json).
# The file is the owner's only (0600), in a directory it creates as the owner's only (0700): it
# holds the JWT signing key. The keys themselves are never printed.
# It also names audit's database, a SQLite file beside it (audit.db, created 0600; SQLite gives
# its -wal and -shm files the same mode), and adds that key to a file written before audit.
set -euo pipefail
file="${1:-.localdapr/secrets.json}"
umask 077
mkdir -p "$(dirname "$file")"
audit_db="$(cd "$(dirname "$file")" && pwd)/audit.db"
audit_url="sqlite://$audit_db"
if [ ! -e "$audit_db" ]; then
    : > "$audit_db"
fi
chmod 600 "$audit_db"
if [ -s "$file" ]; then
    chmod 600 "$file"
    if ! grep -q '"audit-database-url"' "$file"; then
        python3 - "$file" "$audit_url" <<'PY'
import json, sys
path, url = sys.argv[1], sys.argv[2]
with open(path) as source:
    secrets = json.load(source)
secrets.setdefault("todo-suite", {})["audit-database-url"] = url
with open(path, "w") as target:
    json.dump(secrets, target)
    target.write("\n")
PY
        echo "added audit-database-url to $file"
    fi
    exit 0
fi
key() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
printf '{"todo-suite": {"jwt-signing-key": "%s", "page-token-key": "%s", "audit-database-url": "%s"}}\n' \
    "$(key)" "$(key)" "$audit_url" > "$file"
echo "created $file with random keys"
