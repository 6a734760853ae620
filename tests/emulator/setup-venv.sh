#!/usr/bin/env bash
# Create (or reuse) the Python venv for the crossdeploy AWS emulator.
#
#   tests/emulator/setup-venv.sh            -> last stdout line: path of the venv's python
#
# The venv lives at ${CROSSDEPLOY_CACHE:-$HOME/.cache/crossdeploy}/venv-<hash>, where
# <hash> is the first 12 hex chars of sha256(requirements.txt). A changed requirements
# file therefore gets a new venv; an unchanged one is reused without touching pip
# (the warm path is a hash + a file test, a few milliseconds).
#
# Environment:
#   CROSSDEPLOY_CACHE   cache root (default $HOME/.cache/crossdeploy)
#   PYTHON              interpreter used to create the venv (default python3)
#   PIP_INDEX_URL etc.  honoured by pip as usual
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
req="$here/requirements.txt"
python="${PYTHON:-python3}"

die() { echo "setup-venv.sh: $*" >&2; exit 1; }

[[ -f "$req" ]] || die "missing $req"

if command -v sha256sum >/dev/null 2>&1; then
  hash="$(sha256sum "$req" | cut -c1-12)"
elif command -v shasum >/dev/null 2>&1; then
  hash="$(shasum -a 256 "$req" | cut -c1-12)"
else
  die "need sha256sum or shasum to hash requirements.txt"
fi

cache="${CROSSDEPLOY_CACHE:-$HOME/.cache/crossdeploy}"
venv="$cache/venv-$hash"
marker="$venv/.crossdeploy-ready"

# Warm path: the marker is written only after a complete, successful install.
if [[ -f "$marker" && -x "$venv/bin/python" ]]; then
  echo "$venv/bin/python"
  exit 0
fi

command -v "$python" >/dev/null 2>&1 \
  || die "'$python' not found: install Python 3 (3.11 is what requirements.txt was resolved with) or set PYTHON=/path/to/python3"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 9) else 1)' \
  || die "'$python' is $("$python" -V 2>&1); need Python >= 3.9"
"$python" -c 'import venv, ensurepip' >/dev/null 2>&1 \
  || die "'$python' lacks the venv/ensurepip modules (Debian/Ubuntu: apt-get install python3-venv)"

mkdir -p "$cache"
# Serialise concurrent cold installs of the same venv (parallel test runners).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/venv-$hash.lock"
  flock 9
  if [[ -f "$marker" && -x "$venv/bin/python" ]]; then   # another process finished it
    echo "$venv/bin/python"
    exit 0
  fi
fi

# No marker means no complete install: start from scratch, and remove the partial
# venv again if anything below fails.
rm -rf "$venv"
trap 'rc=$?; if [[ $rc -ne 0 ]]; then rm -rf "$venv"; fi' EXIT

echo "setup-venv.sh: creating $venv (cold install, ~30 s)" >&2
"$python" -m venv "$venv" >&2 || die "'$python -m venv' failed (Debian/Ubuntu: apt-get install python3-venv)"
"$venv/bin/python" -m pip --version >/dev/null 2>&1 \
  || die "pip is not available in the new venv (Debian/Ubuntu: apt-get install python3-venv python3-pip)"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-input \
  -r "$req" >&2 || die "pip install -r $req failed (is PyPI reachable?)"
touch "$marker"
echo "$venv/bin/python"
