"""A standalone cluster as Spark runs one: a master and two workers, each its own JVM started with
spark-class, the sink configured for the daemons by `-Dspark.metrics.conf` (SPARK_DAEMON_JAVA_OPTS)
and for the application by its --conf, and a job on it. Every JVM writes series of its own (the
daemons, which have no app or executor id, by `instance` and `pid`), the real Prometheus refuses
none of them, the daemons' properties with a dot in their name (`node.instance` here) reach their
cores, and a `spark.metrics.namespace` that Spark expands from the environment keeps ids out of
the names; the master's sink takes its own instance's (`master.sink...`) over `*`'s."""
import os
import subprocess
import time
import uuid

import pytest

from harness.paths import JAR, JOBS, NATIVE_LIB, newest_version, spark_install
from harness.prometheus import free_port
from harness.spark import sink_conf, submit
from test_end_to_end import last


def start_daemon(install, env, main_class, *args, log):
    command = [str(install.home / "bin" / "spark-class"), main_class, *map(str, args)]
    return subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)


@pytest.fixture
def standalone(prometheus, tmp_path):
    """A master and two workers of the newest Spark, with the sink in every daemon."""
    install = spark_install(newest_version())
    cluster = f"standalone-{uuid.uuid4().hex[:8]}"
    metrics = tmp_path / "metrics.properties"
    metrics.write_text("\n".join([
        "*.sink.prom.class=io.sparkprom.RemoteWriteSink",
        f"*.sink.prom.url={prometheus.write_url}",
        "*.sink.prom.period=1",
        f"*.sink.prom.library={NATIVE_LIB}",
        f"*.sink.prom.labels=cluster={cluster}",
        # A property with a dot in its name: only the metrics.properties file carries it here.
        "*.sink.prom.node.instance=standalone-node",
        # The master instance's own dotted properties win over *'s in the master's sink (its JVM's
        # other sink, the applications instance's, sends the node statistics).
        "master.sink.prom.node.instance=standalone-master",
        "master.sink.prom.node.enabled=false",
        "",
    ]))
    env = dict(os.environ, SPARK_HOME=str(install.home), SPARK_LOCAL_IP="127.0.0.1",
               SPARK_DAEMON_JAVA_OPTS=f"-Dspark.metrics.conf={metrics}", SPARK_DAEMON_CLASSPATH=str(JAR),
               SPARK_LOG_DIR=str(tmp_path / "logs"), SPARK_WORKER_DIR=str(tmp_path / "work"))
    env.pop("SPARK_CONF_DIR", None)
    port = free_port()
    logs = []
    daemons = []
    try:
        log = open(tmp_path / "master.log", "w")
        logs.append(log)
        daemons.append(start_daemon(install, env, "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1",
                                    "--port", port, "--webui-port", free_port(), log=log))
        for n in range(2):
            log = open(tmp_path / f"worker{n}.log", "w")
            logs.append(log)
            daemons.append(start_daemon(
                install, env, "org.apache.spark.deploy.worker.Worker", "--host", "127.0.0.1",
                "--webui-port", free_port(), "--cores", "1", "--memory", "1g",
                "--work-dir", tmp_path / f"work{n}", f"spark://127.0.0.1:{port}", log=log))
        alive = prometheus.wait_for(f'spark_master_alive_workers{{cluster="{cluster}"}}',
                                    lambda r: r and r[0][1] == 2, timeout=120)
        assert alive and alive[0][1] == 2, (alive, [(tmp_path / f).read_text()[-2000:] for f in
                                                    ("master.log", "worker0.log", "worker1.log")])
        yield install, f"spark://127.0.0.1:{port}", cluster, [d.pid for d in daemons]
    finally:
        for daemon in daemons:
            daemon.terminate()
        for daemon in daemons:
            try:
                daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                daemon.kill()
        for log in logs:
            log.close()


def test_every_jvm_of_a_standalone_cluster_writes_its_own_series(prometheus, standalone):
    install, master, cluster, daemon_pids = standalone
    namespace = f"ns{uuid.uuid4().hex[:6]}"
    conf = sink_conf(prometheus.write_url, period_seconds=1)
    # Spark expands ${env:...} in the namespace; the executors get the variable from spark.executorEnv.
    conf["spark.metrics.namespace"] = "${env:SPARKPROM_TEST_NAMESPACE}"
    conf["spark.executorEnv.SPARKPROM_TEST_NAMESPACE"] = namespace
    conf["spark.cores.max"] = "2"
    conf["spark.executor.cores"] = "1"
    run = submit(install, JOBS / "count_job.py", ["8"], conf=conf, master=master,
                 env=dict(os.environ, SPARKPROM_TEST_NAMESPACE=namespace))
    assert run.returncode == 0, run.output[-3000:]

    # The master's own instance's dotted property, not *'s.
    master_series = last(prometheus, f'spark_master_alive_workers{{cluster="{cluster}"}}', bool)
    assert {labels["instance"] for labels, _ in master_series} == {"standalone-master"}, master_series
    # The two workers: one series each, told apart by pid, all on the node the daemons' own
    # metrics.properties names (a dotted property, read without a SparkEnv).
    workers = last(prometheus, f'spark_worker_cores_used{{cluster="{cluster}"}}', lambda r: len(r) == 2)
    assert len(workers) == 2, workers
    assert {labels["instance"] for labels, _ in workers} == {"standalone-node"}, workers
    worker_pids = {int(labels["pid"]) for labels, _ in workers}
    assert len(worker_pids) == 2 and worker_pids <= set(_java_pids(daemon_pids)), (workers, daemon_pids)
    # Node and process series of the three daemons: one writer each.
    for family in ("node_load1", "process_cpu_seconds_total"):
        series = last(prometheus, f'{family}{{cluster="{cluster}", app_id=""}}', lambda r: len(r) >= 3)
        pids = [labels.get("pid") for labels, _ in series]
        assert len(series) == 3 and len(set(pids)) == 3 and None not in pids, (family, series)
    # Each sink's own health: the master's JVM has two sinks (its master and applications
    # instances), told apart by role.
    sent = last(prometheus, f'sparkprom_samples_sent_total{{cluster="{cluster}", app_id=""}}', lambda r: len(r) >= 4)
    assert len({labels.get("pid") for labels, _ in sent}) == 3, sent
    assert len({(labels.get("pid"), labels.get("role")) for labels, _ in sent}) == len(sent) == 4, sent

    # The application's JVMs: the driver and two executors, ids kept out of names, no role "other".
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}"}}', lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    series = prometheus.series_in(f'{{app_id="{run.app_id}"}}[15m]')
    assert len(series) > 100, f"{len(series)} series from the application"
    assert not [labels for labels in series if labels.get("role") == "other"], series
    ids = (namespace, run.app_id.replace("-", "_"))
    assert not [labels["__name__"] for labels in series if any(i in labels["__name__"] for i in ids)], series
    assert prometheus.rejected_samples_log() == []


def _java_pids(launcher_pids):
    """spark-class execs the JVM, so its pid is the launcher's; children are looked at as well."""
    pids = set(launcher_pids)
    for pid in launcher_pids:
        try:
            children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
        except FileNotFoundError:
            children = []
        pids.update(int(c) for c in children)
    return pids
