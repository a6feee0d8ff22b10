"""Native memory over a long run, compressed: one simulated JVM (examples/push, the same core)
reports 1,000 metrics every 20 ms to a receiver that accepts everything, 6,000 reports in about
two minutes (16 hours of reports at the default 10-second period). Its RSS is read every second;
printed at each fifth of the run. No growth after warm-up means the line stays flat.

    python3 tests/bench/long_run.py [--reports 6000] [--metrics 1000]
"""
import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.paths import RELEASE  # noqa: E402
from memory import receiver, rss_kib  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--reports", type=int, default=6000)
    parser.add_argument("--metrics", type=int, default=1000)
    args = parser.parse_args()
    command = [str(RELEASE / "examples" / "push"), "--reports", str(args.reports), "--period-ms", "20",
               "--metrics", str(args.metrics), f"url={receiver()}", "logLevel=warn"]
    push = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    started, readings = time.time(), []
    while push.poll() is None:
        try:
            readings.append((time.time() - started, rss_kib(push.pid)))
        except (OSError, AttributeError):
            break
        time.sleep(1)
    result = json.loads(push.stdout.read().splitlines()[-1])
    hours = args.reports * 10 / 3600
    print(f"{args.reports} reports of {args.metrics} metrics in {readings[-1][0]:.0f} s "
          f"({hours:.1f} hours at a 10 s period); {result['sent']:,} samples sent, {result['dropped']} dropped")
    fifths = [readings[min(len(readings) - 1, len(readings) * k // 5)] for k in range(1, 6)]
    print("  RSS at each fifth: " + ", ".join(f"{rss / 1024:.1f} MiB" for _, rss in fifths))
    print(f"  growth from the first fifth to the end: {(fifths[-1][1] - fifths[0][1]) / 1024:+.1f} MiB")


if __name__ == "__main__":
    main()
