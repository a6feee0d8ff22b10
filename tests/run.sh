#!/usr/bin/env bash
# Every test: installs what is missing, builds (the development build, then the portable release
# build into target/dist), runs the Rust unit tests, then the end-to-end tests with real Spark
# (each release in tests/spark-versions.txt) and a real Prometheus.
# CI runs this (.ci/run); so can you.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
bash tests/setup.sh
cargo build --release
cargo build --release --examples
bash release/build.sh
cargo test --release
python3 -m pytest -v tests
