"""Many JVMs, one receiver: starts a real Prometheus and N simulated JVMs (examples/push, each a
separate process with its own core, node-stats thread and HTTP client) that report M metrics every
P seconds for a while, their starts spread over one period as a cluster's executors are. Prints
what Prometheus ingested and refused and what the sinks cost.

    python3 tests/bench/scale.py [--jvms 200] [--metrics 300] [--period 10] [--seconds 60]
"""
import argparse
import json
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness.paths import RELEASE  # noqa: E402
from harness.prometheus import Prometheus  # noqa: E402

PUSH = RELEASE / "examples" / "push"


def prometheus_counters(server):
    """Samples Prometheus appended, and remote-write requests by status code, from /metrics."""
    with urllib.request.urlopen(f"{server.url}/metrics", timeout=10) as r:
        text = r.read().decode()
    appended = sum(float(v) for v in re.findall(r'^prometheus_tsdb_head_samples_appended_total(?:\{[^}]*\})? (\S+)$',
                                                text, re.M))
    codes = {}
    for code, value in re.findall(r'^prometheus_http_requests_total\{code="(\d+)",handler="/api/v1/write"\} (\S+)$',
                                  text, re.M):
        codes[code] = codes.get(code, 0) + float(value)
    out_of_order = sum(float(v) for v in re.findall(r'^prometheus_tsdb_out_of_order_samples_total(?:\{[^}]*\})? (\S+)$',
                                                    text, re.M))
    return appended, codes, out_of_order


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--jvms", type=int, default=200)
    parser.add_argument("--metrics", type=int, default=300, help="Spark metrics per JVM (gauges)")
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=60.0, help="how long each JVM reports")
    args = parser.parse_args()
    if not PUSH.exists():
        sys.exit(f"build first: cargo build --release --examples (missing {PUSH})")

    server = Prometheus().start()
    try:
        appended0, codes0, ooo0 = prometheus_counters(server)
        reports = max(1, int(args.seconds / args.period))
        jvms = []
        started = time.time()
        for i in range(args.jvms):
            command = [str(PUSH), "--reports", str(reports), "--period-ms", str(int(args.period * 1000)),
                       "--metrics", str(args.metrics), "--executor-id", str(i), f"url={server.write_url}",
                       f"node.period={args.period}s", "logLevel=warn"]
            jvms.append(subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
            # Executors do not start in the same millisecond: spread the starts over one period.
            time.sleep(args.period / args.jvms)
        results, warnings = [], 0
        for process in jvms:
            out, err = process.communicate(timeout=args.seconds + 120)
            warnings += sum(1 for line in err.splitlines() if " WARN " in line or " ERROR " in line)
            results.append(json.loads(out.strip().splitlines()[-1]))
        elapsed = time.time() - started
        time.sleep(1)
        appended1, codes1, ooo1 = prometheus_counters(server)
    finally:
        server.stop()

    sent = sum(r["sent"] for r in results)
    cpu = sum(r["cpu_seconds"] for r in results)
    failed = sum(r["failed"] + r["rejected"] + r["dropped"] for r in results)
    appended = appended1 - appended0
    refused = {c: codes1.get(c, 0) - codes0.get(c, 0) for c in codes1 if not c.startswith("2")}
    rss = sorted(r["max_rss_kib"] for r in results)
    print(f"{args.jvms} JVMs x {args.metrics} metrics every {args.period:g}s for {args.seconds:g}s "
          f"({elapsed:.0f}s with staggered starts), one Prometheus 2.42 on the same 2-core machine")
    print(f"  samples sent by the sinks      {sent:>12,.0f}   ({sent / elapsed:,.0f}/s)")
    print(f"  samples appended by Prometheus {appended:>12,.0f}")
    print(f"  requests refused by Prometheus {sum(refused.values()):>12,.0f}   {refused or ''}")
    print(f"  out-of-order samples           {ooo1 - ooo0:>12,.0f}")
    print(f"  samples failed/rejected/dropped{failed:>12,.0f}")
    print(f"  WARN/ERROR log lines           {warnings:>12,}")
    print(f"  sink CPU per 1,000 samples     {cpu / max(sent, 1) * 1000 * 1e3:>12.3f} ms "
          f"(whole simulated JVM: core, node stats, HTTP; {cpu:.1f} CPU-s in all)")
    print(f"  peak RSS per simulated JVM     {rss[len(rss) // 2] / 1024:>12.1f} MiB median, {rss[-1] / 1024:.1f} MiB max")


if __name__ == "__main__":
    main()
