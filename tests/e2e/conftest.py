"""Fixtures for the end-to-end tests: the build's artifacts, one real Prometheus per session (with
the shipped alert rules loaded: every real application of the session feeds `ALERTS`), the real
applications several test files read (the listener's, the streaming listener's, the alert replay's
autoscaling one), the newer receivers the listener's newest run also pushes to (Prometheus 3.5,
VictoriaMetrics), and Debian's node_exporter as the reference for node statistics."""
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.alerts import RULES  # noqa: E402
from harness.paths import JAR, JOBS, NATIVE_LIB, spark_install, spark_versions  # noqa: E402
from harness.prometheus import Prometheus, Receiver, free_port  # noqa: E402
from harness.victoria_metrics import VictoriaMetrics  # noqa: E402
from harness.spark import sink_conf, submit  # noqa: E402

# The listener's runs: the oldest and the newest Spark line (Scala 2.12 and 2.13).
LINES = [spark_versions()[0], spark_versions()[-1]]


@pytest.fixture(scope="session", autouse=True)
def artifacts():
    missing = [str(p) for p in (JAR, NATIVE_LIB) if not p.exists()]
    if missing:
        pytest.fail(f"build first (cargo build --release): missing {missing}")


def pytest_configure(config):
    config.addinivalue_line("markers", "receiver_refusals_expected(why): this test makes the receiver refuse "
                            "writes on purpose (the oracle does not fail it for that)")
    config.addinivalue_line("markers", "counter_resets_expected(why): this test makes a counter go down on "
                            "purpose (the oracle does not fail it for that)")


@pytest.fixture(autouse=True)
def the_receiver_is_the_oracle(request):
    """After every test, each real receiver of the session it pushed to (a session fixture's when
    the test uses that fixture) says what went wrong since the last look: a refused write (or rows
    dropped), or a counter of ours that went down anywhere in what it kept. Reading last values
    proves little; the whole history is checked. A test that means to provoke either says so with
    its marker."""
    began = time.time()
    yield
    problems = []
    for server in list(Receiver.started):
        if server.process is None:  # stopped: what it said before it stopped, once
            Receiver.started.remove(server)
            found = server.final_problems
        elif server.fixture in request.fixturenames or server.started_at >= began:
            found = server.problems()
        else:
            continue  # this test did not push to it
        problems += [f"{server.url}: {p}" for p in found]
    allowed = [m.name for m in request.node.iter_markers()
               if m.name in ("receiver_refusals_expected", "counter_resets_expected")]
    if "receiver_refusals_expected" in allowed:
        problems = [p for p in problems if "refused writes" not in p]
    if "counter_resets_expected" in allowed:
        problems = [p for p in problems if "went down" not in p]
    if problems:
        pytest.fail("the receiver's oracle:\n" + "\n".join(problems), pytrace=False)


def served(server, fixture):
    """A session receiver for the length of the session, named by its fixture for the oracle,
    which asks it once more when it stops."""
    server.fixture = fixture
    yield server
    server.stop()
    assert not server.final_problems, f"the receiver's oracle at the end of the session: {server.final_problems}"


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    # The shipped rules, evaluated every 2 s (the applications report every 1 or 2 s): each
    # application's alerts are in ALERTS{app_id=...} (tests/e2e/test_alert_replay.py).
    server = Prometheus(data_dir=tmp_path_factory.mktemp("prometheus")).start(rule_files=[RULES],
                                                                            evaluation_interval="2s")
    yield from served(server, "prometheus")


@pytest.fixture(scope="session")
def prometheus_3(tmp_path_factory):
    """Prometheus 3.5 (remote write 1.0 and 2.0, native histograms)."""
    yield from served(Prometheus(data_dir=tmp_path_factory.mktemp("prometheus-3"), version="3.5").start(),
                      "prometheus_3")


@pytest.fixture(scope="session")
def prometheus_3_v2(tmp_path_factory):
    """A second Prometheus 3.5, fed remote write 2.0 (the first takes the same stream in 1.0)."""
    yield from served(Prometheus(data_dir=tmp_path_factory.mktemp("prometheus-3-v2"), version="3.5").start(),
                      "prometheus_3_v2")


@pytest.fixture(scope="session")
def victoria_metrics(tmp_path_factory):
    """VictoriaMetrics (remote write 1.0, OTLP)."""
    yield from served(VictoriaMetrics(data_dir=tmp_path_factory.mktemp("victoria-metrics")).start(),
                      "victoria_metrics")


@pytest.fixture(scope="session")
def victoria_metrics_otlp(tmp_path_factory):
    """A second VictoriaMetrics, fed the listener's stream over OTLP (sink `otlp`, protocol=otlp)."""
    yield from served(VictoriaMetrics(data_dir=tmp_path_factory.mktemp("victoria-metrics-otlp")).start(),
                      "victoria_metrics_otlp")


def more_sinks(conf, receivers, sink="prom"):
    """Adds a sink like `sink` (the same properties) for each of `receivers` ({sink name: write
    URL}): several sinks in one application, each its own series' claims (per URL)."""
    prefix = f"spark.metrics.conf.*.sink.{sink}."
    for name, url in receivers.items():
        conf.update({key.replace(f".sink.{sink}.", f".sink.{name}."): url if key == prefix + "url" else value
                     for key, value in list(conf.items()) if key.startswith(prefix)})


# Debian patches some of node_exporter's defaults; sparkprom follows upstream's, so the
# reference runs with upstream's values of the flags Debian changed.
UPSTREAM_DEFAULTS = [
    "--collector.filesystem.mount-points-exclude="
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    "--collector.netdev.device-exclude=^$",
]


@pytest.fixture(scope="session")
def node_exporter():
    port = free_port()
    process = subprocess.Popen(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}", *UPSTREAM_DEFAULTS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait()


def timed_submit(*args, **kwargs):
    """submit(), with when it started and ended (started_at, ended_at) on the run."""
    started = time.time()
    result = submit(*args, **kwargs)
    result.started_at, result.ended_at = started, time.time()
    return result


@pytest.fixture(scope="session", params=LINES)
def listener_run(request, prometheus, tmp_path_factory):
    """tests/e2e/jobs/listener_job.py on local-cluster, as users run it: `labels=job=...`
    (Prometheus' own label, theirs), Spark's static sources off, no spark.stop() at the end; with
    Spark's own account of it (its REST API and event log). (version, run, account). On the newest
    line the same stream also goes to Prometheus 3.5 and VictoriaMetrics (two more sinks like the
    first: tests/e2e/test_receivers.py compares what each kept), and to a second Prometheus 3.5 in
    remote write 2.0. The first sink's protocol is `auto`: on Prometheus 2.42, which takes only
    1.0, it settles on 1.0 at its first request."""
    version = request.param
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    conf["spark.metrics.conf.*.sink.prom.labels"] = "job=nightly-etl,team=data"
    # Every job group its own key (70 groups), so the REST comparison can go key by key.
    conf["spark.metrics.conf.*.sink.prom.listener.maxKeys"] = "200"
    # The driver's registry is empty when its sink starts: the listener must still be attached.
    conf["spark.metrics.staticSources.enabled"] = "false"
    if version == LINES[-1]:
        more_sinks(conf, {"prom3": request.getfixturevalue("prometheus_3").write_url,
                          "prom3v2": request.getfixturevalue("prometheus_3_v2").write_url,
                          "vm": request.getfixturevalue("victoria_metrics").write_url,
                          "otlp": request.getfixturevalue("victoria_metrics_otlp").otlp_url})
        conf["spark.metrics.conf.*.sink.prom3v2.protocol"] = "2.0"
        conf["spark.metrics.conf.*.sink.otlp.protocol"] = "otlp"
    conf["spark.metrics.conf.*.sink.prom.protocol"] = "auto"
    folder = tmp_path_factory.mktemp("listener")
    (folder / "events").mkdir()
    # Plain JSON lines on every line (Spark 4 compresses and rolls its event log by default).
    conf.update({"spark.eventLog.enabled": "true", "spark.eventLog.dir": str(folder / "events"),
                 "spark.eventLog.compress": "false", "spark.eventLog.rolling.enabled": "false"})
    result = timed_submit(spark_install(version), JOBS / "listener_job.py", [folder / "rest.json"], conf=conf,
                          log_path=folder / "spark.log")
    assert result.returncode == 0, result.output[-4000:]
    time.sleep(2)  # the last flush is in; let Prometheus make it queryable
    rest = json.loads((folder / "rest.json").read_text())
    # Spark 4 rolls its event log: a folder of files (events_1_<app>, ...) and an appstatus marker.
    logs = sorted(p for p in (folder / "events").rglob("*") if p.is_file() and "appstatus" not in p.name)
    rest["event_log"] = [json.loads(line) for path in logs for line in path.read_text().splitlines() if line.strip()]
    return version, result, rest


@pytest.fixture(scope="session", params=LINES)
def streaming_run(request, prometheus):
    """tests/e2e/jobs/streaming_job.py on local[2], reporting every second. (version, run, None)."""
    conf = sink_conf(prometheus.write_url, period_seconds=1)
    result = timed_submit(spark_install(request.param), JOBS / "streaming_job.py", conf=conf, master="local[2]")
    assert result.returncode == 0, result.output[-4000:]
    time.sleep(2)
    return request.param, result, None


@pytest.fixture(scope="session")
def period30_prometheus(tmp_path_factory):
    """A Prometheus of its own for the autoscaling application's second sink (period 30, no
    cluster label of any kind): the dashboards as README's "Use it" and EMR on EC2 users see them."""
    server = Prometheus(data_dir=tmp_path_factory.mktemp("prometheus-period30")).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def autoscaling_run(prometheus, period30_prometheus, tmp_path_factory):
    """tests/e2e/jobs/autoscaling_stream_job.py on local-cluster with dynamic allocation (executors
    removed after 4 idle seconds, added again), the newest Spark line, no label of the user's: one
    sink every 2 s into the session's Prometheus (its alerts), one every 30 s into
    period30_prometheus (the dashboards at a long period)."""
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    conf.update({key.replace(".prom.", ".slow."): value for key, value in
                 sink_conf(period30_prometheus.write_url, period_seconds=30).items() if ".sink.prom." in key})
    conf.update({
        "spark.dynamicAllocation.enabled": "true",
        # No external shuffle service here: executors with shuffle data go after 10 s idle too.
        "spark.dynamicAllocation.shuffleTracking.enabled": "true",
        "spark.dynamicAllocation.shuffleTracking.timeout": "10s",
        "spark.dynamicAllocation.minExecutors": "0",
        "spark.dynamicAllocation.initialExecutors": "1",
        "spark.dynamicAllocation.maxExecutors": "2",
        "spark.dynamicAllocation.executorIdleTimeout": "4s",
        "spark.dynamicAllocation.schedulerBacklogTimeout": "1s",
        "spark.sql.shuffle.partitions": "2",
    })
    folder = tmp_path_factory.mktemp("autoscaling")
    result = timed_submit(spark_install(LINES[-1]), JOBS / "autoscaling_stream_job.py", [folder], conf=conf,
                          log_path=folder / "spark.log", timeout=900)
    assert result.returncode == 0, result.output[-4000:]
    time.sleep(2)
    return result
