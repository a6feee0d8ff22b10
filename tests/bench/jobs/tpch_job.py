"""The 22 TPC-H queries as Spark SQL over Parquet tables, one after the other, each timed.
Arguments: the data directory (one <table>.parquet per table), the queries file (JSON list of 22
strings), then optionally the untimed warm-up passes (default 0: the JIT compiles and the caches
fill during them) and the timed passes (default 1). Prints APP_ID=..., QUERY <n> <seconds> for
each timed query, PASS <i> <seconds> for each timed pass and TOTAL <seconds>, their sum."""
import json
import sys
import time

from pyspark.sql import SparkSession

data, queries_file = sys.argv[1], sys.argv[2]
warmups = int(sys.argv[3]) if len(sys.argv) > 3 else 0
passes = int(sys.argv[4]) if len(sys.argv) > 4 else 1
spark = SparkSession.builder.appName("sparkprom-bench-tpch").getOrCreate()
print(f"APP_ID={spark.sparkContext.applicationId}", flush=True)
for table in ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"):
    spark.read.parquet(f"{data}/{table}.parquet").createOrReplaceTempView(table)
queries = json.load(open(queries_file))
for _ in range(warmups):
    for query in queries:
        spark.sql(query).collect()
total = 0.0
for timed in range(1, passes + 1):
    this_pass = 0.0
    for number, query in enumerate(queries, start=1):
        started = time.perf_counter()
        spark.sql(query).collect()
        took = time.perf_counter() - started
        this_pass += took
        print(f"QUERY {number} {took:.3f}", flush=True)
    print(f"PASS {timed} {this_pass:.3f}", flush=True)
    total += this_pass
print(f"TOTAL {total:.3f}", flush=True)
spark.stop()
