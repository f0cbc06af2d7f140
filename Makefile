# One-line targets; the scripts they call hold the logic.
.PHONY: build test soak lint fmt bench conformance demo demo-cdc demo-routing emulate deploy delete

build:
	cargo build --workspace

test:
	bash scripts/test.sh

soak:
	bash scripts/soak.sh

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	bash scripts/venv.sh >/dev/null && .venv/bin/cfn-lint template.yaml

fmt:
	cargo fmt --all

bench:
	bash scripts/bench-encoder.sh
	cargo bench -q -p maxcompute-core --bench pipeline
	bash scripts/bench-sink.sh
	bash scripts/bench-wan.sh
	cargo bench -q -p sink --bench cold_start 2>/dev/null

conformance:
	bash scripts/conformance.sh

demo:
	bash scripts/demo.sh

demo-cdc:
	bash scripts/demo-cdc.sh

demo-routing:
	bash scripts/demo-routing.sh

emulate:
	cargo run -p emulator -- maxcompute

deploy:
	bash scripts/deploy.sh deploy

delete:
	bash scripts/deploy.sh delete
