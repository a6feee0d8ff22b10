"""The shipped alert rules judged on real applications, as an on-call would meet them.

The session's Prometheus evaluates spark-conf/alerts/sparkprom-alerts.yml every 2 s (conftest.py),
so every real application of the suite feeds ALERTS. Here, per application: which alerts it
raised (pending or firing) while it ran and will raise in the minutes after it (harness/alerts.py),
against what an on-call should get. What takes longer than a test can wait (a 10-minute `for:`,
5-minute absences, a receiver outage, a quiet night, a hung job) runs as `promtool test rules`
over the series those applications sent, recorded and replayed (harness/replay.py).

The applications: the listener's (a failing job, an executor SIGKILLed mid-stage, a cancelled job
group, skew, spill, ending without spark.stop()), the streaming listener's (30 short queries
stopped, a restarted one, one stuck in its first batch), and the autoscaling one (dynamic
allocation removing idle executors and adding them again, a capped file stream falling behind, a
healthy stream with a 40-second batch, ending without spark.stop())."""
import time

from harness.alerts import raised
from harness.replay import Placed, input_series, promtool_raised, record

# How long after an application ended its alerts are judged: the rules with the longest memory
# of an absence look 5 minutes back, and `for:` adds to that.
AFTER = 3 * 60


def names(alerts, **match):
    """{alert name: sorted values of one label} of the alerts whose labels include `match`."""
    return {name: sorted(row for row in rows if all(row.get(k) == v for k, v in match.items()))
            for name, rows in alerts.items()}


def summary(alerts, label):
    """{alert name: sorted set of `label`'s values} (empty string when it has none)."""
    return {name: sorted({row.get(label, "") for row in rows}) for name, rows in alerts.items()}


# The listener application (both lines): its failures page, its cancellations do not.

def test_the_listener_application_pages_for_its_failures_and_nothing_else(prometheus, listener_run):
    version, result, rest = listener_run
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER)
    # The executor the job killed (SIGKILL, as the OOM killer or a spot loss does): the only one
    # Spark's account shows removed before the application's end.
    killed = sorted(e["id"] for e in rest["executors"] if e["id"] != "driver" and not e["isActive"])
    assert len(killed) == 1, rest["executors"]
    jobs = summary(alerts, "spark_job")
    assert jobs.get("SparkJobFailed") == ["always-fails"], alerts
    assert jobs.get("SparkStageFailed") == ["always-fails"], alerts
    assert summary(alerts, "executor_id").get("SparkExecutorLost") == killed, alerts
    assert summary(alerts, "reason").get("SparkExecutorsRemovedUnexpectedly") == ["sigkill"], alerts
    assert "skewed-join" in jobs.get("SparkStageSkewed", []) and "balanced-join" not in jobs["SparkStageSkewed"]
    assert "SparkTasksFailing" in alerts
    # Spark 3's end has no exit code: the last job failed, so the application failed. Spark 4's
    # exit code is 0: the script ended normally.
    assert ("SparkApplicationFailed" in alerts) == version.startswith("3."), alerts
    expected = {"SparkJobFailed", "SparkStageFailed", "SparkExecutorLost", "SparkExecutorsRemovedUnexpectedly",
                "SparkStageSkewed", "SparkTasksFailing", "SparkStageSpilledToDisk", "SparkApplicationFailed"}
    # Nothing else: not the cancelled group, not the end without spark.stop() (no "driver died"),
    # not the executors the ending application's workers killed.
    assert set(alerts) <= expected, alerts
    assert all(row.get("spark_job") != "cancel-me" for rows in alerts.values() for row in rows), alerts


def test_the_streaming_application_stops_its_streams_without_a_page(prometheus, streaming_run):
    _, result, _ = streaming_run
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER)
    # 34 queries stopped (some in the middle of a batch: their jobs end cancelled), one stuck in
    # its first batch for 10 s, 1,000 jobs: nothing failed, nothing stalled.
    assert alerts == {}, alerts


def test_an_autoscaling_application_raises_only_its_capped_stream(prometheus, autoscaling_run):
    result = autoscaling_run
    # Executors came and went (dynamic allocation, 4 idle seconds): all were removed for idling
    # (IDLE_REMOVED), then added again; the driver asked for every removal.
    assert result.value("IDLE_REMOVED") and int(result.value("ADDED_AGAIN")) >= 1
    app = f'app_id="{result.app_id}",role="driver"'
    removed = prometheus.query(f"sum by (reason) (last_over_time(spark_executors_removed_total{{{app}}}[30m]))")
    assert {labels["reason"] for labels, _ in removed} == {"killed_by_driver"}, removed
    assert sum(value for _, value in removed) >= 2, removed
    # During the run and for 3 minutes after it: the capped stream runs back to back (pending:
    # its `for:` is 10 minutes, the replay below sees it fire), nothing else. Not the idle
    # executors, not the stream with the 40-second batch, not the end without spark.stop().
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER)
    assert summary(alerts, "query") == {"SparkStreamFallingBehind": ["capped-files"]}, alerts


# Replays of the recorded series, where the case takes longer than the application ran.

def recorded(prometheus, run):
    return record(prometheus, f'app_id="{run.app_id}"', run.started_at, run.ended_at + 5)


def at_end(placed):
    return placed.when(placed.rec.end)


def test_stretched_tenfold_the_capped_stream_fires_and_the_slow_batch_never_stalls(prometheus, autoscaling_run,
                                                                                   tmp_path):
    """The application replayed ten times slower: the capped stream runs back to back for 12
    minutes (its 10-minute `for:` ends), the healthy stream's batch takes 7 minutes with its job
    running (no stall), the idle executors' removals, 20 s apart, are minutes apart."""
    run = autoscaling_run
    placed = Placed(recorded(prometheus, run), at=60, stretch=10)
    end = at_end(placed)
    checks = [(f"{int(end) + 3600}s", f"{int(end) + 3600}s")]
    (seen,) = promtool_raised(tmp_path, "stretched", input_series([placed], 20, end + 3600), 20, checks)
    assert seen == {("SparkStreamFallingBehind", run.app_id, "driver", "capped-files", "")}, seen
    # And it fired, not only pending.
    (firing,) = promtool_raised(tmp_path, "firing", input_series([placed], 20, end + 60), 20,
                                [(f"{int(end)}s", f"{int(end)}s", "firing")])
    assert firing, firing
