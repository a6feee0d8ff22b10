"""Today's remote-write 1.0 stream is taken whole by the newer receivers: the listener's application
on the newest Spark line (conftest.py's listener_run) pushes through three sinks with the same
properties, into the session's Prometheus 2.42, a Prometheus 3.5 and a VictoriaMetrics 1.112 (one
application, no run of its own). Each sink samples at its own moments, so raw samples differ by
milliseconds between receivers; what must agree is which series arrived and the final values of
Spark's own counts; and every shipped dashboard and alert query is taken by each engine (on
Prometheus 3.5 answered with the same series as on 2.42)."""
import pytest

from conftest import LINES
from harness.alerts import rules
from harness.compare import answer_differences, answers, refused_queries, series_differences
from test_dashboards import DASHBOARDS, dashboard_targets

# Counts of what Spark did (jobs, stages, tasks, shuffle bytes, executors): each sink reports the
# same final values, so every receiver's last sample must be equal to the bit.
SPARK_COUNTS = ["spark_jobs_total", "spark_stages_total", "spark_tasks_total", "spark_job_duration_seconds_count",
                "spark_stage_shuffle_write_bytes_total", "spark_executor_succeeded_tasks_total",
                "spark_executors_added_total", "spark_executors_removed_total"]
# The rule manager's own series: only the session's Prometheus evaluates the shipped rules.
RULE_SERIES = '__name__!~"ALERTS|ALERTS_FOR_STATE"'


def shipped_queries(receiver, app_id, start, end):
    """Every alert rule's expression and every panel query of the batch dashboards, their variables
    filled for the application as Grafana fills them (the streaming dashboard has nothing here)."""
    mine = {"cluster_label": "role", "app_id": app_id, "app_name": "sparkprom-listener"}
    queries = [rule["expr"] for _, rule in rules()]
    for path in sorted(DASHBOARDS.glob("*.json")):
        if "streaming" not in path.name:
            queries += [expr for _, expr in dashboard_targets(receiver, path, mine, start, end)]
    return queries


@pytest.mark.parametrize("listener_run", [LINES[-1]], indirect=True)
def test_prometheus_3_and_victoria_metrics_take_the_whole_remote_write_1_stream(prometheus, prometheus_3,
                                                                                victoria_metrics, listener_run):
    _, run, _ = listener_run
    newer = [prometheus_3, victoria_metrics]
    # Nothing refused or dropped, no counter went down (asked here as well as by the oracle).
    for receiver in newer:
        problems = receiver.problems()
        assert problems == [], (str(receiver), problems)
    at = run.ended_at + 5  # after every sink's last report
    window = int(at - run.started_at) + 60
    selector = f'{{app_id="{run.app_id}", {RULE_SERIES}}}'

    # Every series the 2.42 receiver kept of the application arrived in each newer one, and no other.
    kept = prometheus.raw_series(f"{selector}[{window}s]", at)
    assert len(kept) > 1000, len(kept)
    for receiver in newer:
        differences = series_differences(prometheus, receiver, f"{selector}[{window}s]", at)
        assert differences == [], (str(receiver), len(differences), differences[:5])

    # Spark's counts: the same last value in each.
    counts = [f'last_over_time({name}{{app_id="{run.app_id}"}}[{window}s])' for name in SPARK_COUNTS]
    assert all(prometheus.query(query, at) for query in counts), "a count the listener's run must have is missing"
    for receiver in newer:
        assert answer_differences(prometheus, receiver, counts, at, tolerance=0) == [], str(receiver)

    # The shipped dashboards and alerts, asked while the application ran (its gauges still live)
    # and after its end: Prometheus 3.5 answers every query with the same series as 2.42 (values
    # are not compared: the sinks' sampling moments differ by up to a second); VictoriaMetrics takes
    # every query, but MetricsQL answers some differently by design (rate() and increase() do not
    # extrapolate; a series whose window ends in a staleness marker drops out of rate()).
    queries = shipped_queries(prometheus_3, run.app_id, run.started_at, run.ended_at)
    moments = [run.ended_at - 20, at]
    answered = [query for query in queries if any(answers(prometheus, query, moment, run.app_id) for moment in moments)]
    assert len(answered) >= 45, f"only {len(answered)} of {len(queries)} shipped queries answer at all"
    for moment in moments:
        differences = answer_differences(prometheus, prometheus_3, queries, moment, tolerance=None,
                                          app_id=run.app_id)
        assert differences == [], (str(prometheus_3), moment, differences[:5])
        assert refused_queries(victoria_metrics, queries, moment) == [], str(victoria_metrics)


@pytest.mark.parametrize("listener_run", [LINES[-1]], indirect=True)
def test_remote_write_2_answers_every_shipped_query_as_1_0_on_one_engine(prometheus, prometheus_3, prometheus_3_v2,
                                                                         listener_run):
    """The same application's stream in remote write 2.0 (symbols, metadata and start timestamps
    inline) into one Prometheus 3.5, and in 1.0 into another: the same series, the same final
    counts, every shipped query answered with the same series. A sink with protocol=2.0 never
    sends 1.0, so what the second one kept came in 2.0. And the session's sink with protocol=auto
    settled on 1.0 at Prometheus 2.42, which stores nothing of a 2.0 request, losing nothing."""
    _, run, _ = listener_run
    assert prometheus_3_v2.problems() == []
    at = run.ended_at + 5
    window = int(at - run.started_at) + 60
    selector = f'{{app_id="{run.app_id}", {RULE_SERIES}}}'
    kept = prometheus_3.raw_series(f"{selector}[{window}s]", at)
    assert len(kept) > 1000, len(kept)
    differences = series_differences(prometheus_3, prometheus_3_v2, f"{selector}[{window}s]", at)
    assert differences == [], (len(differences), differences[:5])
    counts = [f'last_over_time({name}{{app_id="{run.app_id}"}}[{window}s])' for name in SPARK_COUNTS]
    assert answer_differences(prometheus_3, prometheus_3_v2, counts, at, tolerance=0) == []
    queries = shipped_queries(prometheus_3, run.app_id, run.started_at, run.ended_at)
    for moment in [run.ended_at - 20, at]:
        differences = answer_differences(prometheus_3, prometheus_3_v2, queries, moment, tolerance=None,
                                          app_id=run.app_id)
        assert differences == [], (moment, differences[:5])
    # The driver's own sink to 2.42 said what it settled on (each executor's sink says it in its log).
    assert f"remote write to {prometheus.write_url} settled on remote write 1.0 (protocol=auto)" in run.output


@pytest.mark.parametrize("listener_run", [LINES[-1]], indirect=True)
def test_victoria_metrics_fed_over_otlp_answers_as_fed_over_remote_write_1(victoria_metrics, victoria_metrics_otlp,
                                                                           listener_run):
    """The same application's stream through the `vm` sink (remote write 1.0) and the `otlp` sink
    (protocol=otlp) into two VictoriaMetrics: the same series (the resource's attributes become the
    1.0 stream's labels), the same final values of Spark's counts, and every shipped dashboard and
    alert query answered with the same series by both."""
    _, run, _ = listener_run
    problems = victoria_metrics_otlp.problems()
    assert problems == [], (str(victoria_metrics_otlp), problems)
    at = run.ended_at + 5
    window = int(at - run.started_at) + 60
    selector = f'{{app_id="{run.app_id}"}}[{window}s]'
    kept = victoria_metrics_otlp.raw_series(selector, at)
    assert len(kept) > 1000, len(kept)
    differences = series_differences(victoria_metrics, victoria_metrics_otlp, selector, at)
    assert differences == [], (len(differences), differences[:5])

    counts = [f'last_over_time({name}{{app_id="{run.app_id}"}}[{window}s])' for name in SPARK_COUNTS]
    assert all(victoria_metrics_otlp.query(query, at) for query in counts), "a count is missing over OTLP"
    assert answer_differences(victoria_metrics, victoria_metrics_otlp, counts, at, tolerance=0) == []

    queries = shipped_queries(victoria_metrics, run.app_id, run.started_at, run.ended_at)
    moments = [run.ended_at - 20, at]
    answered = [query for query in queries
                if any(answers(victoria_metrics_otlp, query, m, run.app_id) for m in moments)]
    assert len(answered) >= 45, f"only {len(answered)} of {len(queries)} shipped queries answer over OTLP"
    for moment in moments:
        differences = answer_differences(victoria_metrics, victoria_metrics_otlp, queries, moment, tolerance=None,
                                          app_id=run.app_id)
        assert differences == [], (moment, len(differences), differences[:5])
