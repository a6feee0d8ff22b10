#!/usr/bin/env bash
# Quickstart on a fresh machine: installs what is missing (JDK, Debian's prometheus, pyspark),
# builds the jar and the native library, starts Prometheus on 127.0.0.1 with its remote-write
# receiver, runs a Spark job in local-cluster mode with the sink and prints what arrived.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SPARKPROM_SETUP=quickstart bash tests/setup.sh
cargo build --release
python3 spark-conf/quickstart.py
