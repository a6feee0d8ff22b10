"""The streaming listener test's application: a stage retried three times after its shuffle
files were lost (its jobs go on), 1,000 jobs with unique descriptions, 30 short
Structured Streaming queries started and stopped one at a time, a query stopped and started again
under its name within one report, a query stuck in its first batch (STUCK_AT= is when the test
looks at it) and stopped there, a query whose batch function raises (it fails), then a windowed
count with a watermark (state and watermark lag).
Prints the app id and, while the windowed query runs, the time (WINDOWED_AT=) at which the test
looks for that query alive and the 30 short ones ended.

`--quick` (the dashboards test, which needs every kind of series but not the numbers): 50 jobs and
3 short queries instead of 1,000 and 30."""
import os
import sys
import tempfile
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = (
    SparkSession.builder.appName("sparkprom-streaming")
    .config("spark.sql.shuffle.partitions", "2")
    # Where its shuffle files are: it loses some on purpose.
    .config("spark.local.dir", tempfile.mkdtemp(prefix="sparkprom-streaming-"))
    .getOrCreate()
)
print(f"APP_ID={spark.sparkContext.applicationId}", flush=True)
quick = "--quick" in sys.argv[1:]
JOBS, SHORT_QUERIES = (50, 3) if quick else (1000, 30)


def rate(rows_per_second):
    return spark.readStream.format("rate").option("rowsPerSecond", rows_per_second).load()


def batches_ran(query):
    """Progress events of batches that ran (they wrote to the sink), not idle triggers'."""
    return sum("addBatch" in p["durationMs"] for p in query.recentProgress)


def wait_for(query, done, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if done(query):
            return
        time.sleep(0.1)
    raise SystemExit(f"query {query.name} did not get there in {timeout} s")


sc = spark.sparkContext


# A stage retried three times while its job goes on, as when executors holding shuffle files
# go away: the shuffle's files are deleted after its map stage ran, three times, and each action
# on it then fails a fetch, recomputes the map output and succeeds (SparkStageRetried, live).
local_dir = sc.getConf().get("spark.local.dir")
pairs = sc.parallelize(range(1000), 2).map(lambda x: (x % 10, 1)).reduceByKey(lambda a, b: a + b, 2)
sc.setJobGroup("shuffle-files-lost", "a stage retried after its shuffle files were lost, three times")
for _ in range(3):
    assert pairs.count() == 10
    lost = [os.path.join(folder, name) for folder, _, names in os.walk(local_dir) for name in names
            if name.startswith("shuffle_")]
    assert lost, "no shuffle files to lose"
    for path in lost:
        os.remove(path)
    assert pairs.count() == 10  # a fetch failure, the map stage again, the reduce stage again
sc.setLocalProperty("spark.jobGroup.id", None)
sc.setLocalProperty("spark.job.description", None)

# 1,000 jobs, each with a description of its own: the job label stays within listener.maxKeys.
for i in range(JOBS):
    sc.setJobDescription(f"report for customer {chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}")
    sc.parallelize([i], 1).count()
sc.setJobDescription(None)
print(f"UNIQUE_JOBS={JOBS}", flush=True)

for i in range(SHORT_QUERIES):
    short = (rate(100).writeStream.format("noop").queryName(f"short-{i:02d}")
             .trigger(processingTime="200 milliseconds").start())
    wait_for(short, lambda q: batches_ran(q) >= 1)
    short.stop()
print(f"SHORT_QUERIES={SHORT_QUERIES}", flush=True)

# Stopped and started again under its name at once (within one report): one series that goes on.
for _ in range(2):
    again = (rate(100).writeStream.format("noop").queryName("restarted")
             .trigger(processingTime="200 milliseconds").start())
    wait_for(again, lambda q: batches_ran(q) >= 2)
    again.stop()
print("RESTARTED=2", flush=True)


# A query whose first batch takes long: seen from its start, with 0 batches, before it ends.
def slow_first_batch(frame, batch_id):
    if batch_id == 0:
        time.sleep(10)


stuck = (rate(10).writeStream.foreachBatch(slow_first_batch).queryName("stuck")
         .trigger(processingTime="200 milliseconds").start())
time.sleep(5)
print(f"STUCK_AT={time.time():.3f}", flush=True)
wait_for(stuck, lambda q: batches_ran(q) >= 1)
stuck.stop()
print("STUCK_STOPPED=1", flush=True)


# A query whose batch function raises: it ends failed, the one page of this application
# (SparkStreamingQueryFailed); no Spark job fails with it.
def broken_batch(frame, batch_id):
    raise RuntimeError("sparkprom's streaming test: this query fails on purpose")


broken = (rate(10).writeStream.foreachBatch(broken_batch).queryName("broken")
          .trigger(processingTime="200 milliseconds").start())
try:
    broken.awaitTermination(60)
except Exception:  # StreamingQueryException: what a failed query's awaitTermination raises
    pass
if broken.isActive or broken.exception() is None:
    raise SystemExit("query broken did not fail")
print("BROKEN_FAILED=1", flush=True)

windowed = (
    rate(200).withWatermark("timestamp", "2 seconds")
    .groupBy(F.window("timestamp", "1 second")).count()
    .writeStream.format("noop").outputMode("update").queryName("windowed-counts")
    # A healthy stream waits for its trigger between batches (a stateful batch takes up to a
    # second on a busy machine: a shorter interval runs it back to back, as the falling-behind
    # rule rightly says).
    .trigger(processingTime="2 seconds").start()
)


def watermark_moved_and_state_kept(q):
    p = q.lastProgress
    return (p is not None and not p["eventTime"].get("watermark", "1970").startswith("1970")
            and p["stateOperators"] and p["stateOperators"][0]["numRowsTotal"] > 0)


wait_for(windowed, watermark_moved_and_state_kept)
time.sleep(5)  # a few reports with the query running
print(f"WINDOWED_AT={time.time():.3f}", flush=True)
time.sleep(3)
windowed.stop()
spark.stop()
