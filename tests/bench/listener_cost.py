"""What the driver's listener costs per task, measured where users run it.

First, at fixed event rates in one JVM (tests/bench/jvm/io/sparkprom/ListenerBench.java: a real
local SparkContext and its bus, task ends and starts posted so many pairs a second after a JIT
warm-up): the listener's queue thread's CPU per event with a listener that does nothing, with the
sink's listener taking events one by one (as before it gathered them) and as the sink attaches it.

Then real Spark in local-cluster[2,1,1024] (a driver and two executor JVMs), the sink pushing every
5 s into a real Prometheus, two shapes of near-empty tasks side by side in one run (tests/bench/
jobs/listener_cost_job.py, the workload benchmark's `tiny` query):
  10,000 tasks (one count, which Spark runs as two jobs), steady state from the 2,000th task on
  100,000 tasks (the workload benchmark's `tiny` shape)
For each: tasks per second; listener events per task; the listener's bus-queue thread's CPU per task,
read in the driver's JVM by thread name, in steady state (from the 2,000th task to the last, the bus
drained) and from the application's start to the query's end, with the value the sink pushed
(sparkprom_listener_cpu_seconds_total, to the application's end) beside it; for reference, Spark's
executorManagement queue thread (HeartbeatReceiver, which does nothing with task events: what a queue
thread costs per task with a listener that does nothing); and the sink's own threads (sparkprom-*
and reqwest's, in the application's JVMs, from /proc) plus the listener's, per task. Medians over
the repeats, shapes and builds alternating.

    python3 tests/bench/listener_cost.py [--rates 20,200,2000] [--rate-runs 3] [--shapes 10000,100000]
        [--repeats 2] [--compare DIR] [--spark 4.3.0]

--compare DIR: another build's sparkprom.jar and libsparkprom.so (e.g. the commit before a change),
measured in the same run, alternating with this one.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

from workload import jvms, sink_threads_cpu

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness.paths import JAR, REPO, RELEASE, newest_version, spark_install  # noqa: E402
from harness.prometheus import Prometheus  # noqa: E402
from harness.spark import sink_conf  # noqa: E402

JOB = Path(__file__).resolve().parent / "jobs" / "listener_cost_job.py"
HARNESS = REPO / "tests" / "bench" / "jvm" / "io" / "sparkprom" / "ListenerBench.java"
# What spark-submit's launcher gives Spark's JVM on Java 17 (Spark 3.4 needs it; later lines add it themselves).
JAVA_OPENS = ["-XX:+IgnoreUnrecognizedVMOptions", *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
    "java.lang", "java.lang.invoke", "java.nio", "java.util", "sun.nio.ch"))]


def fixed_rates(install, rates, repeats, seconds=15):
    """The harness' figures: {(mode, rate): [us of the queue thread's CPU per event]}, one fresh JVM
    each, the modes alternating."""
    out = REPO / "target" / "bench-listener"
    out.mkdir(parents=True, exist_ok=True)
    classpath = f"{out}:{JAR}:{install.home / 'jars'}/*"
    subprocess.run(["javac", "-nowarn", "-d", str(out), "-cp", classpath, str(HARNESS)], check=True)
    modes = ("noop", "before", "after")
    figures = {(mode, rate): [] for mode in modes for rate in rates}
    for repeat in range(repeats):
        for rate in rates:
            for mode in modes[repeat % 3:] + modes[:repeat % 3]:
                run = subprocess.run(["java", *JAVA_OPENS, "-cp", classpath, "io.sparkprom.ListenerBench", mode,
                                      str(rate), str(seconds)], capture_output=True, text=True, timeout=600)
                found = re.search(r"^LISTENER_BENCH (\S+)", run.stdout, re.M)
                if run.returncode != 0 or not found:
                    raise RuntimeError(f"ListenerBench {mode} {rate} failed:\n{run.stdout}\n{run.stderr[-3000:]}")
                figures[(mode, rate)].append(float(found.group(1)))
                print(f"# fixed rate {rate} pairs/s, {mode}: {figures[(mode, rate)][-1]:.2f} us per event", flush=True)
    clock = subprocess.run(["java", "-cp", classpath, "io.sparkprom.ListenerBench", "clock"], capture_output=True,
                           text=True, timeout=120, check=True).stdout
    clock_us = float(re.search(r"^LISTENER_BENCH (\S+)", clock, re.M).group(1))
    print(f"\nThe listener's queue thread at fixed rates (one JVM, Spark {install.version}, JIT warmed, {seconds} s, "
          f"{repeats} runs each): us of CPU per event, median [lowest, highest]")
    print(f"{'pairs/s':>8} {'no-op listener':>22} {'one by one':>22} {'gathering':>22}")
    for rate in rates:
        print(f"{rate:8d} " + " ".join(
            f"{statistics.median(v):7.2f} [{min(v):5.1f}, {max(v):5.1f}]" for v in (figures[(m, rate)] for m in modes)))
    print(f"one read of a thread's CPU time (ThreadMXBean): {clock_us:.2f} us")
    return figures


def run_once(install, build, tasks, prometheus):
    conf = sink_conf(prometheus.write_url, period_seconds=5)
    conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = str(build / "sparkprom.jar")
    conf["spark.driver.extraLibraryPath"] = conf["spark.executor.extraLibraryPath"] = str(build)
    conf["spark.ui.showConsoleProgress"] = "false"
    command = [str(install.submit), "--master", "local-cluster[2,1,1024]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += [str(JOB), str(tasks)]
    env = dict(os.environ, SPARK_HOME=str(install.home), PYTHONPATH=str(install.root), PYSPARK_PYTHON="python3",
               SPARK_LOCAL_IP="127.0.0.1")
    env.pop("SPARK_CONF_DIR", None)
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    output = {}
    readers = [threading.Thread(target=lambda k=k, s=s: output.__setitem__(k, s.read()), daemon=True)
               for k, s in (("out", process.stdout), ("err", process.stderr))]
    for reader in readers:
        reader.start()
    sink_threads = {}  # (pid, tid) -> CPU seconds last seen
    while process.poll() is None:
        # This application's JVMs only: the machine may run other Spark applications.
        for pid in set(jvms()) & descendants(process.pid):
            try:
                sink_threads.update({(pid, tid): cpu for tid, cpu in sink_threads_cpu(pid).items()})
            except OSError:
                continue  # the JVM ended
        time.sleep(0.25)
    for reader in readers:
        reader.join()
    if process.returncode != 0:
        raise RuntimeError(f"{tasks} tasks with {build} failed:\n{output['out'][-2000:]}\n{output['err'][-3000:]}")
    app_id = re.search(r"^APP_ID=(\S+)", output["out"], re.M).group(1)
    cost = json.loads(re.search(r"^LISTENER_COST (.*)$", output["out"], re.M).group(1))
    time.sleep(1)
    pushed = {}
    for key, family in (("cpu", "sparkprom_listener_cpu_seconds_total"), ("events", "sparkprom_listener_events_total"),
                        ("dropped", 'spark_live_listener_bus_queue_num_dropped_events_total{queue="sparkprom",')):
        selector = family + ("" if family.endswith(",") else "{")
        rows = prometheus.query(f'max(last_over_time({selector}app_id="{app_id}"}}[30m]))')
        if not rows:
            raise RuntimeError(f"no {family} arrived for {app_id}")
        pushed[key] = rows[0][1]
    return figures(cost, pushed, sum(sink_threads.values()))


def descendants(root):
    """The process ids under `root` (spark-submit: its driver JVM, whose workers start the executors)."""
    children = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat[stat.rindex(")") + 2:].split()[1]), []).append(int(proc.name))
    found, todo = set(), [root]
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def figures(cost, pushed, sink_cpu):
    """Per-task figures of one application, in ms of CPU."""
    tasks, steady = cost["tasks"], cost["steady"]
    per_task = {}
    for queue in ("sparkprom", "executorManagement"):
        per_task[f"{queue}_steady"] = (cost["after"][queue] - steady["cpu"][queue]) / 1e6 / (tasks - steady["tasks"])
    return {
        "tasks": tasks, "jobs": cost["jobs"], "tasks_per_s": tasks / cost["seconds"],
        "events_per_task": pushed["events"] / tasks,
        "listener_steady": per_task["sparkprom_steady"],
        "listener_whole": cost["after"]["sparkprom"] / 1e6 / tasks,
        "listener_pushed": pushed["cpu"] * 1e3 / tasks,
        "reference_steady": per_task["executorManagement_steady"],
        "sink_and_listener": (sink_cpu + pushed["cpu"]) * 1e3 / tasks,
        "dropped": pushed["dropped"],
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="20,200,2000", help="task pairs a second in the harness ('' for none)")
    parser.add_argument("--rate-runs", type=int, default=3, help="runs of each harness case")
    parser.add_argument("--shapes", default="10000,100000", help="tasks of each application ('' for none)")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--compare", type=Path)
    parser.add_argument("--spark", default=newest_version())
    args = parser.parse_args()
    install = spark_install(args.spark)
    if args.rates:
        fixed_rates(install, [int(r) for r in args.rates.split(",")], args.rate_runs)
    shapes = [int(s) for s in args.shapes.split(",") if s]
    builds = {"this": RELEASE}
    if args.compare:
        builds["compare"] = args.compare.resolve()
    results = {(b, s): [] for b in builds for s in shapes}
    prometheus = Prometheus().start()
    load = [os.getloadavg()[1]]
    try:
        for repeat in range(args.repeats):
            # Each round starts with another build and shape, so none always runs first.
            turns = [(b, s) for b in builds for s in shapes]
            turns = turns[repeat % len(turns):] + turns[:repeat % len(turns)]
            for build, tasks in turns:
                result = run_once(install, builds[build], tasks, prometheus)
                results[(build, tasks)].append(result)
                print(f"# {build} {tasks} tasks, run {repeat + 1}: " + ", ".join(
                    f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items()), flush=True)
    finally:
        prometheus.stop()
    load.append(os.getloadavg()[1])
    print(f"\nSpark {args.spark}, local-cluster[2,1,1024], {args.repeats} runs of each, alternating; medians; "
          f"ms of CPU per task; the machine's 5-minute load average {load[0]:.1f} at the start, {load[1]:.1f} at the end")
    print(f"{'build':8} {'tasks':>7} {'jobs':>4} {'tasks/s':>7} {'ev/task':>7} {'listener steady':>15} "
          f"{'whole':>7} {'pushed':>7} {'no-op queue steady':>18} {'sink+listener':>13} {'dropped':>7}")
    for (build, tasks), runs in results.items():
        med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        print(f"{build:8} {tasks:7d} {med['jobs']:4.0f} {med['tasks_per_s']:7.0f} {med['events_per_task']:7.3f} "
              f"{med['listener_steady']:15.4f} {med['listener_whole']:7.4f} {med['listener_pushed']:7.4f} "
              f"{med['reference_steady']:18.4f} {med['sink_and_listener']:13.4f} {max(r['dropped'] for r in runs):7.0f}")
    for build in builds:
        line = ", ".join(f"{tasks} tasks {statistics.median(r['listener_steady'] for r in results[(build, tasks)]):.4f} ms"
                         for tasks in shapes)
        print(f"listener thread per task in steady state, {build} build ({builds[build]}): {line}")


if __name__ == "__main__":
    main()
