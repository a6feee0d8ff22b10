"""The streaming listener test's application: 1,000 jobs with unique descriptions, 30 short
Structured Streaming queries started and stopped one at a time, a query stopped and started again
under its name within one report, a query stuck in its first batch (STUCK_AT= is when the test
looks at it) and stopped there, then a windowed count with a watermark (state and watermark lag).
Prints the app id and, while the windowed query runs, the time (WINDOWED_AT=) at which the test
looks for that query alive and the 30 short ones ended."""
import time

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

spark = (
    SparkSession.builder.appName("sparkprom-streaming")
    .config("spark.sql.shuffle.partitions", "2")
    .getOrCreate()
)
print(f"APP_ID={spark.sparkContext.applicationId}", flush=True)


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


# 1,000 jobs, each with a description of its own: the job label stays within listener.maxKeys.
sc = spark.sparkContext
for i in range(1000):
    sc.setJobDescription(f"report for customer {chr(97 + i % 26)}{chr(97 + i // 26 % 26)}{chr(97 + i // 676)}")
    sc.parallelize([i], 1).count()
sc.setJobDescription(None)
print("UNIQUE_JOBS=1000", flush=True)

for i in range(30):
    short = (rate(100).writeStream.format("noop").queryName(f"short-{i:02d}")
             .trigger(processingTime="200 milliseconds").start())
    wait_for(short, lambda q: batches_ran(q) >= 1)
    short.stop()
print("SHORT_QUERIES=30", flush=True)

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

windowed = (
    rate(200).withWatermark("timestamp", "2 seconds")
    .groupBy(F.window("timestamp", "1 second")).count()
    .writeStream.format("noop").outputMode("update").queryName("windowed-counts")
    .trigger(processingTime="500 milliseconds").start()
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
