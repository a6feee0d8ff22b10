"""The quickstart: a real Spark job in local-cluster mode (a driver and two executor JVMs) pushes
its metrics through sparkprom into a local Prometheus, then this prints what arrived.
Run it through quickstart.sh, which installs and builds first."""
import os
import sys
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "e2e"))

from harness.paths import CACHE, JOBS, newest_version, spark_install  # noqa: E402
from harness.prometheus import Prometheus, free_port  # noqa: E402
from harness.spark import sink_conf, submit  # noqa: E402


def port_in_use(port: int) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
        return True
    except OSError as e:
        return not isinstance(getattr(e, "reason", None), ConnectionRefusedError)


def main():
    version = os.environ.get("SPARKPROM_SPARK_VERSION", newest_version())
    port = int(os.environ.get("SPARKPROM_PROMETHEUS_PORT", "9090"))
    if port_in_use(port):
        port = free_port()
    prometheus = Prometheus(port=port, data_dir=CACHE / "quickstart-prometheus").start(detach=True)
    print(f"Prometheus {prometheus.url} is receiving remote write at {prometheus.write_url}")

    print(f"Running a 20-second Spark {version} job in local-cluster[2,1,1024] with the sink ...")
    conf = sink_conf(prometheus.write_url, period_seconds=5)
    conf["spark.metrics.appStatusSource.enabled"] = "true"
    run = submit(spark_install(version), JOBS / "count_job.py", ["20"], conf=conf,
                 log_path=CACHE / "quickstart-spark.log")
    if run.returncode != 0:
        print(f"The Spark job failed; its log is {CACHE / 'quickstart-spark.log'}")
        return 1
    app = run.app_id
    # The executors' final flush may still be landing.
    prometheus.wait_for(f'count(count by (executor_id) (last_over_time({{app_id="{app}"}}[15m])))',
                        lambda r: r and r[0][1] >= 3)

    def last(selector):
        # A range selector skips the stale markers each JVM sends when its sink stops.
        return prometheus.query(f"last_over_time({selector}[15m])")

    total = prometheus.query(f'count(last_over_time({{app_id="{app}"}}[15m]))')
    print(f"\nApplication {app}: {int(total[0][1]) if total else 0} series arrived in Prometheus.")
    print("Series per JVM:")
    for labels, count in sorted(prometheus.query(f'count by (executor_id, role) (last_over_time({{app_id="{app}"}}[15m]))'),
                                key=lambda item: item[0]["executor_id"]):
        role = labels.get("role", "(node stats)")
        print(f"  executor_id={labels['executor_id']:<7} role={role:<14} {int(count)} series")
    print("A few values:")
    for title, promql in [
        ("tasks completed (driver)", f'spark_app_status_tasks_completed_tasks_total{{app_id="{app}"}}'),
        ("jobs run (driver)", f'spark_dag_scheduler_job_all_jobs{{app_id="{app}"}}'),
        ("tasks succeeded per executor", f'spark_executor_succeeded_tasks_total{{app_id="{app}", role="executor"}}'),
        ("task CPU seconds per executor", f'spark_executor_cpu_time_seconds_total{{app_id="{app}", role="executor"}}'),
        ("JVM resident memory (bytes)", f'process_resident_memory_bytes{{app_id="{app}"}}'),
    ]:
        for labels, value in last(promql):
            shown = f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"
            print(f"  {title:<30} executor_id={labels.get('executor_id', '?'):<7} {shown}")
    print(f"\nPrometheus UI: {prometheus.url}/graph?g0.expr={{app_id=%22{app}%22}}")
    print(f"Prometheus keeps running (pid {prometheus.process.pid}); stop it with: kill {prometheus.process.pid}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
