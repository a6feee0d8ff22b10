"""The listener test's application: jobs that succeed, fail, retry a task, lose an executor, skew,
balance and spill, each under its own job group; 60 jobs of distinct groups (past the driver's
64 KiB snapshot buffer: the listener's series are renumbered); a job group cancelled while it
runs (RUNNING_AT= is when the test looks for it running); a last job that fails; then Spark's own
account of them from its REST API (written to the file named by the first argument) for the test to
compare with what was pushed. It ends without spark.stop(): Spark stops the context from its
shutdown hook, and the application's end must still arrive."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

from pyspark import TaskContext
from pyspark.sql import SparkSession

spark = (
    SparkSession.builder.appName("sparkprom-listener")
    # One hot key must stay one long task: adaptive execution would split or coalesce it.
    .config("spark.sql.adaptive.enabled", "false")
    .config("spark.sql.autoBroadcastJoinThreshold", "-1")
    .config("spark.sql.shuffle.partitions", "20")
    .getOrCreate()
)
sc = spark.sparkContext
app_id = sc.applicationId
print(f"APP_ID={app_id}", flush=True)


def group(name, description=None):
    sc.setJobGroup(name, description or name)


# 1. A plain job whose group carries a date: the key masks it.
group("nightly-2026-12-01")
assert sc.parallelize(range(1000), 4).map(lambda x: x * 2).sum() == 999000

# 2. A job that fails: every attempt of one task raises.
def fail_partition_one(index, rows):
    if index == 1:
        raise ValueError("sparkprom test: this task always fails")
    return rows


def run_failing_job():
    """A job whose task 1 fails every attempt; its failure is caught here, as it must be."""
    try:
        sc.parallelize(range(100), 4).mapPartitionsWithIndex(fail_partition_one).count()
        raise SystemExit("the failing job succeeded")
    except Exception as e:  # noqa: BLE001 - Py4JJavaError
        if "this task always fails" not in str(e):
            raise


group("always-fails")
run_failing_job()
print("FAILED_JOB=ok", flush=True)

# 3. A task that fails once and succeeds on its retry.
def fail_first_attempt(index, rows):
    if index == 0 and TaskContext.get().attemptNumber() == 0:
        raise RuntimeError("sparkprom test: first attempt fails")
    return rows


group("retried-task")
assert sc.parallelize(range(100), 4).mapPartitionsWithIndex(fail_first_attempt).count() == 100

# 3b. A shuffle computed once and used by two jobs: the second skips its map stage.
group("reused-shuffle")
pairs = sc.parallelize(range(1000), 4).map(lambda x: (x % 10, 1)).reduceByKey(lambda a, b: a + b)
assert pairs.count() == 10
assert len(pairs.collect()) == 10

# 4. An executor killed in the middle of a job; the job goes on on the other (and its replacement).
def executor_pids():
    out = subprocess.run(["pgrep", "-f", f"CoarseGrainedExecutorBackend.*{app_id}"], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def slow(rows):
    time.sleep(1.5)
    return rows


import threading  # noqa: E402


def kill_one_executor():
    time.sleep(2.0)
    pids = executor_pids()
    print(f"EXECUTOR_PIDS={pids}", flush=True)
    if pids:
        os.kill(pids[0], signal.SIGKILL)
        print(f"KILLED_EXECUTOR={pids[0]}", flush=True)


group("executor-killed")
killer = threading.Thread(target=kill_one_executor)
killer.start()
assert sc.parallelize(range(40), 8).mapPartitions(slow).count() == 40
killer.join()
# Wait for the replacement executor, so the later jobs run on two again.
deadline = time.time() + 60
while time.time() < deadline and sc._jsc.sc().getExecutorMemoryStatus().size() < 3:
    time.sleep(0.5)

# 5. A skewed join (one key has 90% of the rows) and a balanced one, 20 shuffle partitions each.
from pyspark.sql import functions as F  # noqa: E402

rows = 1_500_000
skewed = spark.range(rows).select(F.when(F.col("id") % 10 < 9, F.lit(0)).otherwise(F.col("id")).alias("k"))
balanced = spark.range(rows).select(F.col("id").alias("k"))
right = spark.range(rows).select(F.col("id").alias("k"), (F.col("id") * 3).alias("v"))
group("skewed-join")
skewed.join(right, "k").agg(F.sum("v")).collect()
group("balanced-join")
balanced.join(right, "k").agg(F.sum("v")).collect()

# 6. A window that spills: its buffer goes to disk past 1,000 rows (a session setting, so only
# this job spills).
from pyspark.sql.window import Window  # noqa: E402

spark.conf.set("spark.sql.windowExec.buffer.in.memory.threshold", "1000")
spark.conf.set("spark.sql.windowExec.buffer.spill.threshold", "1000")
group("spilling-window")
(spark.range(100_000).select((F.col("id") % 4).alias("g"), F.col("id").alias("v"))
 .select(F.sum("v").over(Window.partitionBy("g")).alias("total")).agg(F.max("total")).collect())
spark.conf.unset("spark.sql.windowExec.buffer.in.memory.threshold")
spark.conf.unset("spark.sql.windowExec.buffer.spill.threshold")

# 7. Sixty jobs of distinct groups: the listener's series outgrow the driver's first snapshot
# buffer, and the Java side numbers them afresh; no counter may go down at the receiver.
for i in range(60):
    group(f"distinct-{chr(97 + i % 26)}{chr(97 + i // 26)}")
    sc.parallelize([i], 1).count()

# 8. A job group cancelled while it runs (a notebook's cancel, an orchestrator's timeout): its job
# and stage end as cancelled, not failed. While it runs it shows as running, with its age.
def sleep_long(rows):
    time.sleep(60)
    return rows


cancelled = {}


def run_and_be_cancelled():
    sc.setJobGroup("cancel-me", "a job group cancelled while it runs", interruptOnCancel=True)
    try:
        sc.parallelize(range(2), 2).mapPartitions(sleep_long).count()
        cancelled["result"] = "finished"
    except Exception as e:  # noqa: BLE001 - Py4JJavaError
        cancelled["result"] = str(e)[:300]


runner = threading.Thread(target=run_and_be_cancelled)
runner.start()
time.sleep(6)  # three reports of the running job
print(f"RUNNING_AT={time.time():.3f}", flush=True)
sc.cancelJobGroup("cancel-me")
runner.join(timeout=60)
print(f"CANCELLED={'cancel' in cancelled.get('result', '')}", flush=True)

# 9. The last job fails (and is caught): Spark 3's end event has no exit code, so the sink infers
# the application failed from it.
group("always-fails")
run_failing_job()

# Spark's own account, from the driver's REST API (the listener bus has delivered everything
# the status store shows once the jobs returned; give the queues a moment all the same).
time.sleep(2)
base = f"{sc.uiWebUrl}/api/v1/applications/{app_id}"
rest = {}
for key, path in (("jobs", "jobs"), ("stages", "stages"), ("executors", "allexecutors")):
    with urllib.request.urlopen(f"{base}/{path}") as r:
        rest[key] = json.load(r)
# To a file: on stdout Spark's log lines would cut into it.
with open(sys.argv[1], "w") as out:
    json.dump(rest, out)
# A few reports of the state Spark's account shows (the test reads removals at this time).
time.sleep(5)
print(f"REST_AT={time.time():.3f}", flush=True)
print("ENDS_WITHOUT_STOP=1", flush=True)
# No spark.stop(): the script just ends, as many do.
