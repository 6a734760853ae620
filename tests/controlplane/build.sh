#!/usr/bin/env bash
# Builds crossdeploy-controlplane (embedded etcd + in-process kube-apiserver)
# into a content-addressed cache and prints the binary's absolute path as the
# last line on stdout. Progress goes to stderr.
#
# The cache key covers everything that determines the binary: go.mod, go.sum,
# main.go, the Go toolchain version and the build flags below. A cache hit
# returns immediately; a miss is a cold build of kube-apiserver, which takes
# several minutes on 2 cores.
#
# Environment:
#   CROSSDEPLOY_CACHE  cache root (default: $HOME/.cache/crossdeploy)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { echo "controlplane/build.sh: $*" >&2; }

go_bin="$(command -v go || true)"
if [[ -z "$go_bin" && -x /usr/local/go/bin/go ]]; then
  go_bin=/usr/local/go/bin/go
fi
if [[ -z "$go_bin" ]]; then
  log "error: the Go toolchain ('go', >= 1.26) is not on PATH (nor at /usr/local/go/bin/go); install Go to build the test control plane"
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
    sha256sum go.mod go.sum main.go
    echo "$go_version"
    echo "${build_flags[*]}"
  } | sha256sum | cut -d' ' -f1
)"

out_dir="${CROSSDEPLOY_CACHE:-$HOME/.cache/crossdeploy}/controlplane/$hash"
bin="$out_dir/crossdeploy-controlplane"

if [[ -x "$bin" ]]; then
  echo "$bin"
  exit 0
fi

mkdir -p "$out_dir"

# Parallel callers (several test binaries starting at once) wait for one
# build instead of each compiling kube-apiserver on the same two cores.
if command -v flock >/dev/null; then
  exec 9>"$out_dir/.lock"
  flock 9
  if [[ -x "$bin" ]]; then
    echo "$bin"
    exit 0
  fi
fi

log "building $bin with $go_version (cold builds take several minutes)"
start=$SECONDS
tmp="$bin.tmp.$$"
trap 'rm -f "$tmp"' EXIT
(cd "$here" && "$go_bin" build "${build_flags[@]}" -o "$tmp" .)
# Rename is atomic, so nobody ever runs a half-written binary.
mv -f "$tmp" "$bin"
log "built in $((SECONDS - start))s"

echo "$bin"
