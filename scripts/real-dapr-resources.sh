#!/usr/bin/env bash
# Renders dapr-components/kubernetes/ for a real daprd on this machine (scripts/with-real-dapr.sh's
# environment), changing only what points at the cluster, so that what runs here is what the Helm
# chart deploys:
#   - every pubsub.kafka `brokers` value becomes TODO_KAFKA_BROKERS;
#   - secretstore (secretstores.kubernetes) becomes secretstores.local.file reading SECRETS_FILE
#     (multiValued: a secret is a JSON object of keys), the one substitution of a component type;
#   - components with a secretKeyRef get `auth: {secretStore: secretstore}` (in Kubernetes the
#     operator resolves them through the built-in `kubernetes` store; a self-hosted daprd has
#     neither, and would leave the value empty);
#   - the secrets those references name are merged into SECRETS_FILE (0600; other secrets in it are
#     kept): todo-suite-postgres/connection-string = TODO_TEST_POSTGRES_URL. A reference this
#     script has no local value for fails the render.
# The components go to OUT_DIR/resources/. It also writes OUT_DIR/config.yaml, a Configuration
# whose name resolution is the sqlite resolver with its database in OUT_DIR (nameresolution.db),
# so that several daprd on one machine find each other without multicast (mDNS). Both stay out of
# the resources directory: daprd's hot reload watches it, takes a Configuration found there for a
# new one and restarts itself (SIGHUP) in a loop, and warns about every non-YAML file in it.
# Secret values are never printed.
#
# Usage: scripts/real-dapr-resources.sh OUT_DIR SECRETS_FILE
#   then: daprd --resources-path OUT_DIR/resources --config OUT_DIR/config.yaml ...
# Needs: TODO_KAFKA_BROKERS (host:port[,host:port...]) and TODO_TEST_POSTGRES_URL, both set by
# scripts/with-real-dapr.sh. python3 (standard library only).
set -euo pipefail

if [ "$#" -ne 2 ]; then
    echo "usage: $0 OUT_DIR SECRETS_FILE" >&2
    exit 64
fi
for variable in TODO_KAFKA_BROKERS TODO_TEST_POSTGRES_URL; do
    if [ -z "${!variable:-}" ]; then
        echo "$0: $variable is not set (run under scripts/with-real-dapr.sh)" >&2
        exit 64
    fi
done

source_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/dapr-components/kubernetes"
mkdir -p "$1/resources" "$(dirname "$2")"
out_dir="$(cd "$1" && pwd)"
secrets_file="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"

# Line-based on purpose: PyYAML is not part of the standard library, and these files are written
# in one plain style (block mappings, `- name:` lists). Every edit is checked, so a file that no
# longer looks as expected fails the render instead of being half-rendered.
python3 - "$source_dir" "$out_dir" "$secrets_file" <<'PY'
import json, os, re, sys

source_dir, out_dir, secrets_file = sys.argv[1:4]
brokers = os.environ["TODO_KAFKA_BROKERS"]
# The local value of each secret the Kubernetes components reference: (secret, key) -> value.
local_secrets = {("todo-suite-postgres", "connection-string"): os.environ["TODO_TEST_POSTGRES_URL"]}


def fail(message):
    sys.exit(f"real-dapr-resources: {message}")


def metadata_value(text):
    """A YAML double-quoted scalar (JSON strings are valid ones)."""
    return json.dumps(text)


def indent_of(line):
    return len(line) - len(line.lstrip(" "))


def replace_brokers(name, lines):
    """Sets the value of every `- name: brokers` entry; returns how many were set."""
    count, pending = 0, None
    for i, line in enumerate(lines):
        if re.fullmatch(r"\s*- name: brokers\s*", line):
            pending = indent_of(line) + 2
        elif pending is not None and re.fullmatch(r"\s*value: .*", line):
            if indent_of(line) != pending:
                fail(f"{name}: the value of `brokers` is not where expected")
            lines[i] = " " * pending + "value: " + metadata_value(brokers)
            count, pending = count + 1, None
        elif pending is not None and re.match(r"\s*- ", line):
            fail(f"{name}: `brokers` has no value line")
    return count


def secret_references(name, lines):
    """The (secret, key) pairs of every secretKeyRef, in order."""
    references = []
    for i, line in enumerate(lines):
        if re.fullmatch(r"\s*secretKeyRef:\s*", line):
            fields = {}
            for following in lines[i + 1 : i + 3]:
                match = re.fullmatch(r"\s*(name|key): *\"?([^\"#]*?)\"?\s*", following)
                if match:
                    fields[match.group(1)] = match.group(2)
            if set(fields) != {"name", "key"}:
                fail(f"{name}: a secretKeyRef without `name` and `key` on the next two lines")
            references.append((fields["name"], fields["key"]))
    return references


def render_secret_store(name, text):
    if not re.search(r"^  type: secretstores\.kubernetes$", text, re.M) or not re.search(
        r"^  name: secretstore$", text, re.M
    ):
        fail(f"{name}: expected the secretstores.kubernetes component named secretstore")
    return f"""apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: secretstore
spec:
  type: secretstores.local.file
  version: v1
  metadata:
    - name: secretsFile
      value: {metadata_value(secrets_file)}
    - name: multiValued
      value: "true"
"""


needed = set()
rendered = {}
for name in sorted(os.listdir(source_dir)):
    if not name.endswith(".yaml"):
        continue
    with open(os.path.join(source_dir, name)) as source:
        text = source.read()
    header = (
        f"# Rendered by scripts/real-dapr-resources.sh from dapr-components/kubernetes/{name}\n"
        "# for a daprd on this machine; edit that file, not this one.\n"
    )
    if name == "secretstore.yaml":
        rendered[name] = header + render_secret_store(name, text)
        continue
    lines = text.split("\n")
    brokers_set = replace_brokers(name, lines)
    if re.search(r"^  type: pubsub\.kafka$", text, re.M) and brokers_set != 1:
        fail(f"{name}: a pubsub.kafka component with {brokers_set} `brokers` values (expected 1)")
    references = secret_references(name, lines)
    for reference in references:
        if reference not in local_secrets:
            fail(f"{name}: no local value for secret {reference[0]!r}, key {reference[1]!r}")
        needed.add(reference)
    text = "\n".join(lines)
    if references:
        if re.search(r"^auth:", text, re.M):
            fail(f"{name}: already has an auth section")
        text = text.rstrip("\n") + "\nauth:\n  secretStore: secretstore\n"
    rendered[name] = header + text

if "secretstore.yaml" not in rendered:
    fail(f"no secretstore.yaml in {source_dir}")

# SECRETS_FILE: merged, written whole to a new 0600 file, then moved into place.
secrets = {}
if os.path.exists(secrets_file) and os.path.getsize(secrets_file) > 0:
    with open(secrets_file) as existing:
        try:
            secrets = json.load(existing)
        except json.JSONDecodeError as error:
            fail(f"{secrets_file} is not JSON ({error.msg} at line {error.lineno})")
    if not isinstance(secrets, dict):
        fail(f"{secrets_file} is not a JSON object")
for secret, key in sorted(needed):
    entry = secrets.setdefault(secret, {})
    if not isinstance(entry, dict):
        fail(f"{secrets_file}: secret {secret!r} is not an object of keys (multiValued)")
    entry[key] = local_secrets[(secret, key)]
staging = f"{secrets_file}.{os.getpid()}.tmp"
descriptor = os.open(staging, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
with os.fdopen(descriptor, "w") as target:
    json.dump(secrets, target, indent=2)
    target.write("\n")
os.replace(staging, secrets_file)

rendered["config.yaml"] = f"""# Written by scripts/real-dapr-resources.sh: daprd's Configuration on this machine. Name
# resolution through one SQLite file that every daprd of the run shares (no multicast needed).
apiVersion: dapr.io/v1alpha1
kind: Configuration
metadata:
  name: todo-suite-real-dapr
spec:
  nameResolution:
    component: sqlite
    version: v1
    configuration:
      connectionString: {metadata_value(os.path.join(out_dir, "nameresolution.db"))}
"""
for name, text in rendered.items():
    directory = out_dir if name == "config.yaml" else os.path.join(out_dir, "resources")
    with open(os.path.join(directory, name), "w") as target:
        target.write(text)
print(
    f"real-dapr-resources: {len(rendered) - 1} components in {out_dir}/resources, config.yaml; "
    f"{len(needed)} secret key(s) merged into {secrets_file}",
    file=sys.stderr,
)
PY
