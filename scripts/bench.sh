#!/usr/bin/env bash
# make bench / make chaos: the scale benchmark or the chaos run, with the
# operator and the bench program built in release mode (cargo bench). Not part
# of make test. Arguments go to the program:
#   scripts/bench.sh scale --objects 500 --accounts 10
#   scripts/bench.sh chaos --kills 20 --scenarios kill,throttle
# Each starts its own kube-apiserver + etcd and emulator unless
# CROSSDEPLOY_E2E_ENV is set (make dev-up; then `source .dev/env.sh`).
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
need cargo "install Rust (rustup)"
need go "the control plane is built from Go modules"
need python3 "the AWS emulator (moto) runs on Python 3.11"
program="${1:?usage: $0 scale|chaos [flags]}"
shift
cargo bench --bench "$program" -- "$@"
