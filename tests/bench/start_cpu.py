"""What the sink adds to a JVM's start, in CPU time, measured in the JVM: fresh JVMs, alternately
with the sink and without (tests/bench/jvm/io/sparkprom/StartBench.java), each giving the process'
CPU from just before the sink is created until its first report is pushed and the node thread has
collected once, against the same wait without a sink. The workload benchmark's `start` job
measures the same thing through a whole Spark application, where the runs themselves spread by
seconds.

    python3 tests/bench/start_cpu.py [--runs 15] [--metrics 1000]
"""
import argparse
import re
import statistics
import subprocess

from memory import NATIVE_LIB, compile_harness, receiver


def sample(mode, classpath, url, metrics):
    """(CPU ms to the end of the wait, {step: CPU ms by then}) of one fresh JVM."""
    out = subprocess.run(["java", "-cp", classpath, "io.sparkprom.StartBench", mode, str(NATIVE_LIB), url,
                          str(metrics)], capture_output=True, text=True, timeout=120, check=True).stdout
    steps = {step: float(ms) for step, ms in re.findall(r"^STEP (\S+) (\S+)", out, re.M)}
    return float(re.search(r"^START_CPU_MS (\S+)", out, re.M).group(1)), steps


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--metrics", type=int, default=1000)
    args = parser.parse_args()
    classpath = compile_harness("bench-start")
    url = receiver()
    samples = {"none": [], "sink": []}
    steps = []
    for _ in range(args.runs):
        for mode in samples:
            total, reached = sample(mode, classpath, url, args.metrics)
            samples[mode].append(total)
            if mode == "sink":
                steps.append(reached)
    none, sink = (statistics.median(samples[mode]) for mode in ("none", "sink"))
    added = sorted(s - n for s, n in zip(samples["sink"], samples["none"]))
    print(f"JVM start-up CPU the sink adds ({args.metrics} metrics, {args.runs} fresh JVMs each, alternating): "
          f"median {sink - none:.0f} ms (with the sink {sink:.0f} ms, without {none:.0f} ms over the same "
          f"2-second wait); paired by run: {added[0]:.0f} to {added[-1]:.0f} ms")
    print("  CPU by then, median ms (the process' CPU clock ticks in 10 ms): " + ", ".join(
        f"{step} {statistics.median(s[step] for s in steps):.0f}" for step in steps[0]) + f", pushed {sink:.0f}")


if __name__ == "__main__":
    main()
