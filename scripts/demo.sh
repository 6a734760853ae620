#!/usr/bin/env bash
# The guide's scenario through crossdeploy: environment up, operator running,
# examples/ applied, the deployment reaching Succeeded in the production
# account. KEEP=1 leaves everything running afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
need cargo "install Rust (rustup)"
BIN="$(bash scripts/tools.sh | tail -1)"
export PATH="$BIN:$PATH"

echo "==> starting the environment (kube-apiserver + etcd, AWS emulator)"
eval "$(bash scripts/dev-env.sh up)"
cleanup() {
  [[ -n "${OP_PID:-}" ]] && kill "$OP_PID" 2>/dev/null || true
  [[ "${KEEP:-0}" == 1 ]] || bash scripts/dev-env.sh down
}
trap cleanup EXIT

echo "==> building crossdeploy (also the kubectl plugin: .dev/bin/kubectl-crossdeploy links to it)"
cargo build --quiet --bin crossdeploy
mkdir -p .dev/bin
ln -sf "$CARGO_TARGET_DIR/debug/crossdeploy" .dev/bin/crossdeploy
ln -sf "$CARGO_TARGET_DIR/debug/crossdeploy" .dev/bin/kubectl-crossdeploy
export PATH="$ROOT/.dev/bin:$PATH"
echo "==> installing the CRDs"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established crd --all --timeout=60s >/dev/null

echo "==> platform admin: TargetAccount 'production' (role in 222222222222, ExternalId from a Secret)"
kubectl apply -f examples/01-platform-admin.yaml
echo "==> starting the operator (as the development account's crossdeploy-operator user)"
"$CARGO_TARGET_DIR/debug/crossdeploy" run --operator-namespace crossdeploy-system \
  --http-addr 127.0.0.1:0 --s3-force-path-style >.dev/operator.log 2>&1 &
OP_PID=$!

echo "==> application team: CrossAccountDeployment 'webapp'"
kubectl apply -f examples/02-webapp-deployment.yaml
kubectl -n webapp wait --for=condition=Ready xad/webapp --timeout=120s >/dev/null ||
  { tail -30 .dev/operator.log; kubectl -n webapp describe xad webapp; die "webapp did not become Ready"; }
kubectl wait --for=condition=Ready targetaccount/production --timeout=60s >/dev/null || true

echo "==> continuous delivery: RevisionSource 'webapp-releases' (highest semver under webapp/)"
kubectl apply -f examples/03-revision-source.yaml
kubectl -n webapp wait --for=condition=Ready xrs/webapp-releases --timeout=120s >/dev/null ||
  { tail -30 .dev/operator.log; kubectl -n webapp describe xrs webapp-releases; die "the source did not become Ready"; }
for _ in $(seq 1 240); do
  [[ "$(kubectl -n webapp get xad webapp -o jsonpath='{.status.revision.key}/{.status.currentDeployment.status}')" == webapp/webapp-2.0.0.zip/Succeeded ]] && break
  sleep 0.5
done
[[ "$(kubectl -n webapp get xad webapp -o jsonpath='{.status.currentDeployment.status}')" == Succeeded ]] ||
  { tail -30 .dev/operator.log; die "webapp 2.0.0 was not deployed"; }

echo
kubectl get targetaccounts
echo
kubectl get revisionsources -A
echo
kubectl get crossaccountdeployments -A
echo
kubectl -n webapp get xad webapp -o jsonpath='{range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\n"}{end}'
echo
echo "==> crossdeploy doctor production --deployment webapp/webapp (the guide's five steps, live)"
CROSSDEPLOY_S3_FORCE_PATH_STYLE=true crossdeploy doctor production --deployment webapp/webapp
echo
echo "==> kubectl crossdeploy status -A"
kubectl crossdeploy status -A
echo
echo "Deployed. Run with KEEP=1 to keep the environment (source .dev/env.sh; export PATH=\$PWD/.dev/bin:\$PATH)"
echo "and the operator log (.dev/operator.log)."
