"""A job that exercises what Spark counts: a shuffle, a task that fails once and is retried, and a
cached RDD read twice. Prints the app id; the test compares what the sink pushed with the event
log Spark writes for the same application."""
import time

from pyspark import TaskContext
from pyspark.sql import SparkSession

spark = SparkSession.builder.appName("sparkprom-accuracy").getOrCreate()
sc = spark.sparkContext
print(f"APP_ID={sc.applicationId}", flush=True)
# The release's own default for the appStatus source (the test sets it on), for the reference's note.
status_source = sc._jvm.org.apache.spark.internal.config.Status.METRICS_APP_STATUS_SOURCE_ENABLED()
print(f"APP_STATUS_SOURCE_DEFAULT={status_source.defaultValueString()}", flush=True)


def fail_first_attempt(partition, rows):
    ctx = TaskContext.get()
    if partition == 3 and ctx.attemptNumber() == 0 and ctx.stageAttemptNumber() == 0:
        raise RuntimeError("sparkprom test: planned failure of the first attempt")
    return rows


cached = sc.parallelize(range(30000), 6).map(lambda x: (x % 50, x)).cache()
assert cached.count() == 30000
assert cached.count() == 30000  # read from the cache
sums = cached.reduceByKey(lambda a, b: a + b, 5).mapPartitionsWithIndex(fail_first_attempt).collect()
assert len(sums) == 50
pairs = cached.groupByKey(4).mapValues(len).collect()
assert sum(n for _, n in pairs) == 30000
time.sleep(2)
spark.stop()
