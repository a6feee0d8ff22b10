#!/usr/bin/env bash
# Every benchmark, one after the other, printing figures (no pass/fail): the JVM side against
# the floor and PrometheusServlet, the Rust core (Criterion), node statistics, the core's memory
# against capacity and over a long run, what the sink adds to a JVM's and to a real executor's
# resident memory, 200 simulated JVMs pushing into one real Prometheus, the driver's listener's CPU
# per task (at fixed event rates, then 10,000 and 100,000 tiny tasks side by side), and a real
# workload (TPC-H, many tiny tasks) with no metrics, the sink and PrometheusServlet side by side.
# Usage: tests/bench/run-all.sh        (about 3 hours on a 2-core machine: the workload
# benchmark, TPC-H five times in four configurations and 100,000-task jobs, is most of it)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
bash tests/setup.sh >/dev/null
cargo build --release
cargo build --release --examples
echo "== JVM side: report() vs the floor vs PrometheusServlet (tests/bench/run-jvm.sh)"
bash tests/bench/run-jvm.sh 300 200,1000,5000
echo "== Rust core stages (cargo bench --bench core)"
cargo bench --bench core 2>&1 | grep -E "^core/|thrpt:|wire:"
echo "== Node statistics: CPU per collection"
./target/release/examples/node_stats --bench 1000
echo "== Native memory against capacity (tests/bench/native_memory.py)"
python3 tests/bench/native_memory.py
echo "== Native memory over a long run (tests/bench/long_run.py)"
python3 tests/bench/long_run.py
echo "== What the sink adds to a JVM's start, in CPU (tests/bench/start_cpu.py)"
python3 tests/bench/start_cpu.py --runs 15
echo "== What the sink adds to a JVM's resident memory (tests/bench/memory.py)"
python3 tests/bench/memory.py --seconds 75 --runs 2
echo "== What the sink adds to a real executor's resident memory (tests/bench/executor_memory.py)"
python3 tests/bench/executor_memory.py --seconds 120 --runs 2
echo "== 200 simulated JVMs into one Prometheus (tests/bench/scale.py)"
python3 tests/bench/scale.py --jvms 200 --metrics 300 --period 10 --seconds 60
echo "== The driver's listener's CPU per task: fixed event rates, then 10,000 and 100,000 tiny tasks (tests/bench/listener_cost.py)"
python3 tests/bench/listener_cost.py --repeats 2
echo "== A real workload: TPC-H and many tiny tasks, no metrics vs sparkprom (with and without its listener) vs PrometheusServlet (tests/bench/workload.py)"
bash release/build.sh >/dev/null
python3 tests/bench/workload.py --scale 0.1 --tasks 100000 --repeats 5 --workloads tpch,start
python3 tests/bench/workload.py --tasks 100000 --repeats 2 --workloads tiny --configs none,sparkprom,nolistener,servlet
