#!/usr/bin/env bash
# The local environment: a real kube-apiserver + etcd and the two-account AWS
# emulator, on 127.0.0.1 with free ports.
#   scripts/dev-env.sh up     start (or reuse) and print the variables to use
#   scripts/dev-env.sh down   stop and remove .dev/
#   scripts/dev-env.sh env    print the variables of the running environment
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
DEV="$ROOT/.dev"

running() { [[ -f "$DEV/$1.pid" ]] && kill -0 "$(cat "$DEV/$1.pid")" 2>/dev/null; }

# start NAME CMD...: runs CMD detached; waits for its one JSON line on stdout.
start() {
  local name=$1; shift
  : >"$DEV/$name.json"
  setsid "$@" >"$DEV/$name.json" 2>"$DEV/$name.log" </dev/null &
  echo $! >"$DEV/$name.pid"
  for _ in $(seq 1 600); do
    [[ -s "$DEV/$name.json" ]] && return 0
    running "$name" || { tail -20 "$DEV/$name.log" >&2; die "$name exited during start-up (log: $DEV/$name.log)"; }
    sleep 0.2
  done
  die "$name not ready after 120 s (log: $DEV/$name.log)"
}

print_env() {
  python3 - "$DEV" <<'PY'
import json, sys
dev = sys.argv[1]
cp = json.load(open(f"{dev}/controlplane.json"))
world = json.load(open(f"{dev}/emulator.json"))
op = world["identities"]["operator"]
json.dump({"kubeconfig": cp["kubeconfig"], "world": world, "workDir": dev}, open(f"{dev}/env.json", "w"))
lines = {
    "KUBECONFIG": cp["kubeconfig"],
    "AWS_ENDPOINT_URL": world["endpoint"],
    "AWS_REGION": world["region"],
    "AWS_ACCESS_KEY_ID": op["accessKeyId"],
    "AWS_SECRET_ACCESS_KEY": op["secretAccessKey"],
    "CROSSDEPLOY_E2E_ENV": f"{dev}/env.json",
}
with open(f"{dev}/env.sh", "w") as f:
    for k, v in lines.items():
        f.write(f"export {k}='{v}'\n")
print(open(f"{dev}/env.sh").read(), end="")
PY
}

up() {
  need python3 "the emulator and these scripts need Python 3.11"
  mkdir -p "$DEV"
  local cp py
  cp="$(bash "$ROOT/tests/controlplane/build.sh" | tail -1)" || die "control plane build failed"
  py="$(bash "$ROOT/tests/emulator/setup-venv.sh" | tail -1)" || die "emulator venv setup failed"
  running controlplane || start controlplane "$cp" --dir "$DEV/controlplane"
  running emulator || PYTHONPATH="$ROOT/tests/emulator" start emulator "$py" -m crossdeploy_emulator --port 0
  echo "# environment up; use it with: source .dev/env.sh" >&2
  print_env
}

down() {
  for name in controlplane emulator; do
    if running "$name"; then
      local pid; pid="$(cat "$DEV/$name.pid")"
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$DEV"
  echo "environment down" >&2
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  env) [[ -f "$DEV/env.sh" ]] || die "no environment: run scripts/dev-env.sh up"; cat "$DEV/env.sh" ;;
  *) die "usage: $0 up|down|env" ;;
esac
