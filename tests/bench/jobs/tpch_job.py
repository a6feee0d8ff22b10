"""The 22 TPC-H queries as Spark SQL over Parquet tables, one after the other, each timed.
Arguments: the data directory (one <table>.parquet per table), the queries file (JSON list of 22
strings). Prints APP_ID=..., then QUERY <n> <seconds> for each and TOTAL <seconds>."""
import json
import sys
import time

from pyspark.sql import SparkSession

data, queries_file = sys.argv[1], sys.argv[2]
spark = SparkSession.builder.appName("sparkprom-bench-tpch").getOrCreate()
print(f"APP_ID={spark.sparkContext.applicationId}", flush=True)
for table in ("customer", "lineitem", "nation", "orders", "part", "partsupp", "region", "supplier"):
    spark.read.parquet(f"{data}/{table}.parquet").createOrReplaceTempView(table)
total = 0.0
for number, query in enumerate(json.load(open(queries_file)), start=1):
    started = time.perf_counter()
    spark.sql(query).collect()
    took = time.perf_counter() - started
    total += took
    print(f"QUERY {number} {took:.3f}", flush=True)
print(f"TOTAL {total:.3f}", flush=True)
spark.stop()
