#!/bin/bash
# Does the test control plane keep every acknowledged write across a SIGKILL
# and a --keep-data restart (what make chaos and make bench do to it)? Four
# writers create ConfigMaps; the control plane is killed after $1 seconds
# (default 3), started again, and every acknowledged create is looked for.
# Needs the control plane built (make test or make dev-up builds it).
set -u
CP=$(ls -t ~/.cache/crossdeploy/controlplane/*/crossdeploy-controlplane | head -1)
D=$(mktemp -d); rm -rf $D; mkdir -p $D
$CP --dir $D --keep-data > $D/out1.json 2> $D/err1.log &
PID=$!
for i in $(seq 1 100); do [ -s $D/ready.json ] && break; sleep 0.2; done
export KUBECONFIG=$(python3 -c "import json;print(json.load(open('$D/ready.json'))['kubeconfig'])")
# concurrent writers, record each acknowledged create
: > $D/acked
for w in 1 2 3 4; do
  ( for i in $(seq 1 60); do kubectl create cm w$w-$i >/dev/null 2>&1 && echo w$w-$i >> $D/acked; done ) &
done
sleep ${1:-3}
kill -KILL $PID; wait $PID 2>/dev/null
sleep 0.5; wait
ACKED=$(wc -l < $D/acked)
$CP --dir $D --keep-data > $D/out2.json 2> $D/err2.log &
PID=$!
for i in $(seq 1 100); do [ -s $D/out2.json ] && break; sleep 0.2; done
sleep 1
kubectl get cm -o name | sed 's#configmap/##' | sort > $D/present
sort $D/acked > $D/acked.s
echo "acked=$ACKED present=$(grep -c '^w' $D/present) lost=$(comm -23 $D/acked.s $D/present | wc -l)"
comm -23 $D/acked.s $D/present | head
kill -TERM $PID; wait $PID 2>/dev/null
