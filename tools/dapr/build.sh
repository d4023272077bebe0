#!/usr/bin/env bash
# Builds Dapr v1.18.3's daprd (with only the suite's components, see
# cmd/daprd/main.go) and Scheduler from this Go module into a cache directory
# outside the clone:
#
#   ${TODO_TOOLS_DIR:-$HOME/.cache/todo-suite/tools}/dapr-1.18.3/{daprd,scheduler}
#
# A binary is rebuilt only when its stamp (a hash of go.mod, go.sum, this
# module's Go sources, this script and the Go version) differs from the one
# stored beside it. GOMODCACHE and GOCACHE are Go's own (default locations).
#
#   build.sh [--force] [daprd] [scheduler]   build (default: both)
#   build.sh --print-dir                     print the output directory
#   build.sh --print-app                     generate internal/daprdapp/app.go and print it
#
# Exit status: 0 when every requested binary is there and current, 1 otherwise.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
self="$here/$(basename "${BASH_SOURCE[0]}")"
cd "$here"

DAPR_VERSION=1.18.3
DAPR_COMMIT=2dcf2e3548faf3c740b3d29ee300e2132db65cff # tag v1.18.3
out="${TODO_TOOLS_DIR:-$HOME/.cache/todo-suite/tools}/dapr-$DAPR_VERSION"

force=0
targets=()
mode=build
for arg in "$@"; do
  case "$arg" in
    --print-dir) echo "$out"; exit 0 ;;
    --force) force=1 ;;
    --print-app) mode=print-app ;;
    daprd|scheduler) targets+=("$arg") ;;
    -h|--help) sed -n '2,18p' "$self"; exit 0 ;;
    *) echo "build.sh: unknown argument: $arg" >&2; exit 1 ;;
  esac
done
[ "${#targets[@]}" -gt 0 ] || targets=(scheduler daprd)

log() { echo "build.sh: $*" >&2; }

command -v go >/dev/null || { log "no 'go' on PATH (Go >= $(sed -n 's/^go //p' go.mod) is needed)"; exit 1; }
go_have="$(go env GOVERSION)"; go_have="${go_have#go}"
go_need="$(sed -n 's/^go //p' go.mod)"
if [ "$(printf '%s\n%s\n' "$go_need" "$go_have" | sort -V | head -n1)" != "$go_need" ]; then
  log "Go $go_have is older than go.mod's 'go $go_need'"; exit 1
fi
if ! grep -q "^	github.com/dapr/dapr v$DAPR_VERSION\$" go.mod; then
  log "go.mod does not require github.com/dapr/dapr v$DAPR_VERSION; update DAPR_VERSION/DAPR_COMMIT here"; exit 1
fi

# internal/daprdapp/app.go is generated here, never committed: upstream's
# cmd/daprd/app/app.go from the module cache (fetched from the Go module proxy
# like any dependency) minus its blank import of cmd/daprd/components (see
# internal/daprdapp/doc.go). The sed must remove exactly those three lines.
APP_GO_SHA256=3e3562696896e972f2ef5fa7f7a8b69af9baaa4aa9f4aad1204c5221f2cb37c4 # upstream app.go at v$DAPR_VERSION
generate_app() {
  local dir src
  go mod download github.com/dapr/dapr
  dir="$(go list -m -f '{{.Dir}}' github.com/dapr/dapr)"
  src="$dir/cmd/daprd/app/app.go"
  [ -n "$dir" ] && [ -f "$src" ] || { log "github.com/dapr/dapr is not in the module cache"; return 1; }
  if [ "$(sha256sum < "$src" | cut -d' ' -f1)" != "$APP_GO_SHA256" ]; then
    log "$src is not the app.go this script was written for; review it and update APP_GO_SHA256"
    return 1
  fi
  sed -e '/^\t\/\/ Register all components$/d' \
      -e '/^\t_ "github.com\/dapr\/dapr\/cmd\/daprd\/components"$/{N;d;}' \
      "$src" > internal/daprdapp/app.go.tmp
  if [ "$(( $(wc -l < "$src") - $(wc -l < internal/daprdapp/app.go.tmp) ))" != 3 ]; then
    rm -f internal/daprdapp/app.go.tmp
    log "removing the components import from $src did not remove exactly three lines"
    return 1
  fi
  mv -f internal/daprdapp/app.go.tmp internal/daprdapp/app.go
}
case "$mode" in
  print-app) generate_app && cat internal/daprdapp/app.go; exit $? ;;
esac

stamp="$(
  {
    echo "go $go_have CGO_ENABLED=0 $(go env GOOS)/$(go env GOARCH)"
    cat go.mod go.sum "$self"
    find cmd internal -name '*.go' ! -name app.go -print0 | LC_ALL=C sort -z | xargs -0 cat
  } | sha256sum | cut -d' ' -f1
)"

ldflags="-s -w \
 -X github.com/dapr/dapr/pkg/buildinfo.version=$DAPR_VERSION \
 -X github.com/dapr/dapr/pkg/buildinfo.gitversion=v$DAPR_VERSION \
 -X github.com/dapr/dapr/pkg/buildinfo.gitcommit=$DAPR_COMMIT \
 -X github.com/dapr/kit/logger.DaprVersion=$DAPR_VERSION"

mkdir -p "$out"
status=0
for t in "${targets[@]}"; do
  bin="$out/$t"
  if [ "$force" = 0 ] && [ -x "$bin" ] && [ "$(cat "$bin.stamp" 2>/dev/null)" = "$stamp" ]; then
    log "$t is current ($bin, $(du -h "$bin" | cut -f1)); skipping the build"
    continue
  fi
  if [ "$t" = daprd ]; then generate_app || { status=1; continue; }; fi
  log "building $t into $bin (nice -n 19; the first build takes minutes)"
  start=$(date +%s)
  errlog="$(mktemp)"
  # -trimpath and -ldflags "-s -w" keep the binaries small and free of local paths;
  # CGO_ENABLED=0 as Dapr's own release builds (every component used is pure Go).
  if nice -n 19 env CGO_ENABLED=0 GOFLAGS="${GOFLAGS:+$GOFLAGS }-trimpath" \
      go build -ldflags "$ldflags" -o "$bin.tmp" "./cmd/$t" 2>"$errlog"; then
    mv -f "$bin.tmp" "$bin"
    echo "$stamp" > "$bin.stamp"
    log "built $t in $(( $(date +%s) - start )) s: $bin ($(du -h "$bin" | cut -f1))"
  else
    status=1
    rm -f "$bin.tmp"
    cat "$errlog" >&2
    log "building $t failed after $(( $(date +%s) - start )) s"
  fi
  rm -f "$errlog"
done
exit "$status"
