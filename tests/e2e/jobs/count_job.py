"""A small Spark job for the end-to-end tests: a shuffle over several stages, long enough for a
few reports. Prints the app id so the test can query Prometheus for exactly this run."""
import sys
import time

from pyspark.sql import SparkSession

seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 12.0
# Map tasks per round; 10 or more give each map stage a skew ratio (the dashboards test).
partitions = int(sys.argv[2]) if len(sys.argv) > 2 else 8
spark = SparkSession.builder.appName("sparkprom-e2e").getOrCreate()
sc = spark.sparkContext
print(f"APP_ID={sc.applicationId}", flush=True)
deadline = time.time() + seconds
rounds = 0
while time.time() < deadline:
    counts = (
        sc.parallelize(range(20000), partitions)
        .map(lambda x: (x % 97, 1))
        .reduceByKey(lambda a, b: a + b, 4)
        .collect()
    )
    assert sum(c for _, c in counts) == 20000
    rounds += 1
    time.sleep(1)
print(f"ROUNDS={rounds}", flush=True)
spark.stop()
