"""Many near-empty tasks: one stage of N tasks that each count one element, the case where a
per-task cost shows. Argument: N. Prints APP_ID=..., TASKS <n> and SECONDS <wall time of the stage>."""
import sys
import time

from pyspark.sql import SparkSession

tasks = int(sys.argv[1])
spark = SparkSession.builder.appName("sparkprom-bench-tiny-tasks").getOrCreate()
sc = spark.sparkContext
print(f"APP_ID={sc.applicationId}", flush=True)
started = time.perf_counter()
assert sc.parallelize(range(tasks), tasks).count() == tasks
print(f"TASKS {tasks}", flush=True)
print(f"SECONDS {time.perf_counter() - started:.3f}", flush=True)
spark.stop()
