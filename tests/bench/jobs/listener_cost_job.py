"""The tiny-tasks shape (tiny_tasks_job.py's query: N near-empty tasks, one count, which Spark runs as
two jobs), with the CPU time of the driver's listener-bus queue threads read in the driver's JVM
(ThreadMXBean, by thread name): before the query, at its 2,000th completed task (polled every
0.2 s from Spark's status tracker), after it (the bus drained) and at the end. Argument: N.
Prints APP_ID=... and LISTENER_COST <json>."""
import json
import sys
import threading
import time

from pyspark.sql import SparkSession

STEADY_FROM = 2000
tasks = int(sys.argv[1])
spark = SparkSession.builder.appName("sparkprom-bench-listener-cost").getOrCreate()
sc = spark.sparkContext
print(f"APP_ID={sc.applicationId}", flush=True)
threads_mx = sc._jvm.java.lang.management.ManagementFactory.getThreadMXBean()
PREFIX = "spark-listener-group-"
# sparkprom: the sink's listener's own queue; executorManagement: Spark's HeartbeatReceiver, which
# does nothing with task events (what a queue thread costs with a listener that does nothing).
queues = {t.getName()[len(PREFIX):]: t.getId() for t in sc._jvm.java.lang.Thread.getAllStackTraces().keySet()
          if t.getName() in (PREFIX + "sparkprom", PREFIX + "executorManagement")}


def cpu_ns():
    return {name: threads_mx.getThreadCpuTime(tid) for name, tid in queues.items()}


steady = {}
done = threading.Event()


def watch():
    tracker = sc.statusTracker()
    while not done.is_set() and not steady:
        completed = 0
        for stage in tracker.getActiveStageIds():
            info = tracker.getStageInfo(stage)
            completed += info.numCompletedTasks if info else 0
        if completed >= STEADY_FROM:
            steady.update(cpu=cpu_ns(), tasks=completed)
        time.sleep(0.2)


watcher = threading.Thread(target=watch, daemon=True)
before = cpu_ns()
watcher.start()
started = time.perf_counter()
# A filter keeps Spark from answering the count from the range's size: every task runs.
assert spark.range(0, tasks, 1, tasks).where("id % 7 >= 0").count() == tasks
seconds = time.perf_counter() - started
sc._jsc.sc().listenerBus().waitUntilEmpty()
done.set()
watcher.join()
after = cpu_ns()
jobs = len(sc.statusTracker().getJobIdsForGroup(None))
print("LISTENER_COST " + json.dumps({"tasks": tasks, "jobs": jobs, "seconds": seconds, "before": before,
                                     "steady": steady, "after": after}), flush=True)
spark.stop()
