"""A real Spark job with the sink pushes into a real Prometheus: every JVM's series arrive with
the values Spark itself counted. Runs on the full-suite releases of tests/spark-versions.txt (every
release runs tests/e2e/test_metric_model.py)."""
import pytest

from harness.paths import JOBS, full_suite_versions, spark_install
from harness.spark import sink_conf, submit

# count_job.py runs rounds of one 8-task map stage and one 4-task reduce stage.
TASKS_PER_ROUND = 8 + 4


def last(prometheus, selector, accept, timeout=30, around="{}"):
    """The newest value of each series of `selector`, once `accept` holds. A range selector
    skips the stale markers the sink sends when it stops; `around` wraps the result."""
    return prometheus.wait_for(around.format(f"last_over_time({selector}[15m])"), accept, timeout)


@pytest.mark.parametrize("version", full_suite_versions())
def test_local_cluster_job_pushes_driver_and_every_executor(prometheus, version, tmp_path):
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    # Spark counts the application's tasks on the driver only with this source on (3.5's default is off).
    conf["spark.metrics.appStatusSource.enabled"] = "true"
    # What a Databricks cluster puts in every JVM's Spark conf.
    conf["spark.databricks.clusterUsageTags.clusterName"] = "etl-test"
    run = submit(spark_install(version), JOBS / "count_job.py", ["10"], conf=conf,
                 log_path=tmp_path / "driver.log")
    assert run.returncode == 0, run.output[-3000:]
    app = run.app_id
    rounds = int(run.value("ROUNDS"))
    expected_tasks = rounds * TASKS_PER_ROUND

    # Every JVM of the application pushed, each under its own identity.
    senders = prometheus.query(f'count by (executor_id, role) (last_over_time({{app_id="{app}"}}[15m]))')
    # (Node statistics belong to the JVM, not to a sink: they have no role.)
    identities = {(labels["executor_id"], labels.get("role")) for labels, _ in senders}
    assert {("driver", "driver"), ("0", "executor"), ("1", "executor")} <= identities, senders
    # The platform's labels, detected in each JVM, are on every series.
    unlabelled = prometheus.query(f'count(last_over_time({{app_id="{app}", databricks_cluster_name!="etl-test"}}[15m]))')
    assert unlabelled == [], unlabelled

    # The executors' task counters add up to the tasks the job ran...
    succeeded = last(
        prometheus,
        f'spark_executor_succeeded_tasks_total{{app_id="{app}", role="executor"}}',
        lambda r: r and r[0][1] == expected_tasks,
        around="sum({})",
    )
    assert succeeded and succeeded[0][1] == expected_tasks, (succeeded, expected_tasks)
    # ...and so does the driver's count of completed tasks.
    completed = last(
        prometheus,
        f'spark_app_status_tasks_completed_tasks_total{{app_id="{app}", executor_id="driver"}}',
        lambda r: r and r[0][1] == expected_tasks,
    )
    assert completed and completed[0][1] == expected_tasks, (completed, expected_tasks)

    # A gauge, with the name Spark gave it turned into snake_case without ids.
    assert last(prometheus, f'spark_block_manager_memory_max_mem_bytes{{app_id="{app}", executor_id="driver"}}', bool)

    # Nothing was refused, and the core's own log lines are in each executor's log.
    assert prometheus.rejected_samples_log() == []
    assert "refused" not in run.output
    logs = run.executor_logs()
    assert sorted(logs) == ["0", "1"], logs.keys()
    for executor, text in logs.items():
        assert "sparkprom::sink: sparkprom" in text and "pushing to" in text, f"executor {executor} log"


@pytest.mark.parametrize("version", full_suite_versions())
def test_metrics_properties_file_configures_the_sink(prometheus, version, tmp_path):
    properties = tmp_path / "metrics.properties"
    properties.write_text(
        "*.sink.prom.class=io.sparkprom.RemoteWriteSink\n"
        f"*.sink.prom.url={prometheus.write_url}\n"
        "*.sink.prom.period=1\n"
        "*.sink.prom.labels=cluster=file-test\n"
    )
    conf = {
        key: value
        for key, value in sink_conf(prometheus.write_url).items()
        if not key.startswith("spark.metrics.conf.")
    }
    conf["spark.metrics.conf"] = str(properties)
    run = submit(spark_install(version), JOBS / "count_job.py", ["3"], conf=conf, master="local[2]")
    assert run.returncode == 0, run.output[-3000:]
    driver = last(
        prometheus,
        f'spark_dag_scheduler_job_all_jobs{{app_id="{run.app_id}", executor_id="driver", cluster="file-test"}}',
        bool,
    )
    assert driver, "driver series configured from metrics.properties did not arrive"
