"""A JVM whose SparkEnv cannot be read still sends correct data, and says so once: the sink
learns the executor id and app id from the executor's command line and the namespace from the
registry's names, keeps ids out of metric names, warns once naming the cause, and counts the
missing fields in sparkprom_identity_missing. The JVM runs without scala-library, so SparkEnv
fails to link, the way 4.3.0's SparkEnv failed under reflection."""
import subprocess
import uuid

import pytest

from harness.jvm import compile_check
from harness.paths import JAR, NATIVE_LIB, oldest_spark_jars
from test_end_to_end import last

WARNING = "no Spark identity for this JVM"


def run_without_scala(tmp_path, url, prefix, extra_args=()):
    spark_jars = [str(j) for j in sorted(oldest_spark_jars().glob("*.jar")) if not j.name.startswith("scala-library")]
    classpath = compile_check("IdentityFallbackCheck", tmp_path, ":".join([str(JAR), *spark_jars]))
    # log4j's default configuration prints ERROR only; the sink's WARN is what is checked.
    command = ["java", "-Dorg.apache.logging.log4j.level=WARN", "-cp", classpath,
               "io.sparkprom.IdentityFallbackCheck", str(NATIVE_LIB), url, prefix, *extra_args]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0 and "fallback: done" in run.stdout, run.stdout + run.stderr
    return run.stdout + run.stderr


def missing_fields(prometheus, selector):
    result = last(prometheus, f'sparkprom_identity_missing{{{selector}}}', lambda r: len(r) == 4)
    return {labels["field"]: value for labels, value in result}


@pytest.mark.parametrize("launch", ["executor", "driver"])
def test_without_spark_env_series_keep_ids_out_of_names_and_one_warning_says_why(prometheus, tmp_path, launch):
    app = f"app-{uuid.uuid4().hex[:12]}"
    if launch == "executor":
        # As every cluster manager starts an executor (CoarseGrainedExecutorBackend's arguments).
        output = run_without_scala(tmp_path, prometheus.write_url, f"{app}.3.",
                                   ["--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:7078",
                                    "--executor-id", "3", "--app-id", app])
        selector = f'app_id="{app}", executor_id="3"'
        expected_missing = {"app_id": 0, "app_name": 1, "executor_id": 0, "namespace": 0}
        role = "executor"
    else:
        # A driver's arguments are the user's (job.py --app-id 42): they are not read, and executor
        # id and namespace come from the names alone.
        output = run_without_scala(tmp_path, prometheus.write_url, f"{app}.driver.", ["--app-id", "42"])
        selector = 'executor_id="driver", app_id=""'
        expected_missing = {"app_id": 1, "app_name": 1, "executor_id": 0, "namespace": 0}
        role = "driver"

    succeeded = last(prometheus, f'spark_executor_succeeded_tasks_total{{{selector}, role="{role}"}}', bool)
    assert [value for _, value in succeeded] == [5], succeeded
    max_mem = last(prometheus, f'spark_block_manager_memory_max_mem_bytes{{{selector}}}', bool)
    assert [value for _, value in max_mem] == [512 * 1024 * 1024], max_mem
    # No name carries the app id: Spark's whole names were not sent.
    sanitized = app.replace("-", "_")
    assert prometheus.query(f'count({{__name__=~".*{sanitized}.*"}})') == []
    assert missing_fields(prometheus, selector) == expected_missing

    warnings = [line for line in output.splitlines() if WARNING in line]
    assert len(warnings) == 1, output[-3000:]
    assert "WARN" in warnings[0] and "NoClassDefFoundError" in warnings[0], warnings[0]
    assert "names without ids" in warnings[0], warnings[0]
