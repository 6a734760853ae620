# The two commands a newcomer needs are `make demo` and `make test`.
.PHONY: demo test dev-up dev-down crds lint image bench chaos

demo:        ## run the guide's scenario through crossdeploy, end to end
	bash scripts/demo.sh

test:        ## every test: lint, unit, CRD drift, emulator, e2e on the real environment
	bash scripts/test.sh

dev-up:      ## start kube-apiserver + etcd and the AWS emulator; prints the variables
	bash scripts/dev-env.sh up

dev-down:
	bash scripts/dev-env.sh down

crds:        ## regenerate crds/ from the Rust types (and the copies kustomize and Helm need)
	cargo run --quiet -- crds > crds/crossdeploy.io.yaml
	cp crds/crossdeploy.io.yaml deploy/crds/crossdeploy.io.yaml
	cp crds/crossdeploy.io.yaml charts/crossdeploy/crds/crossdeploy.io.yaml

bench:       ## N objects over M accounts, five phases, one table + plot (BENCH_ARGS="--objects 500 --accounts 10"; not part of test)
	bash scripts/bench.sh scale $(BENCH_ARGS)

chaos:       ## SIGKILLs, API-server restart, AWS faults, frozen leader: one table (CHAOS_ARGS=...; not part of test)
	bash scripts/bench.sh chaos $(CHAOS_ARGS)

image:       ## the operator image without Docker: OCI layout + oci-archive, checked and run (not part of test)
	bash scripts/image.sh

lint:
	cargo fmt --check
	cargo clippy --all-targets -- -D warnings
	python3 scripts/fn-lengths.py
