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
import re

from conftest import LINES
from harness.alerts import raised
from harness.replay import Placed, input_series, promtool_raised, record

# How long after an application ended its alerts are judged: the rules with the longest memory
# of an absence look 5 minutes back, and `for:` adds to that.
AFTER = 3 * 60
# The replays of the listener applications run on one line.
LINES_NEWEST = LINES[-1]


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
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER, ended_at=result.ended_at)
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
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER, ended_at=result.ended_at)
    # 34 queries stopped (some in the middle of a batch: their jobs end cancelled), one stuck in
    # its first batch for 10 s, 1,000 jobs: nothing of theirs failed or stalled. The query whose
    # batch function raised failed: its page. A stage failed three fetches (its shuffle files
    # lost) while its jobs went on: an info alert for it, no failure alert.
    assert summary(alerts, "query") == {"SparkStreamingQueryFailed": [""], "SparkStageRetried": [""]}, alerts
    assert summary(alerts, "spark_job")["SparkStageRetried"] == ["shuffle-files-lost"], alerts


def test_an_autoscaling_application_raises_only_its_capped_stream(prometheus, autoscaling_run):
    result = autoscaling_run
    # Executors came and went (dynamic allocation, 4 idle seconds): all were removed for idling
    # (IDLE_REMOVED), then added again; the driver asked for every removal.
    assert result.value("IDLE_REMOVED") and int(result.value("ADDED_AGAIN")) >= 1
    app = f'app_id="{result.app_id}",role="driver"'
    # (As it stopped, its executors were killed too: sigterm, when local-cluster's workers go.)
    removed = prometheus.query(f"sum by (reason) (spark_executors_removed_total{{{app}}})",
                               at=float(result.value("STREAMS_STOPPED_AT")))
    assert {labels["reason"] for labels, _ in removed} == {"killed_by_driver"}, removed
    assert sum(value for _, value in removed) >= 2, removed
    # During the run and for 3 minutes after it: the capped stream runs back to back (pending:
    # its `for:` is 10 minutes, the replay below sees it fire), nothing else. Not the idle
    # executors, not the stream with the 40-second batch, not the end without spark.stop().
    alerts = raised(prometheus, result.app_id, result.started_at, result.ended_at + AFTER, ended_at=result.ended_at)
    assert summary(alerts, "query") == {"SparkStreamFallingBehind": ["capped-files"]}, alerts


# Replays of the recorded series, where the case takes longer than the application ran.

def recorded(prometheus, run):
    return record(prometheus, f'app_id="{run.app_id}"', run.started_at, run.ended_at + 5)


def at_end(placed):
    return placed.when(placed.rec.end)


def alerts_in(seen, name):
    return sorted({row for row in seen if row[0] == name})


def test_stretched_twentyfold_the_capped_stream_fires_and_the_slow_batch_never_stalls(prometheus, autoscaling_run,
                                                                                      tmp_path):
    """The application replayed twenty times slower: the capped stream runs back to back for over
    10 minutes (its `for:` ends: it fires), the healthy stream's 40-second batch takes over 13
    minutes with its job running (no stall), the idle executors' removals, seconds apart, are
    minutes apart (no executor lost)."""
    run = autoscaling_run
    placed = Placed(recorded(prometheus, run), at=60, stretch=20)
    end = at_end(placed)
    seen, firing = promtool_raised(tmp_path, "stretched", input_series([placed], 40, end + 3600), 40,
                                   [(f"{int(end) + 3600}s", f"{int(end) + 3600}s"),
                                    (f"{int(end) + 3600}s", f"{int(end) + 3600}s", "firing")])
    capped = ("SparkStreamFallingBehind", run.app_id, "driver", "capped-files", "")
    assert capped in firing, firing
    # The healthy stream: no stall while its slow batch's job runs, never back to back. No
    # executor lost. (Stretched twentyfold, a stream's start-up on a busy machine, seconds
    # without a job, lasts minutes: what the capped stream does before its first batch is not
    # judged here.)
    assert not [row for row in seen if row[3] == "slow-batch"], seen
    assert not alerts_in(seen, "SparkExecutorLost") and not alerts_in(seen, "SparkJobRunningLong"), seen


def test_a_receiver_outage_of_seven_minutes_is_one_alert_about_the_outage(prometheus, autoscaling_run, tmp_path):
    """The application replayed at least five times slower (its 3 minutes last 15), and at 5 minutes the
    receiver goes away for 7: every JVM silent at once. One alert, SparkpromNoData; no "driver
    died", no executor lost, no executors silent."""
    run = autoscaling_run
    rec = recorded(prometheus, run)
    gap = (300, 300 + 7 * 60)
    # At least five times slower, and enough for the application to run on 3 minutes after it.
    placed = Placed(rec, at=0, stretch=max(5.0, (gap[1] + 180) / (rec.end - rec.start)))
    end = at_end(placed)
    assert end > gap[1] + 120, "the application must run on after the outage"
    series = input_series([placed], 10, end + 600, gaps=[gap])
    during, after = promtool_raised(tmp_path, "outage", series, 10,
                                    [(f"{gap[1] - gap[0]}s", f"{gap[1]}s"), (f"{int(end) + 600}s", f"{int(end) + 600}s")])
    assert {row[0] for row in during} == {"SparkpromNoData"}, during
    # Over the whole replay: the outage's one alert, and the capped stream (it is behind).
    assert {row[0] for row in after} <= {"SparkpromNoData", "SparkStreamFallingBehind"}, after
    assert alerts_in(after, "SparkStreamFallingBehind") in ([], [("SparkStreamFallingBehind", run.app_id, "driver",
                                                                  "capped-files", "")]), after


def test_a_quiet_night_after_an_application_ended_pages_nobody(prometheus, autoscaling_run, tmp_path):
    """The application, then 8 hours of nothing: from a minute after its end, no alert at all."""
    run = autoscaling_run
    placed = Placed(recorded(prometheus, run), at=0, stretch=1)
    end = int(at_end(placed)) + 60
    night = 8 * 3600
    series = input_series([placed], 30, end + night)
    (seen,) = promtool_raised(tmp_path, "night", series, 30, [(f"{night}s", f"{end + night}s")])
    assert seen == set(), seen


def test_a_dead_driver_is_told_from_an_outage(prometheus, autoscaling_run, listener_run, tmp_path):
    """The autoscaling application's driver and executors killed half-way through (their series
    just stop), while the listener's application goes on reporting (held in its last state):
    SparkApplicationDidNotFinish for the dead one only, no SparkpromNoData."""
    version, listener, _ = listener_run
    if version != LINES_NEWEST:
        return  # one line is enough for a replay
    run = autoscaling_run
    dead = Placed(recorded(prometheus, run), at=0)
    middle = (run.started_at + run.ended_at) / 2
    dead.kill(lambda labels: True, middle)
    alive_rec = recorded(prometheus, listener)
    alive = Placed(alive_rec, at=0).freeze(alive_rec.end - 10, 1800)
    series = input_series([dead, alive], 10, 1800)
    (seen,) = promtool_raised(tmp_path, "dead", series, 10, [("1800s", "1800s")])
    assert alerts_in(seen, "SparkApplicationDidNotFinish") == [
        ("SparkApplicationDidNotFinish", run.app_id, "driver", "", "")], seen
    assert not alerts_in(seen, "SparkpromNoData"), seen
    # Its executors went with it: no executor lost (its driver is not reporting either).
    assert not [row for row in alerts_in(seen, "SparkExecutorLost") if row[1] == run.app_id], seen


def test_an_executor_killed_seconds_into_its_life_is_lost_and_no_other(prometheus, autoscaling_run, tmp_path):
    """An executor dynamic allocation added again, killed right after its first report (whose
    last success still said 0): SparkExecutorLost for it, none for the executors removed for
    idling (they stopped: stale markers)."""
    run = autoscaling_run
    rec = recorded(prometheus, run)
    sent = [s for s in rec.series if s.labels["__name__"] == "sparkprom_samples_sent_total"
            and s.labels.get("role") == "executor"]
    young = max(sent, key=lambda s: s.samples[0][0])
    executor, born = young.labels["executor_id"], young.samples[0][0]
    assert born > float(run.value("IDLE_REMOVED")), "an executor added after the idle removal"
    placed = Placed(rec, at=0).kill(lambda labels: labels.get("executor_id") == executor, born)
    success = [v for s in rec.series if s.labels["__name__"] == "sparkprom_last_success_timestamp_seconds"
               and s.labels.get("executor_id") == executor for t, v in s.samples if t <= born]
    assert success == [0.0], success  # it died before its first send's success was reported
    end = at_end(placed)
    (seen,) = promtool_raised(tmp_path, "young", input_series([placed], 2, end + 300), 2,
                              [(f"{int(end) + 300}s", f"{int(end) + 300}s")])
    assert alerts_in(seen, "SparkExecutorLost") == [("SparkExecutorLost", run.app_id, executor, "", "")], seen


def test_at_a_two_minute_period_no_executor_is_lost(prometheus, autoscaling_run, tmp_path):
    """The application replayed sixty times slower: the sink's period of 2 s becomes 120 s.
    Executors that report every 2 minutes are not lost (the old rule's 120 s fired for all).
    (Everything else is sixty times slower too: an executor's 6 s to its first report become 6
    minutes, which SparkpromExecutorsSilent rightly minds; only the period is judged here.)"""
    run = autoscaling_run
    placed = Placed(recorded(prometheus, run), at=0, stretch=60)
    end = at_end(placed)
    (seen,) = promtool_raised(tmp_path, "period120", input_series([placed], 60, end + 600), 60,
                              [(f"{int(end) + 600}s", f"{int(end) + 600}s")])
    assert not alerts_in(seen, "SparkExecutorLost"), seen


def test_a_query_stuck_without_a_job_stalls(prometheus, streaming_run, tmp_path):
    """The streaming application held for 10 minutes where its query `stuck` waits in its first
    batch (a foreachBatch waiting outside Spark, no job; the queries before it stopped):
    SparkStreamStalled for it, and for no other query. (Stretching the whole application instead
    makes any query's start-up on a busy machine, seconds without a job, a stall.)"""
    version, run, _ = streaming_run
    if version != LINES_NEWEST:
        return
    placed = Placed(recorded(prometheus, run), at=0)
    stuck_at = float(run.value("STUCK_AT"))
    end = int(placed.when(stuck_at)) + 600
    placed.freeze(stuck_at, end)
    (seen,) = promtool_raised(tmp_path, "stuck", input_series([placed], 10, end), 10, [(f"{end}s", f"{end}s")])
    assert alerts_in(seen, "SparkStreamStalled") == [("SparkStreamStalled", run.app_id, "driver", "stuck", "")], seen


def test_a_job_group_that_hangs_for_five_hours_runs_long(prometheus, listener_run, tmp_path):
    """The listener's application frozen while its job group `cancel-me` runs (seen running at
    RUNNING_AT): after 4 hours (a key with no ended job) SparkJobRunningLong for it, no other."""
    version, run, _ = listener_run
    if version != LINES_NEWEST:
        return
    at = float(run.value("RUNNING_AT"))
    placed = Placed(recorded(prometheus, run), at=0).freeze(at, 5 * 3600)
    early, seen = promtool_raised(tmp_path, "hang", input_series([placed], 60, 5 * 3600), 60,
                                  [("3h", "3h"), ("5h", "5h")])
    assert not alerts_in(early, "SparkJobRunningLong"), early
    assert alerts_in(seen, "SparkJobRunningLong") == [("SparkJobRunningLong", run.app_id, "driver", "", "cancel-me")], seen


def test_node_rules_fire_once_per_node_on_the_node_series_real_jvms_sent(prometheus, autoscaling_run, tmp_path):
    """The node series the application's JVMs sent (the driver and each executor report the same
    node, each under its own identity), the application held running for 15 minutes, with the
    root filesystem at 2% free, memory at 5% available and processes waiting for memory 30% of
    the time: each node rule fires once for the node, with none of the writers' labels."""
    run = autoscaling_run
    rec = recorded(prometheus, run)
    size = {(s.labels["instance"], s.labels["mountpoint"]): s.samples[0][1] for s in rec.series
            if s.labels["__name__"] == "node_filesystem_size_bytes"}
    total = {s.labels["instance"]: s.samples[0][1] for s in rec.series
             if s.labels["__name__"] == "node_memory_MemTotal_bytes"}
    assert ("vm" in total or total) and any(mount == "/" for _, mount in size), (total, size)
    writers = {(s.labels.get("app_id"), s.labels.get("executor_id")) for s in rec.series
               if s.labels["__name__"] == "node_memory_MemTotal_bytes"}
    assert len(writers) >= 2, writers  # several JVMs report the one node
    placed = (Placed(rec, at=0).freeze(rec.end - 10, 15 * 60)
              .change(lambda labels: labels["__name__"] == "node_filesystem_avail_bytes" and labels["mountpoint"] == "/",
                      lambda labels, t, v: 0.02 * size[(labels["instance"], "/")])
              .change(lambda labels: labels["__name__"] == "node_memory_MemAvailable_bytes",
                      lambda labels, t, v: 0.05 * total[labels["instance"]])
              .change(lambda labels: labels["__name__"] == "node_pressure_memory_waiting_seconds_total",
                      lambda labels, t, v: 0.3 * t))
    (seen,) = promtool_raised(tmp_path, "node", input_series([placed], 10, 15 * 60), 10, [("15m", "15m")])
    node_rules = {"SparkDiskFull", "SparkDiskNearFull", "SparkNodeMemoryLow", "SparkNodeMemoryPressure"}
    assert {row for row in seen if row[0] in node_rules} == {(name, "", "", "", "") for name in node_rules}, seen


# Each rule's cause put on the series a real application sent: the application held running for
# 20 minutes after its last state, with only the series of the cause changed. Each change raises
# its own alert and no other.

def grows(per_second, since):
    """A counter that goes on from its value, `per_second` more each second from replay time `since`."""
    return lambda labels, t, v: v + per_second * max(0.0, t - since)


def becomes(value, since):
    """A gauge that reads `value` from replay time `since`."""
    return lambda labels, t, v: value if t >= since else v


def named(name, **match):
    return lambda labels: labels["__name__"] == name and all(labels.get(k) == v for k, v in match.items())


def test_the_sinks_own_troubles_each_raise_their_alert_on_a_real_applications_series(prometheus, autoscaling_run,
                                                                                    tmp_path):
    """The autoscaling application's series, held 20 minutes after its last state. From then on,
    the driver spends 40% of its time in GC, drops samples (queue full), fails to send 3 samples
    in 4, leaves metrics out at maxSeries and cannot learn its app name; its executors' sinks
    never delivered (a JVM without the library, as on a cluster whose executors lack it). Each
    is one alert, about the driver's sink or the application, and nothing else fires."""
    run = autoscaling_run
    # Its streams left out: held running, a stream makes no progress and stalls (its own case).
    rec = recorded(prometheus, run).only(lambda labels: "query" not in labels)
    driver = dict(app_id=run.app_id, executor_id="driver")
    placed = Placed(rec, at=0).freeze(rec.end - 10, 20 * 60)
    held = placed.when(rec.end - 10)
    # Executors were up when it was held: what the driver's sink counts as added and not removed.
    up = prometheus.query(f'sum(spark_executors_added_total{{app_id="{run.app_id}"}}) '
                          f'- sum(spark_executors_removed_total{{app_id="{run.app_id}"}} or vector(0))', at=rec.end - 10)
    assert up and up[0][1] >= 1, up
    (placed.change(named("spark_executor_metrics_total_gc_time_seconds_total", **driver), grows(0.4, held))
     .change(named("sparkprom_samples_dropped_total", **driver), grows(50, held))
     .change(named("sparkprom_samples_failed_total", reason="retry_timeout", **driver), grows(300, held))
     .change(named("sparkprom_metrics_not_exported_total", reason="series_limit", **driver), grows(1, held))
     .change(named("sparkprom_identity_missing", field="app_name", **driver), becomes(1.0, held))
     .kill(lambda labels: labels.get("role") == "executor", rec.start - 1))
    (seen,) = promtool_raised(tmp_path, "sinks", input_series([placed], 10, 20 * 60), 10, [("20m", "20m")])
    expected = {"SparkGcPressure", "SparkpromDroppingSamples", "SparkpromFailingToSend", "SparkpromSeriesLimit",
                "SparkpromIdentityMissing"}
    assert {row for row in seen if row[0] in expected} == {(name, run.app_id, "driver", "", "") for name in expected}, seen
    assert alerts_in(seen, "SparkpromExecutorsSilent") == [("SparkpromExecutorsSilent", run.app_id, "driver", "", "")]
    assert {row[0] for row in seen} == expected | {"SparkpromExecutorsSilent"}, seen


def test_a_stage_that_spilled_two_gib_raises_its_info_alert(prometheus, listener_run, tmp_path):
    """The listener's application replayed with its spilling window's stage reading and spilling
    4,096 times what it did (0.5 MB become 2 GiB): SparkStageSpilledToDisk for it."""
    version, run, _ = listener_run
    if version != LINES_NEWEST:
        return
    bytes_read = re.compile(r"spark_stage_(disk_spilled|input|shuffle_read)_bytes_total")
    placed = Placed(recorded(prometheus, run), at=0).change(
        lambda labels: bytes_read.fullmatch(labels["__name__"]) is not None and labels.get("spark_job") == "spilling-window",
        lambda labels, t, v: 4096 * v)
    end = at_end(placed)
    (seen,) = promtool_raised(tmp_path, "spilled", input_series([placed], 10, end + 120), 10,
                              [(f"{int(end) + 120}s", f"{int(end) + 120}s")])
    assert {row[4] for row in alerts_in(seen, "SparkStageSpilledToDisk")} == {"spilling-window"}, seen
