"""The driver's listener signals, on the oldest and the newest Spark line (Scala 2.12 and 2.13): a
real local-cluster application whose jobs succeed, fail, retry a task, reuse a shuffle, lose an
executor, skew, balance, spill, outgrow the driver's snapshot buffer and get cancelled
(tests/e2e/jobs/listener_job.py) pushes into the real Prometheus, and what arrived equals Spark's
own account from its REST API; the skew and spill alert expressions pick out the stages they are
for and no other. The application runs as users run it: `labels=job=...` (Prometheus' own label,
theirs), Spark's static sources off (the driver is told by Spark, not by its registry's names),
no spark.stop() at the end."""
import json
import re
import subprocess
import time

import pytest

from harness.alerts import rules
from harness.jvm import compile_check
from conftest import LINES
from harness.paths import JAR, JOBS, oldest_spark_jars, spark_install
from harness.spark import sink_conf, submit


@pytest.fixture(scope="module")
def run(listener_run):
    """The listener application's run on each line (conftest.py: the alert replay reads it too)."""
    return listener_run


def pushed(prometheus, run_, promql):
    """{labels tuple: value} of the listener series of this run (ended series included)."""
    _, result, _ = run_
    query = promql.replace("APP", f'app_id="{result.app_id}",role="driver"')
    return prometheus.query(query)


def total(prometheus, run_, selector):
    values = pushed(prometheus, run_, f"sum(last_over_time({selector}[30m]))")
    return values[0][1] if values else 0.0


def by(prometheus, run_, selector, label):
    rows = pushed(prometheus, run_, f"sum by ({label}) (last_over_time({selector}[30m]))")
    return {labels.get(label, ""): value for labels, value in rows}


def test_jobs_by_group_and_outcome_equal_the_rest_api(prometheus, run):
    _, _, rest = run
    expected = {}
    for job in rest["jobs"]:
        group = job.get("jobGroup", "")
        # The job key masks the date in the group name.
        key = re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", group)
        outcome = {"SUCCEEDED": "succeeded", "FAILED": "failed"}[job["status"]]
        if group == "cancel-me":
            outcome = "cancelled"  # Spark's status store calls it FAILED
        expected[(key, outcome)] = expected.get((key, outcome), 0) + 1
    rows = pushed(prometheus, run, "last_over_time(spark_jobs_total{APP}[30m]) > 0")
    got = {(labels["spark_job"], labels["outcome"]): value for labels, value in rows}
    assert got == expected
    assert ("nightly-<date>", "succeeded") in got and ("always-fails", "failed") in got
    durations = by(prometheus, run, "spark_job_duration_seconds_count{APP}", "spark_job")
    assert sum(durations.values()) == len(rest["jobs"])


def test_stage_outcomes_and_task_totals_equal_the_rest_api(prometheus, run):
    _, _, rest = run
    stages = rest["stages"]
    status = {}
    for stage in stages:
        status[stage["status"]] = status.get(stage["status"], 0) + 1
    cancelled = [s for s in stages if s["status"] == "FAILED" and "cancel" in s.get("failureReason", "").lower()]
    outcomes = by(prometheus, run, "spark_stages_total{APP}", "outcome")
    assert outcomes.get("succeeded", 0) == status.get("COMPLETE", 0)
    # The failing job's stage, twice; the cancelled group's stage is cancelled, not failed.
    assert outcomes.get("failed", 0) == status.get("FAILED", 0) - len(cancelled) == 2
    assert outcomes.get("cancelled", 0) == len(cancelled) == 1, cancelled
    skipped = sum(job["numSkippedStages"] for job in rest["jobs"])
    assert skipped >= 1 and outcomes.get("skipped", 0) == skipped

    tasks = by(prometheus, run, "spark_tasks_total{APP}", "outcome")
    ran = [s for s in stages if s["status"] != "SKIPPED"]
    assert tasks.get("succeeded", 0) == sum(s["numCompleteTasks"] for s in ran)
    assert tasks.get("failed", 0) == sum(s["numFailedTasks"] for s in ran)
    assert tasks.get("killed", 0) == sum(s["numKilledTasks"] for s in ran)
    reasons = by(prometheus, run, 'spark_tasks_total{APP,outcome="failed"}', "reason")
    assert reasons.get("executor_lost", 0) >= 1, reasons
    assert reasons.get("org.apache.spark.api.python.PythonException", 0) >= 5, reasons

    # Per-stage totals of the task metrics, summed over the application, in base units.
    for family, field, factor in [
        ("spark_stage_executor_run_time_seconds_total", "executorRunTime", 1e-3),
        ("spark_stage_executor_cpu_time_seconds_total", "executorCpuTime", 1e-9),
        ("spark_stage_input_bytes_total", "inputBytes", 1),
        ("spark_stage_shuffle_read_bytes_total", "shuffleReadBytes", 1),
        ("spark_stage_shuffle_write_bytes_total", "shuffleWriteBytes", 1),
        ("spark_stage_memory_spilled_bytes_total", "memoryBytesSpilled", 1),
        ("spark_stage_disk_spilled_bytes_total", "diskBytesSpilled", 1),
    ]:
        expected = sum(s[field] for s in ran) * factor
        assert total(prometheus, run, f"{family}{{APP}}") == pytest.approx(expected, rel=1e-6, abs=1e-6), family
    assert total(prometheus, run, "spark_stage_disk_spilled_bytes_total{APP}") > 0
    retried = by(prometheus, run, "spark_stage_retried_tasks_total{APP}", "spark_job")
    assert retried.get("retried-task") == 1 and retried.get("executor-killed", 0) >= 1


def test_job_and_task_outcomes_equal_the_event_log(prometheus, run):
    _, _, rest = run
    events = rest["event_log"]
    jobs = {}
    for e in events:
        if e["Event"] == "SparkListenerJobEnd":
            result = e["Job Result"]
            outcome = "succeeded" if result["Result"] == "JobSucceeded" else "failed"
            if "cancelled" in json.dumps(result.get("Exception", "")):
                outcome = "cancelled"
            jobs[outcome] = jobs.get(outcome, 0) + 1
    tasks = {}
    for e in events:
        if e["Event"] == "SparkListenerTaskEnd":
            reason = e["Task End Reason"]["Reason"]
            outcome = {"Success": "succeeded", "TaskKilled": "killed", "TaskCommitDenied": "killed"}.get(reason, "failed")
            tasks[outcome] = tasks.get(outcome, 0) + 1
    nonzero = lambda values: {k: v for k, v in values.items() if v}  # noqa: E731
    assert jobs and nonzero(by(prometheus, run, "spark_jobs_total{APP}", "outcome")) == jobs
    assert tasks and nonzero(by(prometheus, run, "spark_tasks_total{APP}", "outcome")) == tasks


def test_the_killed_executor_is_counted_with_its_reason(prometheus, run):
    _, result, rest = run
    assert result.value("KILLED_EXECUTOR")
    executors = [e for e in rest["executors"] if e["id"] != "driver"]
    removed = [e for e in executors if not e["isActive"]]
    assert len(removed) >= 1
    # As things stood when Spark's account was taken: the application ends without stop(), and
    # local-cluster's workers (in the driver's JVM) kill and relaunch executors as the JVM exits.
    at = float(result.value("REST_AT"))
    added = prometheus.query(f'sum(spark_executors_added_total{{app_id="{result.app_id}",role="driver"}})', at=at)
    assert added[0][1] == len(executors)
    rows = prometheus.query(f'sum by (reason) (spark_executors_removed_total{{app_id="{result.app_id}",role="driver"}})',
                            at=at)
    reasons = {labels["reason"]: value for labels, value in rows}
    # Killed with SIGKILL: the worker reports exit code 137.
    assert reasons.get("sigkill", 0) >= 1, reasons
    assert sum(reasons.values()) == len(removed)


def test_the_application_start_and_end_and_no_dropped_events(prometheus, run):
    version, _, _ = run
    start = total(prometheus, run, "spark_application_start_time_seconds{APP}")
    ends = by(prometheus, run, "spark_application_end_time_seconds{APP}", "outcome")
    assert start > 0 and len(ends) == 1
    (outcome, end), = ends.items()
    # The application ended without spark.stop() and its end still arrived (the sink's last report
    # comes after Spark's shutdown hook stopped the context). Spark 4 gives the end event an exit
    # code (0: the script ended normally); Spark 3 has none, and its last job failed: failed.
    assert outcome == ("failed" if version.startswith("3.") else "succeeded")
    assert end > start
    dropped = pushed(prometheus, run, 'last_over_time({__name__=~".*dropped_events.*",APP,queue="sparkprom"}[30m])')
    assert dropped and all(value == 0 for _, value in dropped), dropped
    assert total(prometheus, run, "sparkprom_listener_events_total{APP}") > 100


def test_the_users_job_label_is_on_every_series_once_and_spark_job_is_ours(prometheus, run):
    _, result, _ = run
    app = f'app_id="{result.app_id}"'
    every = prometheus.query(f"count(last_over_time({{{app}}}[30m]))")[0][1]
    theirs = prometheus.query(f'count(last_over_time({{{app},job="nightly-etl",team="data"}}[30m]))')[0][1]
    assert every == theirs > 100, (every, theirs)
    keys = by(prometheus, run, "spark_jobs_total{APP}", "spark_job")
    assert "always-fails" in keys and "cancel-me" in keys
    # The driver was told from Spark's own account: its registry had no static source at the start
    # (local-cluster's master and workers in its JVM register theirs, under their own roles).
    assert not prometheus.query(f'last_over_time({{__name__=~"spark_code_generator_.*",{app},role="driver"}}[30m])')
    assert prometheus.query(f'last_over_time({{__name__=~"spark_code_generator_.*",{app},role="master"}}[30m])')


def test_a_cancelled_job_group_was_seen_running_and_ended_cancelled_not_failed(prometheus, run):
    _, result, _ = run
    assert result.value("CANCELLED") == "True"
    at = float(result.value("RUNNING_AT"))
    cancel = f'app_id="{result.app_id}",spark_job="cancel-me"'
    assert prometheus.query(f"spark_jobs_running{{{cancel}}}", at=at)[0][1] == 1
    assert prometheus.query(f"spark_job_running_longest_seconds{{{cancel}}}", at=at)[0][1] >= 3
    stages = prometheus.query(f"spark_stages_running{{{cancel}}}", at=at)
    assert [v for _, v in stages] == [1], stages
    outcomes = by(prometheus, run, 'spark_jobs_total{APP,spark_job="cancel-me"}', "outcome")
    assert outcomes.get("cancelled") == 1 and outcomes.get("failed", 0) == 0, outcomes
    # After it, nothing runs.
    assert total(prometheus, run, "spark_jobs_running{APP}") == 0


def alert_expr(name):
    exprs = [rule["expr"] for alert, rule in rules() if alert == name]
    assert exprs, f"no rule {name}"
    return exprs[0]


def firing_jobs(prometheus, run_, name):
    _, result, _ = run_
    rows = prometheus.query(alert_expr(name))
    return {labels.get("spark_job") for labels, _ in rows if labels.get("app_id") == result.app_id}


def test_the_skew_rule_picks_the_skewed_join_and_not_the_balanced_one(prometheus, run):
    fired = firing_jobs(prometheus, run, "SparkStageSkewed")
    assert "skewed-join" in fired and "balanced-join" not in fired, fired


def test_the_spill_rule_leaves_an_ordinary_spill_alone(prometheus, run):
    """The window spilled nearly all it read, half a megabyte: in the data, not worth a page
    (the rule wants 1 GiB; its firing case is in sparkprom-alerts.test.yml)."""
    assert total(prometheus, run, 'spark_stage_disk_spilled_bytes_total{APP,spark_job="spilling-window"}') > 0
    assert firing_jobs(prometheus, run, "SparkStageSpilledToDisk") == set()


def test_the_job_failed_rule_picks_the_failed_job(prometheus, run):
    assert firing_jobs(prometheus, run, "SparkJobFailed") == {"always-fails"}


def test_the_listeners_own_logic_passes_its_unit_checks(tmp_path):
    """Job keys and masks, the key budget, executor-removal reasons, the skew sketch, histogram
    buckets, skipped stages and the series bound over 1,000 unique jobs:
    tests/jvm/io/sparkprom/SignalsCheck.java, with Spark 3.4's event classes and no SparkContext."""
    classpath = compile_check("SignalsCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")
    run = subprocess.run(["java", "-cp", classpath, "io.sparkprom.SignalsCheck"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "listener signals: all checks passed" in run.stdout


# What spark-submit's launcher gives Spark's JVM on Java 17 (Spark 3.4 needs it; later lines add it themselves).
SPARK_JAVA_OPENS = ["-XX:+IgnoreUnrecognizedVMOptions", *(f"--add-opens=java.base/{p}=ALL-UNNAMED" for p in (
    "java.lang", "java.lang.invoke", "java.nio", "java.util", "sun.nio.ch"))]


@pytest.mark.parametrize("version", LINES)
def test_the_listener_gathers_events_on_a_real_bus(tmp_path, version):
    """The listener's wait for events to gather (its CPU per event: docs/benchmarks.md), on a real
    local SparkContext of either Scala line: tests/jvm/io/sparkprom/GatherCheck.java."""
    compile_check("GatherCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")  # as the shim is compiled
    classpath = f"{tmp_path}:{JAR}:{spark_install(version).home / 'jars'}/*"
    run = subprocess.run(["java", *SPARK_JAVA_OPENS, "-cp", classpath, "io.sparkprom.GatherCheck"], capture_output=True,
                         text=True, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr[-3000:]
    assert "listener gathering: all checks passed" in run.stdout


def test_a_thousand_unique_job_descriptions_stay_within_the_key_budget(prometheus, streaming_run):
    keys = by(prometheus, streaming_run, "spark_jobs_total{APP}", "spark_job")
    # listener.maxKeys (50) of their own, the rest "other"; the streaming queries' jobs are "other" too.
    assert len(keys) <= 50 + 2 and keys.get("other", 0) >= 1000 - 50, len(keys)
    folded = by(prometheus, streaming_run, "sparkprom_listener_keys_folded_total{APP}", "label")
    assert folded["spark_job"] >= 1000 - 50
    series = pushed(prometheus, streaming_run, 'count(last_over_time({__name__=~"spark_(job|stage|task)s?_.*",APP}[30m]))')
    assert series[0][1] <= 4488, series  # docs/metrics-reference.md, "Listener families"


def test_thirty_short_streaming_queries_are_each_exported_and_each_ended(prometheus, streaming_run):
    _, result, _ = streaming_run
    queries = by(prometheus, streaming_run, 'spark_streaming_batches_total{APP,query=~"short-.*"}', "query")
    assert sorted(queries) == [f"short-{i:02d}" for i in range(30)]
    assert all(value >= 1 for value in queries.values()), queries
    started = by(prometheus, streaming_run, "spark_streaming_queries_total{APP}", "outcome")
    # 30 short ones, "restarted" twice, "stuck", "broken" (it fails) and the windowed count.
    assert started.get("started") == 35 and started.get("stopped") == 34 and started.get("failed") == 1, started
    # While the windowed query ran, the 30 short ones had ended (stale markers), it had not.
    at = float(result.value("WINDOWED_AT"))
    live = prometheus.query(f'spark_streaming_batches_total{{app_id="{result.app_id}"}}', at=at)
    assert [labels["query"] for labels, _ in live] == ["windowed-counts"], live


def test_a_windowed_count_shows_its_state_and_watermark_lag(prometheus, streaming_run):
    _, result, _ = streaming_run
    at = float(result.value("WINDOWED_AT"))
    app = f'app_id="{result.app_id}",query="windowed-counts"'
    # The last few seconds' highest: one instant may fall on a data-less batch.
    rows = prometheus.query(f"max_over_time(spark_streaming_state_rows{{{app}}}[8s])", at=at)
    memory = prometheus.query(f"max_over_time(spark_streaming_state_memory_bytes{{{app}}}[8s])", at=at)
    lag = prometheus.query(f"max_over_time(spark_streaming_watermark_lag_seconds{{{app}}}[8s])", at=at)
    phases = prometheus.query(f"spark_streaming_batch_phase_duration_seconds{{{app}}}", at=at)
    assert rows and rows[0][1] > 0 and memory and memory[0][1] > 0, (rows, memory)
    # The watermark trails the newest event by its 2 s delay (and the time to the next trigger).
    assert lag and 1.5 <= lag[0][1] < 30, lag
    assert {"addBatch", "triggerExecution"} <= {labels["phase"] for labels, _ in phases}
    # Right after each batch with rows Spark runs a no-data batch (to move the watermark), at 0
    # rows/s: the sink keeps the last batch with rows' rates, so every report of the last few
    # seconds shows the query's throughput, not mostly 0 (as a CI run saw before it did).
    for family in ("input", "processed"):
        lowest = prometheus.query(f"min_over_time(spark_streaming_{family}_rows_per_second{{{app}}}[5s])", at=at)
        assert lowest and lowest[0][1] > 0, (family, lowest)


def test_a_query_restarted_under_its_name_goes_on_as_one_series(prometheus, streaming_run):
    _, result, _ = streaming_run
    assert result.value("RESTARTED") == "2"
    series = prometheus.raw_series(f'spark_streaming_batches_total{{app_id="{result.app_id}",query="restarted"}}[30m]')
    assert len(series) == 1, series  # one label set
    values = [v for _, v in series[0][1]]
    # Both runs' batches (at least one each), counted on: never back to 0 (the oracle also finds no
    # reset anywhere).
    assert values and values[-1] >= 2 and values == sorted(values), values


def test_a_query_stuck_in_its_first_batch_is_seen_and_stopping_streams_is_no_failure(prometheus, streaming_run):
    _, result, _ = streaming_run
    at = float(result.value("STUCK_AT"))
    stuck = f'app_id="{result.app_id}",query="stuck"'
    assert prometheus.query(f"spark_streaming_batches_total{{{stuck}}}", at=at)[0][1] == 0
    started = prometheus.query(f"spark_streaming_query_start_time_seconds{{{stuck}}}", at=at)[0][1]
    assert at - 30 < started < at
    # Streams stopped in the middle of their batches: nothing failed in the whole application.
    outcomes = by(prometheus, streaming_run, "spark_jobs_total{APP}", "outcome")
    assert outcomes.get("failed", 0) == 0, outcomes


def test_listener_enabled_false_leaves_the_bus_alone_and_a_bad_value_is_one_error(prometheus, tmp_path):
    conf = sink_conf(prometheus.write_url, period_seconds=1)
    conf["spark.metrics.conf.*.sink.prom.listener.enabled"] = "false"
    # A second sink with a value that is neither true nor false: off in every JVM, one ERROR each.
    conf.update({key.replace(".prom.", ".bad."): value for key, value in sink_conf(prometheus.write_url).items()
                 if ".sink.prom." in key})
    conf["spark.metrics.conf.*.sink.bad.listener.enabled"] = "maybe"
    # A property only the executors' sink has, invalid (and dotted): the driver says so at once
    # and its own sink goes on.
    conf["spark.metrics.conf.executor.sink.prom.node.period"] = "1ms"
    result = submit(spark_install(LINES[-1]), JOBS / "count_job.py", ["3"], conf=conf, master="local[2]")
    assert result.returncode == 0, result.output[-3000:]
    time.sleep(2)
    app = f'app_id="{result.app_id}"'
    assert prometheus.query(f"count(last_over_time(sparkprom_samples_sent_total{{{app}}}[10m]))")
    assert not prometheus.query(f'last_over_time({{__name__=~"spark_(jobs|stages|tasks)_total|sparkprom_listener_.*",{app}}}[10m])')
    assert "invalid sink property 'listener.enabled': 'maybe'; expected true or false" in result.output
    assert "invalid sink property 'node.period'" in result.output
    assert "(in the executors' sink: each executor will turn its sink off). The driver's sink sends" in result.output


def test_fail_on_config_error_fails_the_application_for_an_executors_property(prometheus):
    """What only the executors' sink would find (their properties, dotted ones too) the driver
    checks at its start, where failOnConfigError=true can fail the application before any executor
    runs without metrics."""
    conf = sink_conf(prometheus.write_url, period_seconds=1)
    conf["spark.metrics.conf.*.sink.prom.failOnConfigError"] = "true"
    conf["spark.metrics.conf.executor.sink.prom.node.period"] = "1ms"
    result = submit(spark_install(LINES[-1]), JOBS / "count_job.py", ["1"], conf=conf, master="local[1]")
    assert result.returncode != 0, result.output[-3000:]
    assert "invalid sink property 'node.period'" in result.output
    assert "(in the executors' sink" in result.output
