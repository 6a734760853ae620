#!/usr/bin/env bash
# Builds crossdeploy-statuscheck (kstatus, Argo CD and Flux health of
# crossdeploy.io objects on a real API server) into a content-addressed cache
# and prints the binary's absolute path as the last line on stdout. Progress
# goes to stderr. Same scheme as tests/controlplane/build.sh.
#
# The cache key covers everything that determines the binary: go.mod, go.sum,
# every .go file, the Go toolchain version and the build flags below. A cache
# hit returns immediately; a miss compiles client-go, cel-go and gopher-lua
# (about a minute on 2 cores with a warm module cache).
#
# Environment:
#   CROSSDEPLOY_CACHE  cache root (default: $HOME/.cache/crossdeploy)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "statuscheck/build.sh: $*" >&2; }

go_bin="$(command -v go || true)"
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
fi
if [[ -z "$go_bin" ]]; then
  log "error: the Go toolchain ('go', >= 1.26) is not on PATH (nor at /usr/local/go/bin/go); install Go to build the status checker used by the e2e tests"
  exit 1
fi
if ! command -v sha256sum >/dev/null; then
  log "error: 'sha256sum' (coreutils) is not on PATH"
  exit 1
fi

# Never let go.mod's "go" line trigger a toolchain download: an older local
# Go should fail loudly instead.
export GOTOOLCHAIN=local

build_flags=(-trimpath -buildvcs=false -mod=readonly "-ldflags=-s -w")

go_version="$("$go_bin" version)"
hash="$(
  cd "$here"
  {
    sha256sum go.mod go.sum ./*.go
    echo "$go_version"
    echo "${build_flags[*]}"
  } | sha256sum | cut -d' ' -f1
)"

out_dir="${CROSSDEPLOY_CACHE:-$HOME/.cache/crossdeploy}/statuscheck/$hash"
bin="$out_dir/crossdeploy-statuscheck"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$out_dir"

# Parallel callers wait for one build.
if command -v flock >/dev/null; then
  exec 9>"$out_dir/.lock"
  flock 9
  if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
  fi
fi

log "building $bin with $go_version"
start=$SECONDS
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
if ! (cd "$here" && "$go_bin" build "${build_flags[@]}" -o "$tmp" .); then
  log "error: go build failed in $here (modules missing? run 'go mod download' there with network access to the Go module proxy)"
  exit 1
fi
# Rename is atomic, so nobody ever runs a half-written binary.
mv -f "$tmp" "$bin"
log "built in $((SECONDS - start))s"

echo "$bin"
