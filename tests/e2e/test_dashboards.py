"""The Grafana dashboards in spark-conf/dashboards, against real data: after a real local-cluster
job, every template variable's query offers the job's value, and every panel query of every
dashboard (applications, nodes, jobs and stages), with the variables filled in as Grafana fills
them, returns data from the real Prometheus."""
import json
import re
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

from harness.paths import JOBS, REPO, newest_version, spark_install
from harness.prometheus import Prometheus
from harness.spark import sink_conf, submit

DASHBOARDS = REPO / "spark-conf" / "dashboards"
# This machine has cgroup v1, which the sink does not read: container_* series cannot exist here
# (the cgroup v2 reader is covered by fixture tests).
CGROUP_V2 = Path("/sys/fs/cgroup/cgroup.controllers").exists()


def label_values(prometheus, query, label, start, end):
    """What Grafana's label_values(query, label) lists for the time range."""
    params = urllib.parse.urlencode({"match[]": query, "start": start, "end": end})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/label/{label}/values?{params}", timeout=30) as r:
        return json.load(r)["data"]


def regex_value(value):
    """A value as Grafana puts it into a regex matcher: regex characters escaped, with the
    backslash doubled for the PromQL string."""
    return re.sub(r"([\\^$.|?*+()\[\]{}])", r"\\\\\1", value)


def fill(text, chosen):
    for name, value in sorted(chosen.items(), key=lambda kv: -len(kv[0])):
        text = text.replace(f"${name}", value)
    return text


# Grafana's rounding of an auto interval (rangeutil.roundInterval): (up to seconds, interval).
ROUNDED = [(1.5, "1s"), (3.5, "2s"), (7.5, "5s"), (12.5, "10s"), (17.5, "15s"), (25, "20s"), (45, "30s"),
           (90, "1m"), (210, "2m"), (450, "5m"), (750, "10m"), (1050, "15m"), (1500, "20m"), (2700, "30m"),
           (5400, "1h"), (9000, "2h"), (float("inf"), "3h")]


def seconds(interval):
    return float(interval[:-1]) * {"s": 1, "m": 60, "h": 3600}[interval[-1]]


def auto_interval(variable, start, end):
    """What Grafana puts in an interval variable left on auto: the time range over its
    auto_count, rounded, and never under its auto_min."""
    rounded = next(name for limit, name in ROUNDED if (end - start) / variable["auto_count"] <= limit)
    return max(rounded, variable["auto_min"], key=seconds)


# No Kafka or Delta here: the streaming dashboard's source-backlog panel has nothing to show.
NEEDS_KAFKA_OR_DELTA = re.compile(r"spark_streaming_source_(offsets_behind_latest|outstanding_)")


def has_data_here(expr, in_pods):
    """Whether a panel query can have data on this machine: not the cgroup v2 families (this
    host is cgroup v1), not Kafka's or Delta's backlog, and a pod's network only from JVMs in pods
    (test_pods_on_a_node.py)."""
    if re.search(r"\bcontainer_(?!network_)", expr) and not CGROUP_V2:
        return False
    if "container_network_" in expr and "node_network_" not in expr and not in_pods:
        return False
    return not NEEDS_KAFKA_OR_DELTA.search(expr)


def run_and_label(prometheus, job, args, app_name, master="local-cluster[2,1,1024]", databricks_cluster=None):
    """A real run; its cluster named by the user's own `cluster` label, or (databricks_cluster)
    only by the platform's label, as on a Databricks cluster whose users set none."""
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    if databricks_cluster:
        conf["spark.databricks.clusterUsageTags.clusterName"] = databricks_cluster
        cluster = {"cluster_label": "databricks_cluster_name", "cluster": databricks_cluster}
    else:
        conf["spark.metrics.conf.*.sink.prom.labels"] = "cluster=dash-test"
        cluster = {"cluster_label": "cluster", "cluster": "dash-test"}
    conf["spark.metrics.appStatusSource.enabled"] = "true"
    start = time.time()
    run = submit(spark_install(newest_version()), JOBS / job, args, conf=conf, master=master)
    end = time.time()
    assert run.returncode == 0, run.output[-3000:]
    time.sleep(2)
    return {**cluster, "app_id": run.app_id, "app_name": app_name}, start, end


def label_names(prometheus, query, start, end):
    """What Grafana's label_names(query) lists for the time range."""
    params = urllib.parse.urlencode({"match[]": query, "start": start, "end": end})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/labels?{params}", timeout=30) as r:
        return json.load(r)["data"]


def panels_without_data(prometheus, path, mine, start, end, in_pods=False):
    """Checks the dashboard's variables offer the run's values; returns (targets checked, the
    panels without data at the best moment of the run)."""
    targets = dashboard_targets(prometheus, path, mine, start, end)
    expected = [(title, expr) for title, expr in targets if has_data_here(expr, in_pods)]
    # Panels are read while the job ran: its series end with stale markers when it stops.
    empty = None
    for at in range(int(end) - 3, int(start), -1):
        empty = [(title, expr) for title, expr in expected if not prometheus.query(expr, at=at)]
        if not empty:
            break
        if at > int(end) - 40:
            print("DEBUG", at, [t for t, _ in empty])
    return len(expected), empty


def dashboard_targets(prometheus, path, mine, start, end):
    """Every panel query of the dashboard, [(panel title, PromQL)], with its variables filled as
    Grafana fills them for the run `mine` describes (checking that each variable offers the run's
    value)."""
    dashboard = json.loads(path.read_text())
    chosen = {}
    for variable in dashboard["templating"]["list"]:
        name = variable["name"]
        if variable["type"] == "datasource":
            continue
        if variable["type"] == "interval":
            assert variable["current"]["value"] == f"$__auto_interval_{name}", variable
            chosen[name] = auto_interval(variable, start, end)
            continue
        names = re.fullmatch(r"label_names\((.*)\)", variable["definition"])
        if names:
            # A label name to filter by: Grafana offers the names its regex keeps, sorted, and
            # takes the first; it must be the label that names this run's cluster.
            keep = re.compile(variable["regex"].strip("/"))
            offered = sorted(n for n in label_names(prometheus, names.group(1), start, end) if keep.fullmatch(n))
            assert offered and offered[0] == mine[name], (path.name, name, offered)
            chosen[name] = offered[0]
            continue
        query, label = re.fullmatch(r"label_values\((.*), (\w+)\)", fill(variable["definition"], chosen)).groups()
        offered = label_values(prometheus, query, label, start, end)
        if name in mine:
            assert mine[name] in offered, (path.name, name, offered)
            chosen[name] = regex_value(mine[name])
        else:
            assert offered, (path.name, name, "offers nothing")
            chosen[name] = variable.get("allValue", ".*")
    return [(p["title"], fill(t["expr"], chosen)) for p in dashboard["panels"] for t in p.get("targets", [])]


def test_every_panel_of_every_dashboard_shows_data_of_a_real_job(prometheus, tmp_path):
    # 12 map tasks per stage: the jobs-and-stages dashboard's skew panel needs stages of 10 or more.
    batch = run_and_label(prometheus, "count_job.py", ["20", "12"], "sparkprom-e2e")  # count_job.py's appName
    # The streaming run goes to a Prometheus of its own, holding only a Databricks-like cluster
    # whose users set no `cluster` label: the picker must fall back to the platform's label.
    databricks = Prometheus(data_dir=tmp_path / "prometheus").start()
    try:
        streaming = run_and_label(databricks, "streaming_job.py", ["--quick"], "sparkprom-streaming", master="local[2]",
                                  databricks_cluster="dash-dbx")
        checked = 0
        for path in sorted(DASHBOARDS.glob("*.json")):
            server, (mine, start, end) = (databricks, streaming) if "streaming" in path.name else (prometheus, batch)
            count, empty = panels_without_data(server, path, mine, start, end)
            assert not empty, (path.name, empty)
            checked += count
    finally:
        databricks.stop()
    assert checked >= 50


def test_amp_variants_are_the_dashboards_for_grafanas_amp_data_source():
    """Grafana 13 gives AMP its own data source type; a variable for `prometheus` lists none."""
    result = subprocess.run(["python3", str(DASHBOARDS / "amp_variants.py"), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    for path in sorted(DASHBOARDS.glob("*.json")):
        amp = json.loads((DASHBOARDS / "amp" / path.name).read_text())
        assert amp["templating"]["list"][0]["query"] == "grafana-amazonprometheus-datasource"
        assert '"type": "prometheus"' not in json.dumps(amp)


def test_every_dashboard_works_at_period_30_with_no_cluster_label(period30_prometheus, autoscaling_run):
    """README's "Use it", EMR on EC2, standalone: no `cluster`, no platform label; and the sink's
    period at 30 s (metrics-filtered.properties). The cluster picker falls back to `role` (All),
    no query is an error, and every panel shows the application (the rate window, 2m at least,
    holds 4 reports)."""
    run = autoscaling_run
    mine = {"cluster_label": "role", "app_id": run.app_id, "app_name": "sparkprom-autoscaling"}
    checked = 0
    for path in sorted(DASHBOARDS.glob("*.json")):
        count, empty = panels_without_data(period30_prometheus, path, mine, run.started_at, run.ended_at)
        assert not empty, (path.name, empty)
        checked += count
    assert checked >= 50
