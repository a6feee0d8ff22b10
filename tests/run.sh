#!/usr/bin/env bash
# Every test: installs what is missing, builds (the development build, then the portable release
# build of both architectures into target/dist), runs the Rust tests on x86_64, the end-to-end
# tests with real Spark (each release in tests/spark-versions.txt) and a real Prometheus, and the
# Rust tests again compiled for aarch64 (while the end-to-end tests run) under qemu-user.
# CI runs this (.ci/run); so can you.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
started=$SECONDS
stage() { echo "run.sh: $1 ($((SECONDS - started)) s in)"; }

stage "setup"
bash tests/setup.sh
stage "development build"
cargo build --release
cargo build --release --examples
stage "release build (x86_64, aarch64)"
bash release/build.sh
stage "Rust tests (x86_64) and clippy"
# tests/rust/fuzz.rs: 200,000 mutated inputs for each of the two targets, about a minute.
SPARKPROM_FUZZ_CASES=200000 cargo test --release
# Cargo.toml's [lints] (no unwrap outside tests) only hold where clippy runs.
cargo clippy --release --all-targets -- -D warnings
# The core's unit tests and the delivery tests (real threads, queue and HTTP against a scripted
# receiver), compiled for aarch64 by Debian's rustc (see release/build.sh) and run under qemu-user.
# Without debug info: it is compiled only for this run. Its own target directory: the end-to-end
# tests' builds never wait for its lock.
aarch64_tests() {
  RUSTC=/usr/bin/rustc CARGO_TARGET_DIR=target/aarch64-tests CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc \
    CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER=qemu-aarch64-static \
    cargo test --release --target aarch64-unknown-linux-gnu --lib --test delivery "$@"
}
stage "end-to-end tests"
# Meanwhile, at the lowest CPU priority (on what the Spark tests leave idle): the aarch64 tests'
# compile (5 minutes of both cores on their own) and the release build from a copy of this
# checkout elsewhere (6 minutes; test_release compares its bytes, waiting for it if need be).
export SPARKPROM_ELSEWHERE
SPARKPROM_ELSEWHERE="$(mktemp -d)/elsewhere"
(renice -n 19 -p "$BASHPID" > /dev/null; bash release/elsewhere.sh "$SPARKPROM_ELSEWHERE") &
(renice -n 19 -p "$BASHPID" > /dev/null; aarch64_tests --no-run > target/aarch64-tests.log 2>&1) &
# --durations: where the end-to-end time goes, for keeping CI under its budget.
python3 -m pytest -v --durations=40 tests/e2e
stage "Rust tests (aarch64, emulated)"
wait
aarch64_tests
stage "done"
