#!/usr/bin/env bash
# All tests, in the order that fails fastest: formatting and lints, unit and
# CRD-drift tests, the emulator's own tests, then e2e against the real
# kube-apiserver + etcd and the AWS emulator (started by the test harness).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
need cargo "install Rust (rustup)"
need go "the control plane and the status checker are built from Go modules"
need python3 "the AWS emulator (moto) runs on Python 3.11"

t0=$SECONDS
step() { echo; echo "==> $* (+$((SECONDS - t0))s)"; }

step "preparing the environment pieces (cached)"
CONTROLPLANE="$(bash tests/controlplane/build.sh | tail -1)"
STATUSCHECK="$(bash tests/statuscheck/build.sh | tail -1)"
PYTHON="$(bash tests/emulator/setup-venv.sh | tail -1)"
[[ -x "$CONTROLPLANE" ]] || die "control plane binary missing after build"
[[ -x "$STATUSCHECK" ]] || die "status checker (kstatus, Argo CD, Flux) binary missing after build"
[[ -x "$PYTHON" ]] || die "emulator venv missing after setup"

step "cargo fmt --check"
cargo fmt --check
step "cargo clippy --all-targets -- -D warnings"
cargo clippy --quiet --all-targets -- -D warnings

step "no non-test function reaches 60 lines"
python3 scripts/fn-lengths.py

step "emulator tests (pytest)"
PYTHONPATH=tests/emulator "$PYTHON" -m pytest -q -p no:cacheprovider tests/emulator

step "cargo test (unit, CRD drift, e2e)"
# e2e tests are isolated (a namespace, TargetAccount and deployment group
# each), so they run in parallel; most of their time is waiting.
cargo test --all-targets -- --test-threads "${E2E_THREADS:-8}"
step "all tests passed"
