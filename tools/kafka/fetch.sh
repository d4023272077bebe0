#!/usr/bin/env bash
# Resolves Apache Kafka's broker and command-line tools, as pinned in tools/kafka/pom.xml, from
# Maven Central into a cache outside the clone, and prints the directory that holds them:
#
#   $TODO_TOOLS_DIR/kafka/<kafka version>-<pom hash>/libs/*.jar   the jars (the classpath is libs/*)
#                                                  /classpath      the same, one absolute path a line
#
# TODO_TOOLS_DIR defaults to ~/.cache/todo-suite/tools. Maven's own local repository is the
# default ~/.m2/repository, or MAVEN_REPO_LOCAL when set. When the directory for this pom is
# already complete, nothing runs (not even Maven): a second run costs a few milliseconds.
#
# Usage: tools/kafka/fetch.sh            prints the directory (stdout); Maven's errors go to stderr
#        tools/kafka/fetch.sh --classpath prints the classpath (dir/libs/*) instead
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
pom="$here/pom.xml"
tools_dir="${TODO_TOOLS_DIR:-$HOME/.cache/todo-suite/tools}"

version="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$pom")"
hash="$(sha256sum "$pom" | cut -c1-12)"
dest="$tools_dir/kafka/$version-$hash"

if [ ! -f "$dest/.complete" ]; then
    if ! command -v mvn >/dev/null 2>&1; then
        echo "$0: Maven (mvn) is needed to fetch Kafka; install it: apt-get install -y maven" >&2
        exit 69
    fi
    mkdir -p "$tools_dir/kafka"
    tmp="$(mktemp -d "$tools_dir/kafka/.fetch.XXXXXX")"
    # shellcheck disable=SC2329 # invoked by the EXIT trap
    cleanup() { rm -rf "$tmp"; }
    trap cleanup EXIT
    repo_args=()
    if [ -n "${MAVEN_REPO_LOCAL:-}" ]; then repo_args=("-Dmaven.repo.local=$MAVEN_REPO_LOCAL"); fi
    echo "fetch.sh: resolving Kafka $version from Maven Central into $dest" >&2
    start=$SECONDS
    # copy-dependencies: the jars live in the cache directory itself, so the classpath does not
    # depend on ~/.m2 being kept. Maven's output is shown only when it fails (with -q, Maven 3.8
    # still prints bare colour codes).
    if ! mvn -B -q -f "$pom" "${repo_args[@]}" \
            dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$tmp/libs" \
            >"$tmp/mvn.log" 2>&1; then
        cat "$tmp/mvn.log" >&2
        echo "$0: Maven could not resolve tools/kafka/pom.xml (above)" >&2
        exit 1
    fi
    rm -f "$tmp/mvn.log"
    find "$tmp/libs" -name '*.jar' | sort > "$tmp/classpath"
    if ! grep -q "/kafka_2.13-$version.jar\$" "$tmp/classpath"; then
        echo "$0: Maven finished but kafka_2.13-$version.jar is not among the jars" >&2
        exit 1
    fi
    cp "$pom" "$tmp/pom.xml"
    echo "$version" > "$tmp/version"
    touch "$tmp/.complete"
    # Another run may have finished first: keep whichever landed.
    if ! mv -T "$tmp" "$dest" 2>/dev/null; then rm -rf "$tmp"; fi
    trap - EXIT
    echo "fetch.sh: $(wc -l < "$dest/classpath") jars in $((SECONDS - start))s" >&2
fi

if [ "${1:-}" = "--classpath" ]; then
    echo "$dest/libs/*"
else
    echo "$dest"
fi
