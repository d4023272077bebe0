#!/usr/bin/env bash
# Builds one pinned Go tool from its own module, through a small wrapper module of ours
# (tools/<name>/go.mod: a `tool` directive and the versions go mod tidy chose), into a cache
# directory outside the clone, and prints the binary's path:
#
#   ${TODO_TOOLS_DIR:-$HOME/.cache/todo-suite/tools}/<name>-<version>/<name>
#
#   go-tool.sh helm|promtool|actionlint      build if needed, print the path
#   go-tool.sh --force NAME                  rebuild
#
# | name       | module (version pinned in tools/<name>/go.mod) | package                |
# |------------|------------------------------------------------|------------------------|
# | helm       | helm.sh/helm/v4                                | cmd/helm               |
# | promtool   | github.com/prometheus/prometheus               | cmd/promtool           |
# | actionlint | github.com/rhysd/actionlint                    | cmd/actionlint         |
#
# A binary is rebuilt only when its stamp (a hash of the wrapper's go.mod and go.sum, this
# script and the Go version) differs from the one stored beside it, so a cached run costs
# one `go list`. Builds run under `nice -n 19` (the machine's two cores are shared); the first
# build of helm or promtool takes minutes. Modules come from the Go module proxy into Go's own
# module cache; GOFLAGS=-mod=mod is never needed: go.sum is committed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
log() { echo "go-tool.sh: $*" >&2; }

force=0
if [ "${1:-}" = --force ]; then force=1; shift; fi
name="${1:-}"
declare -A module=(
    [helm]=helm.sh/helm/v4
    [promtool]=github.com/prometheus/prometheus
    [actionlint]=github.com/rhysd/actionlint
)
[ -n "$name" ] && [ -n "${module[$name]:-}" ] || {
    sed -n '2,20p' "$self" >&2
    exit 2
}
mod="${module[$name]}"
dir="$here/$name"
command -v go >/dev/null || { log "no 'go' on PATH: it builds $name from $mod"; exit 1; }

cd "$dir"
version="$(go list -m -f '{{.Version}}' "$mod")"
out="${TODO_TOOLS_DIR:-$HOME/.cache/todo-suite/tools}/$name-$version"
bin="$out/$name"
go_version="$(go env GOVERSION)"
stamp="$(cat go.mod go.sum "$self" <(echo "$go_version CGO_ENABLED=0 $(go env GOOS)/$(go env GOARCH)") | sha256sum | cut -d' ' -f1)"
if [ "$force" = 0 ] && [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$bin"
    exit 0
fi

# Each tool reports the version it was built from, as its release builds do.
tags=""
case "$name" in
    helm) ldflags="-X helm.sh/helm/v4/internal/version.version=$version" ;;
    # remove_all_sd: Prometheus's own build tag that leaves out every service-discovery plugin
    # (the cloud SDKs, client-go); `check rules` and `test rules` need none, and the build
    # takes a fraction of the time.
    promtool) ldflags="-X github.com/prometheus/common/version.Version=${version#v} -X github.com/prometheus/common/version.Branch=$version"
        tags=remove_all_sd ;;
    actionlint) ldflags="-X github.com/rhysd/actionlint.version=$version" ;;
esac

mkdir -p "$out"
log "building $name $version ($mod) into $bin (nice -n 19; the first build takes minutes)"
start=$(date +%s)
if ! nice -n 19 env CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" \
    go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$bin.tmp" "$mod/cmd/$name"; then
    rm -f "$bin.tmp"
    log "building $name failed after $(( $(date +%s) - start )) s"
    exit 1
fi
mv -f "$bin.tmp" "$bin"
echo "$stamp" > "$bin.stamp"
log "built $name $version in $(( $(date +%s) - start )) s ($(du -h "$bin" | cut -f1))"
echo "$bin"
