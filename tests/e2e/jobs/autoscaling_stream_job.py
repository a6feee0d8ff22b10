"""The alert replay's healthy application (tests/e2e/test_alert_replay.py): what a production
cluster does every day and no alert may page for.

1. Dynamic allocation: a job on two executors, then idle until both are removed for idling
   (IDLE_REMOVED=), then a job that brings executors back (ADDED_AGAIN=).
2. Two streams at once:
   - `capped-files`: a file source capped at one file per trigger (maxFilesPerTrigger) with the
     default trigger while a writer adds two files a second: it runs its batches back to back
     and falls behind (the one alert this application is meant to raise);
   - `slow-batch`: a healthy windowed count whose second batch runs a job of SLOW_SECONDS (a slow
     sink), the others short: no progress while it runs, and still no stall.
   Both are stopped, as a script that ends its streams does.
3. It ends without spark.stop(): Spark stops the context from its shutdown hook.

The first argument is a scratch folder for the file stream."""
import os
import sys
import threading
import time
from pathlib import Path

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

SLOW_SECONDS = 40

spark = SparkSession.builder.appName("sparkprom-autoscaling").getOrCreate()
sc = spark.sparkContext
print(f"APP_ID={sc.applicationId}", flush=True)
scratch = Path(sys.argv[1])


def executors():
    """Executors registered now (the driver's block manager is one more)."""
    return sc._jsc.sc().getExecutorMemoryStatus().size() - 1


def wait_until(what, done, timeout=300):
    deadline = time.time() + timeout
    while not done():
        if time.time() > deadline:
            raise SystemExit(f"timed out waiting for {what} (executors: {executors()})")
        time.sleep(0.25)


def slow_partition(rows):
    time.sleep(2)
    return rows


# 1. Two executors for a job, removed for idling, added again for the next.
# 12 tasks: a stage of 10 or more has a skew ratio (the jobs dashboard's skew panel).
sc.setJobGroup("scale-up", "a job for two executors")
assert sc.parallelize(range(12), 12).mapPartitions(slow_partition).count() == 12
print(f"EXECUTORS_AT_PEAK={executors()}", flush=True)
wait_until("idle executors removed", lambda: executors() == 0)
print(f"IDLE_REMOVED={time.time():.3f}", flush=True)
sc.setJobGroup("scale-up-again", "a job after the idle removal")
assert sc.parallelize(range(4), 4).mapPartitions(slow_partition).count() == 4
print(f"ADDED_AGAIN={executors()}", flush=True)
sc.setLocalProperty("spark.jobGroup.id", None)
sc.setLocalProperty("spark.job.description", None)

# 2. A capped file stream falling behind, and a healthy stream with one slow batch.
incoming = scratch / "incoming"
incoming.mkdir(parents=True, exist_ok=True)
writing = threading.Event()
writing.set()


def write_files():
    n = 0
    while writing.is_set():
        for _ in range(2):
            path = incoming / f"part-{n:05d}.txt"
            tmp = scratch / f".part-{n:05d}.txt"
            tmp.write_text("".join(f"row {n} {i}\n" for i in range(200)))
            os.rename(tmp, path)  # whole files only: the source lists the folder
            n += 1
        time.sleep(1)


writer = threading.Thread(target=write_files, daemon=True)
writer.start()
capped = (spark.readStream.format("text").option("maxFilesPerTrigger", 1).load(str(incoming))
          .writeStream.format("noop").queryName("capped-files")
          .option("checkpointLocation", str(scratch / "capped-checkpoint")).start())


def slow_second_batch(frame, batch_id):
    frame.count()
    if batch_id == 1:  # one task: the capped stream keeps the other executor
        sc.parallelize(range(1), 1).map(lambda x: time.sleep(SLOW_SECONDS) or x).count()


# A windowed count (state and a watermark, as the streaming dashboard shows them).
slow = (spark.readStream.format("rate").option("rowsPerSecond", 20).load()
        .withWatermark("timestamp", "2 seconds").groupBy(F.window("timestamp", "2 seconds")).count()
        .writeStream.outputMode("update").foreachBatch(slow_second_batch).queryName("slow-batch")
        .option("checkpointLocation", str(scratch / "slow-checkpoint"))
        .trigger(processingTime="5 seconds").start())
print(f"STREAMS_AT={time.time():.3f}", flush=True)
wait_until("the slow batch", lambda: (slow.lastProgress or {}).get("batchId", -1) >= 1, timeout=400)
print(f"SLOW_DONE_AT={time.time():.3f}", flush=True)
# The slow batch's progress is in; 30 s more of the capped stream running back to back.
time.sleep(30)
print(f"FILES_WRITTEN={len(list(incoming.iterdir()))}", flush=True)
print(f"CAPPED_BATCHES={capped.lastProgress['batchId'] + 1}", flush=True)
writing.clear()
writer.join()
capped.stop()
slow.stop()
print(f"STREAMS_STOPPED_AT={time.time():.3f}", flush=True)
time.sleep(4)  # the stopped streams' ends are reported
print("ENDS_WITHOUT_STOP=1", flush=True)
# No spark.stop(): the script just ends, as many do.
