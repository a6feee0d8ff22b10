"""Two Kubernetes pods on one node, as this host makes them (harness/pods.py): each pod runs a real
Spark application (local-cluster: a driver and an executor JVM) in its own network namespace with
its own host name, the node's name given as our pod templates give it (SPARKPROM_NODE_NAME from
spec.nodeName), both at once, pushing through 127.0.0.1 to the real Prometheus.

- Host-wide series are keyed by the node, never by a pod, and carry node_exporter's values; the
  nodes dashboard shows one row for the node with its true figures (no sum counts it per pod).
- Network series are the pod's (cAdvisor's container_network_*), each within its own namespace's
  traffic.
- No sample is refused."""
import json
import math
import os
import re
import subprocess
import threading
import time
import urllib.request

import yaml

from harness.alerts import RULES
from harness.paths import JOBS, newest_version, spark_install
from harness.pods import Pod
from harness.prometheus import free_port
from harness.spark import sink_conf, submit
from test_dashboards import DASHBOARDS, auto_interval, fill, has_data_here, panels_without_data, regex_value
from test_node_stats import LINE

# Not the node name test_platforms.py gives its runs (they share the session's Prometheus).
NODE = "ip-10-0-2-31.ec2.internal"
# What each pod sends out of its eth0 before its job, far enough apart that one pod's figures
# cannot fall inside the other's window.
TRAFFIC = {"pod-a": 3_000_000, "pod-b": 30_000_000}
HOST_WIDE = ["node_cpu_seconds_total", "node_memory_MemTotal_bytes", "node_boot_time_seconds",
             "node_load1", "node_pressure_cpu_waiting_seconds_total", "node_disk_read_bytes_total"]


def scrape(url):
    """{(name, frozenset(labels)): value} of every line node_exporter gives."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if m:
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
            out[(m.group(1), labels)] = float(m.group(3))
    return out


def run_pods(prometheus):
    """Both pods' jobs at once; returns ({pod: run}, {pod: (/proc/net/dev before, after)}, start, end)."""
    port = free_port()
    conf = sink_conf(f"http://127.0.0.1:{port}/api/v1/write", period_seconds=2)
    conf["spark.metrics.conf.*.sink.prom.labels"] = "cluster=pods-test"
    install = spark_install(newest_version())
    runs, windows = {}, {}
    with Pod("pod-a", NODE) as a, Pod("pod-b", NODE) as b:
        for pod in (a, b):
            pod.forward(port, prometheus.port)
            pod.send(TRAFFIC[pod.name])
            windows[pod.name] = [pod.net_dev()]

        def job(pod):
            # The first pod's job runs longer: the second starts once the first has its id.
            seconds = "26" if pod is a else "12"
            runs[pod.name] = submit(install, JOBS / "count_job.py", [seconds], conf=conf,
                                    master="local-cluster[1,1,1024]", env=pod.env(), prefix=pod.prefix())

        start = time.time()
        threads = [threading.Thread(target=job, args=(pod,)) for pod in (a, b)]
        # local-cluster names an application app-<second>-0000, and both pods' jobs would share
        # that name (and its work directory) if they registered in one second (on Kubernetes
        # application ids are random): the second pod starts once the first has its id, while
        # the first's job still has over 10 seconds to run.
        known = set(install.work_dir.glob("app-*"))
        threads[0].start()
        deadline = time.time() + 120
        while not set(install.work_dir.glob("app-*")) - known and threads[0].is_alive() and time.time() < deadline:
            time.sleep(0.2)
        time.sleep(1.1)
        threads[1].start()
        for t in threads:
            t.join()
        end = time.time()
        for pod in (a, b):
            windows[pod.name].append(pod.net_dev())
    return runs, windows, start, end


def newest(prometheus, selector):
    """[(labels, value)] of each series' newest sample (a range skips the stale markers)."""
    return prometheus.query(f"last_over_time({selector}[15m])")


def test_pods_on_one_node_send_the_node_once_and_their_own_network(prometheus, node_exporter, tmp_path):
    before = scrape(node_exporter)
    runs, windows, start, end = run_pods(prometheus)
    after = scrape(node_exporter)
    assert len({run.app_id for run in runs.values()}) == 2, runs
    for name, run in runs.items():
        assert run.returncode == 0, (name, run.output[-3000:])
        assert "refused" not in run.output, (name, run.output[-3000:])
    apps = "|".join(run.app_id for run in runs.values())
    time.sleep(2)

    # Host-wide series: from each of the four JVMs (the writer's identity keeps them apart),
    # keyed by the node and no pod, with node_exporter's values.
    for family in HOST_WIDE:
        series = newest(prometheus, f'{family}{{app_id=~"{apps}"}}')
        writers = {(labels["app_id"], labels["executor_id"]) for labels, _ in series}
        assert len(writers) == 4, (family, writers)
        for labels, value in series:
            assert labels["instance"] == NODE and "pod" not in labels, (family, labels)
            key = (family, frozenset((k, v) for k, v in labels.items() if k in ("cpu", "mode", "device")))
            if family == "node_load1":
                continue  # a gauge that moves within seconds; its name and keys are what count here
            low, high = sorted((before[key], after[key]))
            slack = 1.0 if family == "node_boot_time_seconds" else 1e-9 * abs(high)
            assert low - slack <= value <= high + slack, (family, labels, value, low, high)

    # The pod's network (its eth0 and its loopback), each within what its own namespace counted
    # before and after its job, never under node_network_* nor the node's name.
    assert windows["pod-a"][1]["eth0"][1] < windows["pod-b"][0]["eth0"][1], windows
    assert not newest(prometheus, f'node_network_receive_bytes_total{{app_id=~"{apps}"}}')
    for name, run in runs.items():
        for family, index in (("container_network_receive_bytes_total", 0), ("container_network_transmit_bytes_total", 1)):
            for interface in ("eth0", "lo"):
                series = newest(prometheus, f'{family}{{app_id="{run.app_id}", interface="{interface}"}}')
                assert {labels["executor_id"] for labels, _ in series} == {"driver", "0"}, (name, series)
                low, high = windows[name][0][interface][index], windows[name][1][interface][index]
                for labels, value in series:
                    assert labels["pod"] == name and labels["instance"] == NODE, labels
                    assert low <= value <= high, (name, family, interface, labels["executor_id"], value, (low, high))

    # The process and its container are the pod's.
    for labels, _ in newest(prometheus, f'process_resident_memory_bytes{{app_id=~"{apps}"}}'):
        assert labels["pod"] in TRAFFIC and labels["instance"] == NODE, labels

    # This host is cgroup v1: a pod on it has no container statistics, and each JVM says so once.
    unavailable = {(labels["app_id"], labels["executor_id"], labels["source"]): value for labels, value in
                   newest(prometheus, f'sparkprom_node_source_unavailable{{app_id=~"{apps}"}}')}
    assert len(unavailable) == 12, unavailable
    for (_, _, source), value in unavailable.items():
        assert value == (1.0 if source == "cgroup" else 0.0), unavailable
    for run in runs.values():
        logs = [run.output, *run.executor_logs().values()]
        assert [log.count("no cgroup v2 hierarchy") for log in logs] == [1, 1], logs[0][-3000:]
        assert "given no node name" not in "".join(logs)

    assert prometheus.rejected_samples_log() == []

    # The nodes dashboard, as Grafana fills it: every panel has data, every row is the node, and
    # the node's figures are its own, not one per pod added up.
    dashboard = DASHBOARDS / "spark-nodes.json"
    mine = {"cluster_label": "cluster", "cluster": "pods-test", "instance": NODE}
    checked, empty = panels_without_data(prometheus, dashboard, mine, start, end, in_pods=True)
    assert not empty, empty
    variables = {v["name"]: v for v in json.loads(dashboard.read_text())["templating"]["list"]}
    chosen = {"cluster_label": "cluster", "cluster": "pods-test", "instance": regex_value(NODE),
              "window": auto_interval(variables["window"], start, end)}
    at = end - 4
    for panel in json.loads(dashboard.read_text())["panels"]:
        for target in panel.get("targets", []):
            expr = fill(target["expr"], chosen)
            if not has_data_here(expr, in_pods=True):
                continue
            rows = prometheus.query(expr, at=at)
            assert all(labels.get("instance") == NODE for labels, _ in rows), (panel["title"], rows)
            if expr.startswith(("max by (instance) (", "sum by (instance) (")):
                assert len(rows) <= 1, (panel["title"], rows)
            if panel["title"] == "CPU busy (cores)":
                assert rows and rows[0][1] <= os.cpu_count() + 0.5, rows
            if "node_memory_MemTotal_bytes" in expr:
                total = before[("node_memory_MemTotal_bytes", frozenset())]
                assert rows and rows[0][1] == total, (rows, total)
    assert checked >= 10

    # The node alerts, by promtool, on the node series this run recorded.
    check_node_alerts_with_promtool(prometheus, start, end, tmp_path)


WRITER_LABELS = {"__name__", "app_id", "app_name", "executor_id", "pod", "emr_job_id"}


def promtool_series(labels):
    name = labels["__name__"]
    rest = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()) if k != "__name__")
    return f"{name}{{{rest}}}"


def check_node_alerts_with_promtool(prometheus, start, end, tmp_path):
    """Every node rule's expression, its threshold left off, evaluated by `promtool test rules` on
    the node series of this run (every writer's, resampled every 2 s): one result per node, and
    it carries none of the writers' identity labels (so the alert fires once per node and keeps
    the cluster's routing labels)."""
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] if group["name"] == "spark-nodes"
             for rule in group["rules"] if "node_" in rule["expr"]]
    assert len(rules) >= 4, rules
    names = sorted({name for rule in rules for name in re.findall(r"\bnode_\w+", rule["expr"])})
    recorded = prometheus.raw_series(f'{{__name__=~"{"|".join(names)}", instance="{NODE}"}}[15m]', at=end + 4)
    # promtool 2.42 drops a series whose first value is missing (`_`): the input starts when every
    # writer has sent once, and leaves out what had ended by then.
    step = 2
    origin = math.ceil(max(samples[0][0] for _, samples in recorded))
    points = int((end + 4 - origin) / step)
    inputs, expected = [], None
    for labels, samples in recorded:
        values = []
        for i in range(points):
            fresh = [v for t, v in samples if origin + i * step - 5 < t <= origin + i * step]
            values.append(repr(fresh[-1]) if fresh else "_")
        if values[0] == "_":
            continue
        inputs.append({"series": promtool_series(labels), "values": " ".join(values)})
        if labels["__name__"] == "node_memory_MemTotal_bytes":
            expected = {k: v for k, v in labels.items() if k not in WRITER_LABELS}
    assert expected and len(inputs) > 8, inputs
    # While both pods ran (rates over their samples so far).
    eval_time = f"{min(10, step * (points - 1))}s"
    tests = []
    for rule in rules:
        expr = re.sub(r"\s*[<>]=?\s*[0-9.]+\s*$", "", rule["expr"].strip())
        if "node_filesystem_" in expr:
            # One result per filesystem of the node, whoever sent it.
            tests.append({"expr": f"max(count by (instance, device, mountpoint) ({expr}))", "eval_time": eval_time,
                          "exp_samples": [{"labels": "{}", "value": 1}]})
        else:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(expected.items()))
            tests.append({"expr": f"({expr}) * 0", "eval_time": eval_time,
                          "exp_samples": [{"labels": f"{{{labels}}}", "value": 0}]})
    test_file = tmp_path / "recorded.test.yml"
    # promtool 2.42 sees no samples between its evaluation steps: they step with the input.
    test_file.write_text(yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": f"{step}s",
                                         "tests": [{"interval": f"{step}s", "input_series": inputs,
                                                    "promql_expr_test": tests}]}))
    result = subprocess.run(["promtool", "test", "rules", str(test_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
