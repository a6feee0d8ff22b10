"""Delivery guarantees with real Spark and a real Prometheus: the last values of a short job
arrive, an outage of the receiver leaves no gap, and neither a bad property nor a missing native
library can do worse than the documented failure."""
import threading
import time

import pytest

from harness.paths import JOBS, full_suite_versions, newest_version, spark_install
from harness.prometheus import Prometheus
from harness.spark import sink_conf, submit

TASKS_PER_ROUND = 8 + 4
NEWEST = newest_version()


from test_end_to_end import last  # noqa: E402


@pytest.mark.parametrize("version", full_suite_versions())
def test_twenty_second_job_arrives_complete_from_its_final_reports(prometheus, version):
    # A period longer than the job: only the reports Spark makes while stopping (and the
    # shutdown hook) can carry these values, and each JVM's final flush must deliver them.
    conf = sink_conf(prometheus.write_url, period_seconds=300)
    conf["spark.metrics.appStatusSource.enabled"] = "true"
    run = submit(spark_install(version), JOBS / "count_job.py", ["20"], conf=conf)
    assert run.returncode == 0, run.output[-3000:]
    app, expected = run.app_id, int(run.value("ROUNDS")) * TASKS_PER_ROUND
    completed = last(prometheus, f'spark_app_status_tasks_completed_tasks_total{{app_id="{app}"}}',
                     lambda r: r and r[0][1] == expected)
    assert completed and completed[0][1] == expected, (completed, expected)
    per_executor = last(prometheus, f'spark_executor_succeeded_tasks_total{{app_id="{app}", role="executor"}}',
                        lambda r: len(r) == 2 and sum(v for _, v in r) == expected)
    assert {labels["executor_id"] for labels, _ in per_executor} == {"0", "1"}, per_executor
    assert sum(v for _, v in per_executor) == expected, per_executor
    # Each JVM's series end with a stale marker when its sink stops: nothing is left "current".
    assert prometheus.query(f'spark_executor_succeeded_tasks_total{{app_id="{app}"}}') == []


def test_receiver_outage_during_a_job_leaves_no_gap(tmp_path):
    prometheus = Prometheus(data_dir=tmp_path / "prometheus").start()
    try:
        period = 1
        conf = sink_conf(prometheus.write_url, period_seconds=period)
        result = {}
        job = threading.Thread(target=lambda: result.update(run=submit(
            spark_install(NEWEST), JOBS / "count_job.py", ["40"], conf=conf)))
        job.start()
        # Stop the receiver once the driver and both executors are pushing.
        pushing = prometheus.wait_for(
            'count(count by (executor_id) (sparkprom_queue_capacity_samples{role=~"driver|executor"}))',
            lambda r: r and r[0][1] >= 3, timeout=90)
        assert pushing and pushing[0][1] >= 3, pushing
        time.sleep(3)
        assert job.is_alive(), "the job ended before the outage"
        prometheus.stop()
        outage_start = time.time()
        time.sleep(10)
        prometheus.start()
        outage_end = time.time()
        job.join(timeout=300)
        run = result["run"]
        assert run.returncode == 0, run.output[-3000:]
        for executor in ["driver", "0", "1"]:
            # The raw samples of one always-present series of this JVM.
            samples = prometheus.query_range_samples(
                f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}", executor_id="{executor}"}}[15m]')
            times = sorted(t for t, _ in samples)
            assert times, f"no samples from executor {executor}"
            # The series spans the outage...
            assert times[0] < outage_start and times[-1] > outage_end, (executor, times[0], times[-1])
            # ...without a hole where the receiver was down.
            largest_gap = max(b - a for a, b in zip(times, times[1:]))
            # One report per period, whatever the receiver did; allow for scheduling jitter.
            assert largest_gap <= 2.5 * period, f"executor {executor}: gap of {largest_gap:.1f}s in {times}"
        assert prometheus.rejected_samples_log() == []
        # A restarting Prometheus answers 503 until its storage is ready, and the sink retries
        # that: the one refusal this outage may bring (taken here, so the oracle sees no other).
        refused = {code for code in prometheus.write_answers() if not code.startswith("2")}
        assert refused <= {"503"}, prometheus.write_answers()
        prometheus.refusals()
    finally:
        prometheus.stop()


def test_an_invalid_property_turns_the_sink_off_with_one_error_and_the_job_succeeds(prometheus):
    """A compute policy or an EMR configuration hands the conf to every JVM of every cluster: a
    bad value must cost the metrics of those JVMs, said once each, not the jobs."""
    conf = sink_conf(prometheus.write_url)
    conf["spark.metrics.conf.*.sink.prom.capacity"] = "100k"
    run = submit(spark_install(NEWEST), JOBS / "count_job.py", ["1"], conf=conf)
    assert run.returncode == 0, run.output[-3000:]
    stderr_lines = [line for line in run.output.splitlines() if line.startswith("ERROR sparkprom: invalid")]
    # The driver says it on stderr (where platform logs pick it up) besides its log4j line.
    assert len(stderr_lines) == 1, run.output[-3000:]
    line = stderr_lines[0]
    assert "'capacity'" in line and "'100k'" in line and "expected a whole number from 1000 to 10000000" in line, line
    # Spark hands the sink no name: it is found in Spark's metrics configuration, so the key the
    # line names is the one to fix, not sink.<name>.
    assert "(spark.metrics.conf.*.sink.prom.capacity)" in line, line
    assert "The sink is off in this JVM" in line and "failOnConfigError=true" in line, line
    executor_logs = run.executor_logs()
    assert len(executor_logs) == 2 and all("invalid sink property 'capacity'" in log for log in executor_logs.values()), \
        executor_logs
    assert prometheus.query(f'last_over_time({{app_id="{run.app_id}"}}[15m])') == []


def test_fail_on_config_error_makes_an_invalid_property_fail_fast_naming_it(prometheus):
    conf = sink_conf(prometheus.write_url)
    conf["spark.metrics.conf.*.sink.prom.period"] = "10s"
    conf["spark.metrics.conf.*.sink.prom.failOnConfigError"] = "true"
    run = submit(spark_install(NEWEST), JOBS / "count_job.py", ["1"], conf=conf, master="local[1]")
    assert run.returncode != 0
    assert "invalid sink property 'period': '10s' is not a whole number" in run.output


def test_missing_native_library_is_one_error_line_and_the_job_succeeds(prometheus):
    conf = sink_conf(prometheus.write_url)
    conf["spark.metrics.conf.*.sink.prom.library"] = "/nonexistent/libsparkprom.so"
    run = submit(spark_install(NEWEST), JOBS / "count_job.py", ["1"], conf=conf, master="local[1]")
    assert run.returncode == 0, run.output[-3000:]
    errors = [line for line in run.output.splitlines() if "cannot load the native library" in line]
    assert len(errors) == 1, errors
    assert "ERROR" in errors[0] and "/nonexistent/libsparkprom.so" in errors[0]
    assert prometheus.query(f'last_over_time({{app_id="{run.app_id}"}}[15m])') == []
