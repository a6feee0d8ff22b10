"""Many near-empty tasks: one stage of N tasks (a range of N rows in N partitions, counted), run in
the executors' JVMs with no Python worker, the case where a per-task cost shows. Argument: N.
Prints APP_ID=..., TASKS <n> and SECONDS <wall time of the stage>."""
import sys
import time

from pyspark.sql import SparkSession

tasks = int(sys.argv[1])
spark = SparkSession.builder.appName("sparkprom-bench-tiny-tasks").getOrCreate()
print(f"APP_ID={spark.sparkContext.applicationId}", flush=True)
started = time.perf_counter()
# A filter keeps Spark from answering the count from the range's size: every task runs.
assert spark.range(0, tasks, 1, tasks).where("id % 7 >= 0").count() == tasks
print(f"TASKS {tasks}", flush=True)
print(f"SECONDS {time.perf_counter() - started:.3f}", flush=True)
spark.stop()
