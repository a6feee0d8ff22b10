"""The native core's memory against its `capacity`: one simulated JVM (examples/push) reports
5,000 metrics every 20 ms to a receiver that is down, so the queue fills, then keeps reporting
while the oldest samples are dropped. Its peak resident memory is printed per capacity, for two
and four times the capacity's worth of samples: bounded memory means the two peaks are equal.

    python3 tests/bench/native_memory.py [capacities, default 10000,100000,1000000]
"""
import json
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness.paths import RELEASE  # noqa: E402

PUSH = RELEASE / "examples" / "push"
METRICS = 5000


def dead_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/v1/write"


def peak(capacity, fills):
    reports = fills * capacity // METRICS + 1
    command = [str(PUSH), "--reports", str(reports), "--period-ms", "20", "--metrics", str(METRICS),
               f"url={dead_url()}", f"capacity={capacity}", f"maxSamplesPerSend={min(2000, capacity)}",
               "node.enabled=false", "flushTimeout=100ms", "logLevel=off"]
    result = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    return result["max_rss_kib"] * 1024, result["dropped"]


def main():
    if not PUSH.exists():
        sys.exit(f"build first: cargo build --release --examples (missing {PUSH})")
    capacities = [int(c) for c in (sys.argv[1] if len(sys.argv) > 1 else "10000,100000,1000000").split(",")]
    baseline, _ = peak(1000, 1)
    print(f"receiver down, {METRICS} metrics per report; baseline (capacity 1,000): {baseline / 2**20:.1f} MiB")
    print(f"{'capacity':>10} {'peak at 2x fill':>16} {'peak at 4x fill':>16} {'dropped at 4x':>14} {'bytes/sample':>13}")
    for capacity in capacities:
        two, _ = peak(capacity, 2)
        four, dropped = peak(capacity, 4)
        per_sample = (four - baseline) / capacity
        print(f"{capacity:>10,} {two / 2**20:>13.1f} MiB {four / 2**20:>13.1f} MiB {dropped:>14,} {per_sample:>13.1f}")


if __name__ == "__main__":
    main()
