"""Months of a streaming driver, compressed: names join and leave the registry on every report.
The series budget (maxSeries), the ids on both sides of JNI and the memory they hold follow the
live registry, not its history, so a metric registered at the very end is still exported."""
import re
import subprocess

from harness.jvm import compile_check
from harness.paths import JAR, NATIVE_LIB, oldest_spark_jars
from harness.prometheus import free_port

# A third of them warm up (the queue fills, allocators and the JIT settle); the rest must be flat.
REPORTS = 6000


def test_names_that_come_and_go_never_use_up_max_series_nor_memory(tmp_path):
    classpath = compile_check("ChurnCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")
    textfile = tmp_path / "churn.prom"
    # Nothing listens: delivery is not what this measures (the queue drops its oldest samples).
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    # The heap is committed up front, so resident memory grows only with what is not heap.
    run = subprocess.run(["java", "-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch", "-cp", classpath, "io.sparkprom.ChurnCheck", str(NATIVE_LIB), url,
                          str(textfile), str(REPORTS)], capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    print(run.stdout)
    checkpoints = [dict(re.findall(r"(\w+)=(\d+)", line)) for line in run.stdout.splitlines()
                   if line.startswith("churn: report")]
    assert len(checkpoints) == 2, run.stdout
    early, late = ({k: int(v) for k, v in c.items()} for c in checkpoints)
    # The Java side holds the ids of the live registry only (500 gauges), early and late.
    assert early["live_ids"] == late["live_ids"] == 500, (early, late)
    # Heap and resident memory do not grow with the 300,000 names that came and went.
    assert late["heap_bytes"] < early["heap_bytes"] + 8 * 1024 * 1024, (early, late)
    assert late["rss_kib"] < early["rss_kib"] + 16 * 1024, (early, late)

    newest = re.search(r"churn: newest=(\S+)", run.stdout).group(1)
    query = re.search(r"\.(query\d+)\.latency$", newest).group(1)
    text = textfile.read_text()
    # The newest query's gauge is exported (its query name became a label), long after
    # 300,000 names passed through a sink whose maxSeries is 1,000.
    assert re.search(rf'^spark_streaming_latency_seconds\{{[^}}]*query="{query}"', text, re.M), text[-2000:]
    live = re.search(r"^sparkprom_series\{[^}]*\} (\S+)", text, re.M)
    assert live and float(live.group(1)) == 500, live
    not_exported = re.search(r'^sparkprom_metrics_not_exported_total\{[^}]*\} (\S+)', text, re.M)
    assert not_exported and float(not_exported.group(1)) == 0, not_exported
