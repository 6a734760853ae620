#!/usr/bin/env bash
# Counts the lines the operator writes at a log level (issue 16). Not part of
# `make test`: it takes a few minutes and measures, it does not assert.
#
#   bash scripts/measure-log-lines.sh [N]        # N settled objects, default 1000
#   LEVEL=debug bash scripts/measure-log-lines.sh 100
#   RUST_LOG='info,aws_smithy_runtime=debug' bash scripts/measure-log-lines.sh   # any filter
#
# Uses the dev environment (started if needed, stopped afterwards unless
# KEEP=1), creates N deployment groups and N CrossAccountDeployments in
# namespace `webapp`, and reports, with the lines themselves under /tmp/crossdeploy-measure/:
#   settle   lines while the N objects deploy and settle (Ready=True)
#   restart  lines in the first 30 s after an operator restart over them
#   failed   lines for one deployment that fails (emulator mode `fail`), 30 s
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
N="${1:-1000}"
LEVEL="${LEVEL:-info}"
BIN="$(bash scripts/tools.sh | tail -1)"
export PATH="$BIN:$PATH"
PY="$(bash tests/emulator/setup-venv.sh | tail -1)"
OUT="${TMPDIR:-/tmp}/crossdeploy-measure"

eval "$(bash scripts/dev-env.sh up 2>/dev/null)"
OP_PID=
stop_operator() {
  [[ -n "$OP_PID" ]] || return 0
  kill -TERM "$OP_PID" 2>/dev/null || true
  wait "$OP_PID" 2>/dev/null || true
  OP_PID=
}
cleanup() {
  stop_operator
  [[ "${KEEP:-0}" == 1 ]] || bash scripts/dev-env.sh down
}
trap cleanup EXIT
mkdir -p "$OUT"

# A private copy: the target directory is shared and may be rebuilt meanwhile.
cargo build --quiet --bin crossdeploy
cp "$CARGO_TARGET_DIR/debug/crossdeploy" "$OUT/crossdeploy"
start_operator() { # LOG
  "$OUT/crossdeploy" run --operator-namespace crossdeploy-system --http-addr 127.0.0.1:0 \
    --s3-force-path-style --log-level "$LEVEL" >"$1" 2>&1 &
  OP_PID=$!
}
ready_count() {
  kubectl -n webapp get xad -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' |
    grep -c '^True$' || true
}

kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null
kubectl apply -f examples/01-platform-admin.yaml >/dev/null

echo "==> $N deployment groups and CrossAccountDeployments"
"$PY" - "$N" "$AWS_ENDPOINT_URL" "$OUT/objects.yaml" <<'PY'
import json, sys, urllib.request
from concurrent.futures import ThreadPoolExecutor
import boto3
n, endpoint, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
world = json.load(urllib.request.urlopen(f"{endpoint}/_crossdeploy/world"))
admin = world["identities"]["prodAdmin"]
cd = boto3.client("codedeploy", endpoint_url=endpoint, region_name=world["region"],
                  aws_access_key_id=admin["accessKeyId"], aws_secret_access_key=admin["secretAccessKey"])
role = world["codedeploy"]["serviceRoleArn"]
def group(name):
    try:
        cd.create_deployment_group(applicationName="webapp", deploymentGroupName=name, serviceRoleArn=role)
    except cd.exceptions.DeploymentGroupAlreadyExistsException:
        pass
names = [f"lg-{i:04d}" for i in range(n)] + ["lg-fail"]
with ThreadPoolExecutor(8) as pool:
    list(pool.map(group, names))
req = urllib.request.Request(f"{endpoint}/_crossdeploy/codedeploy/behaviour", method="POST",
    headers={"Content-Type": "application/json"},
    data=json.dumps({"applicationName": "webapp", "deploymentGroupName": "lg-fail", "mode": "fail"}).encode())
urllib.request.urlopen(req).read()
def cad(name, group):
    return {"apiVersion": "crossdeploy.io/v1alpha1", "kind": "CrossAccountDeployment",
            "metadata": {"name": name, "namespace": "webapp"},
            "spec": {"targetAccountRef": {"name": "production"}, "applicationName": "webapp",
                     "deploymentGroupName": group,
                     "revision": {"s3": {"bucket": "crossdeploy-revisions", "key": "webapp/webapp-1.0.0.zip"}}}}
with open(out, "w") as f:
    json.dump({"apiVersion": "v1", "kind": "List", "items": [cad(g, g) for g in names[:-1]]}, f)
with open(out.replace("objects", "failing"), "w") as f:
    json.dump(cad("failing", "lg-fail"), f)
PY
kubectl apply --server-side -f "$OUT/objects.yaml" >/dev/null

echo "==> settle: operator at --log-level $LEVEL${RUST_LOG:+ (RUST_LOG=$RUST_LOG)} until $N are Ready"
start=$SECONDS
start_operator "$OUT/settle.log"
until [[ "$(ready_count)" -ge "$N" ]]; do
  (( SECONDS - start < 900 )) || die "not all Ready after 900 s; see $OUT/settle.log"
  sleep 5
done
echo "    all Ready after $((SECONDS - start)) s"
sleep 5
stop_operator

echo "==> restart: first 30 s over $N settled objects"
start_operator "$OUT/restart.log"
sleep 30
cp "$OUT/restart.log" "$OUT/restart-30s.log"

echo "==> failed: one deployment whose group fails (30 s)"
before=$(wc -l <"$OUT/restart.log")
kubectl apply --server-side -f "$OUT/failing.yaml" >/dev/null
sleep 30
tail -n +"$((before + 1))" "$OUT/restart.log" >"$OUT/failed.log"
stop_operator

summary() { # NAME FILE: line count, then lines by level and message
  python3 - "$@" <<'PY'
import collections, re, sys
name, path = sys.argv[1], sys.argv[2]
lines = open(path, errors="replace").read().splitlines()
kinds = collections.Counter()
for line in lines:
    m = re.match(r"\S+\s+([A-Z]+) .*?\b([a-z_]+(?:::[a-z_0-9]+)+): (.*?)(?: \w+=|$)", line)
    reason = re.search(r" reason=(\w+)", line)
    kinds[f"{m.group(1)} {m.group(3)}{f' {reason.group(1)}' if reason else ''}" if m else line[:60]] += 1
print(f"{name:<8} {len(lines):6d} lines   " + ", ".join(f"{n}× {k}" for k, n in kinds.most_common()))
PY
}
echo
summary settle "$OUT/settle.log"
summary restart "$OUT/restart-30s.log"
summary failed "$OUT/failed.log"
echo "(lines in $OUT)"
