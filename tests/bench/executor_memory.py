"""What the sink costs a real executor in resident memory: the same Spark job (tests/e2e/jobs/
count_job.py) on local-cluster[2,1,1024] with the sink and without, each executor JVM's heap
pinned (spark.executor.memory=512m, the least Spark 4 accepts, -Xms512m -XX:+AlwaysPreTouch). Each executor's RSS is read
from /proc every second; the figure is its median over the second half of the job (after
warm-up). The sink pushes every 2 s to a local receiver that accepts everything.

    python3 tests/bench/executor_memory.py [--seconds 150] [--runs 2] [--spark 4.3.0] [--compare DIR]

--compare DIR adds a third side: the sink from another build (DIR holds its sparkprom.jar and
libsparkprom.so), e.g. the commit before a memory change, measured in the same run.
"""
import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from harness.paths import JAR, JOBS, RELEASE, newest_version, spark_install  # noqa: E402
from harness.spark import sink_conf, submit  # noqa: E402
from memory import receiver, rss_kib  # noqa: E402

PINNED = {"spark.executor.memory": "512m", "spark.executor.extraJavaOptions": "-Xms512m -XX:+AlwaysPreTouch"}


def executors():
    """Pids of the executor JVMs running now."""
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"CoarseGrainedExecutorBackend" in cmdline:
                pids.append(int(proc.name))
    return pids


def one_run(install, seconds, conf):
    outcome = {}
    job = threading.Thread(target=lambda: outcome.update(run=submit(install, JOBS / "count_job.py", [seconds], jars=(),
                                                                      conf=conf, timeout=seconds + 300)))
    job.start()
    readings = {}  # pid -> [(time, rss KiB)]
    started = time.time()
    while job.is_alive():
        for pid in executors():
            try:
                readings.setdefault(pid, []).append((time.time() - started, rss_kib(pid)))
            except (OSError, AttributeError):
                pass
        time.sleep(1)
    job.join()
    assert outcome["run"].returncode == 0, outcome["run"].output[-3000:]
    medians = []
    for series in readings.values():
        late = [rss for t, rss in series if t >= series[0][0] + seconds / 2]
        if late:
            medians.append(statistics.median(late))
    assert medians, "no executor was seen"
    return medians


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=150)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--spark", default=newest_version())
    parser.add_argument("--compare", type=Path)
    args = parser.parse_args()
    install = spark_install(args.spark)
    url = receiver()
    sides = {"without the sink": dict(PINNED), "with the sink": {**PINNED, **sink_conf(url)}}
    if args.compare:
        other = {k: v.replace(str(JAR), str(args.compare / "sparkprom.jar")).replace(
            str(RELEASE), str(args.compare)) for k, v in sink_conf(url).items()}
        sides[f"with {args.compare}"] = {**PINNED, **other}
    figures = {side: [] for side in sides}
    for _ in range(args.runs):
        for side, conf in sides.items():
            figures[side] += one_run(install, args.seconds, conf)
    mib = lambda kib: f"{kib / 1024:.1f} MiB"  # noqa: E731
    print(f"Spark {args.spark}, local-cluster[2,1,1024], heap pinned at 512 MiB, {args.seconds} s job, "
          f"{args.runs} runs; executor RSS, median over the second half of each run:")
    without = statistics.median(figures["without the sink"])
    for side, values in figures.items():
        added = statistics.median(values) - without
        print(f"  {side:18} {', '.join(mib(v) for v in values)}  (median {mib(statistics.median(values))}, "
              f"{'+' if added >= 0 else ''}{mib(added)})")
    spread = max(figures["without the sink"]) - min(figures["without the sink"])
    print(f"  run-to-run spread without the sink: {mib(spread)}")


if __name__ == "__main__":
    main()
