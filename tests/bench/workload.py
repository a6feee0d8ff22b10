"""What the sink costs a real workload, side by side with no monitoring and with what users run
instead, in one run: real Spark in local-cluster[2,1,1024] (a driver and two executor JVMs),
every configuration run in turn, the turns repeated, one table printed.

Workloads:
  tpch    the 22 TPC-H queries as Spark SQL over Parquet (data from the `tpchgen-cli` PyPI
          package, the queries from DuckDB's tpch extension package, both installed here under
          ~/.cache/sparkprom/bench-tools)
  tiny    one stage of --tasks near-empty tasks (100,000 by default): a per-task cost shows here
  start   a job of one task: what the sink adds to starting the three JVMs

Configurations:
  none      no metrics sink
  sparkprom the sink, pushing every 5 s into a real Prometheus (through a proxy that counts bytes),
            with the driver's listener (jobs, stages, tasks) on, as by default
  nolistener the same with listener.enabled=false: sparkprom against it is the listener's cost
  servlet   Spark's PrometheusServlet, driver and executors (spark.ui.prometheus.enabled), scraped
            every 5 s by a real Prometheus (the setup sparkprom replaces)

Figures: query time and application wall time (median and spread over the repeats), CPU seconds of
the driver and the executors (the whole process tree, from rusage; executors from /proc), CPU added
per task against `none` (and the listener's: sparkprom against nolistener, and its bus-queue
thread's own CPU time as the sink reports it, per task and per event, with the events its queue
dropped), start-up CPU added per JVM, peak executor RSS, bytes sent per minute per
JVM (sparkprom: what crossed the proxy; servlet: Prometheus' scrape_body_size_bytes), and GC pauses
(p99 and max, from -Xlog:gc of every JVM). Then each configuration paired with the `none` run of
its round, and the sink's own threads' CPU (sparkprom-* and reqwest's threads from /proc, the
listener's as it reports it) as a share of the application's. report() stalls on the reporting thread are measured
by tests/bench/run-jvm.sh (the JVM harness), not here.

    python3 tests/bench/workload.py [--scale 0.1] [--tasks 100000] [--repeats 3] [--warmups 1] [--passes 2]
        [--workloads tpch,tiny,start] [--configs none,sparkprom,nolistener,servlet] [--spark 4.3.0]
"""
import argparse
import json
import os
import re
import resource
import socket
import socketserver
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness.paths import CACHE, JAR, newest_version, spark_install  # noqa: E402
from harness.prometheus import Prometheus, free_port  # noqa: E402
from harness.relay import pump  # noqa: E402
from harness.spark import sink_conf  # noqa: E402

JOBS = Path(__file__).resolve().parent / "jobs"
TOOLS = CACHE / "bench-tools"
TOOL_PACKAGES = ["tpchgen-cli==4.0.0", "duckdb==1.5.5", "duckdb-extension-tpch==1.5.5"]


def tools():
    if not (TOOLS / "bin" / "tpchgen-cli").exists() or not (TOOLS / "duckdb_extension_tpch").exists():
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--target", str(TOOLS), *TOOL_PACKAGES], check=True)
    return TOOLS


def tpch_data(scale):
    """Parquet tables at `scale` and the 22 queries, made once."""
    data = CACHE / f"tpch-sf{scale}"
    queries = data / "queries.json"
    if not queries.exists():
        tools()
        subprocess.run([str(TOOLS / "bin" / "tpchgen-cli"), "parquet", "-s", str(scale), f"--output-dir={data}"],
                       check=True)
        script = (
            "import duckdb, glob, json, sys\n"
            "ext = glob.glob(sys.argv[1] + '/duckdb_extension_tpch/extensions/**/*.duckdb_extension', recursive=True)[0]\n"
            "con = duckdb.connect(config={'allow_unsigned_extensions': 'true'})\n"
            "con.execute(f\"LOAD '{ext}'\")\n"
            "rows = con.execute('select query_nr, query from tpch_queries() order by query_nr').fetchall()\n"
            "json.dump([q for _, q in rows], open(sys.argv[2], 'w'))\n"
        )
        subprocess.run([sys.executable, "-c", script, str(TOOLS), str(queries)], check=True,
                       env=dict(os.environ, PYTHONPATH=str(TOOLS)))
    return data, queries


class ByteCounter(socketserver.ThreadingTCPServer):
    """A TCP proxy to Prometheus that counts the bytes the sinks send."""
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.bytes = 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), ByteCounter.Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            upstream = socket.create_connection(("127.0.0.1", self.server.upstream_port))
            threading.Thread(target=self.pipe, args=(upstream, self.request, False), daemon=True).start()
            self.pipe(self.request, upstream, True)

        def pipe(self, source, target, counted):
            pump(source, target, self.server.count if counted else None)

    def count(self, size):
        with self.lock:
            self.bytes += size

    def take(self):
        with self.lock:
            taken, self.bytes = self.bytes, 0
        return taken


def jvms():
    """{pid: role} of the Spark JVMs running now: the driver (SparkSubmit) and the executors."""
    found = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        if b"CoarseGrainedExecutorBackend" in cmdline:
            found[int(proc.name)] = "executor"
        elif b"org.apache.spark.deploy.SparkSubmit" in cmdline:
            found[int(proc.name)] = "driver"
    return found


def stat_fields(path):
    """The fields of a /proc stat file after the command name."""
    stat = Path(path).read_text()
    return stat[stat.rindex(")") + 2:].split()


def cpu_seconds(fields):
    """User plus system CPU seconds of a process' or thread's stat fields."""
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_and_rss(pid):
    """(CPU seconds, RSS KiB) of a process from /proc."""
    fields = stat_fields(f"/proc/{pid}/stat")
    cpu = cpu_seconds(fields)
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") // 1024
    return cpu, rss


def sink_threads_cpu(pid):
    """{tid: CPU seconds} of a JVM's sink threads: the reporter (Java) and the core's (Rust), all
    named sparkprom-*, and reqwest's runtime thread, which carries the core's HTTP requests
    (nothing else in a Spark JVM uses reqwest). The listener's bus-queue thread is Spark's: the
    sink reports its CPU."""
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if not (task / "comm").read_text().startswith(("sparkprom-", "reqwest-interna")):
                continue
            found[int(task.name)] = cpu_seconds(stat_fields(task / "stat"))
        except (OSError, ValueError):
            continue  # the thread ended
    return found


def conf_for(config, prometheus, counter, ui_port, gc_dir):
    gc = f"-Xlog:gc:file={gc_dir}/gc-%p.log"
    conf = {"spark.ui.port": str(ui_port), "spark.driver.extraJavaOptions": gc,
            "spark.executor.extraJavaOptions": gc, "spark.ui.showConsoleProgress": "false"}
    if config in ("sparkprom", "nolistener"):
        conf.update(sink_conf(f"http://127.0.0.1:{counter.server_address[1]}/api/v1/write", period_seconds=5))
        conf["spark.metrics.conf.*.sink.prom.listener.enabled"] = str(config == "sparkprom").lower()
        # The release jar alone, as users deploy it.
        for key in ("spark.driver.extraLibraryPath", "spark.executor.extraLibraryPath"):
            conf.pop(key)
        release_jar = JAR.parents[1] / "dist" / "sparkprom.jar"
        conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = str(
            release_jar if release_jar.exists() else JAR)
        if not release_jar.exists():
            conf["spark.driver.extraLibraryPath"] = conf["spark.executor.extraLibraryPath"] = str(JAR.parent)
    elif config == "servlet":
        prefix = "spark.metrics.conf.*.sink.prometheusServlet"
        conf.update({f"{prefix}.class": "org.apache.spark.metrics.sink.PrometheusServlet",
                     f"{prefix}.path": "/metrics/prometheus", "spark.ui.prometheus.enabled": "true"})
    return conf


def run_once(install, workload, config, args, prometheus, counter, data):
    ui_port = free_port()
    gc_dir = Path(f"/tmp/sparkprom-bench-gc-{os.getpid()}-{time.time_ns()}")
    gc_dir.mkdir()
    conf = conf_for(config, prometheus, counter, ui_port, gc_dir)
    if workload == "tpch":
        app, app_args, tasks = JOBS / "tpch_job.py", [data[0], data[1], args.warmups, args.passes], None
    elif workload == "tiny":
        app, app_args, tasks = JOBS / "tiny_tasks_job.py", [args.tasks], args.tasks
    else:
        app, app_args, tasks = JOBS / "tiny_tasks_job.py", [1], 1
    command = [str(install.submit), "--master", "local-cluster[2,1,1024]"]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command += [str(app), *map(str, app_args)]
    env = dict(os.environ, SPARK_HOME=str(install.home), PYTHONPATH=str(install.root), PYSPARK_PYTHON="python3",
               SPARK_LOCAL_IP="127.0.0.1")
    env.pop("SPARK_CONF_DIR", None)
    if config == "servlet":
        prometheus.set_scrape_target(ui_port)
    counter.take()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Spark's log goes to its own file: interleaved with the job's lines it would split them.
    log = open(gc_dir / "spark.log", "w")
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    executors = {}  # pid -> (cpu, peak rss)
    # (pid, tid) -> CPU seconds of the sink's threads, last seen: a thread that ends between two
    # looks (the final flush's) is counted up to the last look.
    sink_threads = {}
    output = []
    reader = threading.Thread(target=lambda: output.extend(process.stdout), daemon=True)
    reader.start()
    while process.poll() is None:
        for pid, role in jvms().items():
            try:
                if config in ("sparkprom", "nolistener"):
                    sink_threads.update({(pid, tid): cpu for tid, cpu in sink_threads_cpu(pid).items()})
                if role == "executor":
                    cpu, rss = cpu_and_rss(pid)
                    executors[pid] = (cpu, max(rss, executors.get(pid, (0, 0))[1]))
            except (OSError, ValueError, IndexError):
                continue  # the JVM ended
        time.sleep(0.25)
    reader.join()
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    text = "".join(output)
    log.close()
    if process.returncode != 0:
        raise RuntimeError(f"{workload}/{config} failed:\n{text[-2000:]}\n{(gc_dir / 'spark.log').read_text()[-3000:]}")
    (gc_dir / "spark.log").unlink()
    total_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    executor_cpu = sum(cpu for cpu, _ in executors.values())
    pauses = []
    for log in gc_dir.glob("gc-*.log"):
        pauses += [float(ms) for ms in re.findall(r"Pause.* (\d+\.\d+)ms", log.read_text())]
        log.unlink()
    gc_dir.rmdir()
    sent = counter.take() if config in ("sparkprom", "nolistener") else \
        prometheus.scraped_bytes() if config == "servlet" else 0
    listener = listener_figures(prometheus, text) if config == "sparkprom" else {}
    sink_cpu = sum(sink_threads.values()) + listener.get("listener_cpu", 0.0)
    query_time = float(re.search(r"^TOTAL (\S+)", text, re.M).group(1)) if workload == "tpch" else \
        float(re.search(r"^SECONDS (\S+)", text, re.M).group(1))
    return {
        "wall": wall, "query": query_time, "cpu": total_cpu, "executor_cpu": executor_cpu,
        "driver_cpu": total_cpu - executor_cpu, "tasks": tasks, "sink_cpu": sink_cpu,
        "rss_mib": max((rss for _, rss in executors.values()), default=0) / 1024,
        "bytes_per_min_per_jvm": sent / (wall / 60) / 3,
        "gc_p99_ms": percentile(pauses, 0.99), "gc_max_ms": max(pauses, default=0.0),
        **listener,
    }


def listener_figures(prometheus, output):
    """What the sink's listener reported of this run: the events Spark dropped from its bus queue,
    the events it handled and its queue thread's CPU time (pushed, read back from Prometheus)."""
    app_id = re.search(r"^APP_ID=(\S+)", output, re.M).group(1)
    time.sleep(1)
    figures = {}
    for key, selector in (("listener_dropped", 'spark_live_listener_bus_queue_num_dropped_events_total{queue="sparkprom",'),
                          ("listener_events", "sparkprom_listener_events_total{"),
                          ("listener_cpu", "sparkprom_listener_cpu_seconds_total{")):
        rows = prometheus.query(f'max(last_over_time({selector}app_id="{app_id}"}}[30m]))')
        if not rows:
            raise RuntimeError(f"no {selector} series arrived for {app_id}")
        figures[key] = rows[0][1]
    return figures


def percentile(values, q):
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class ScrapingPrometheus(Prometheus):
    """A real Prometheus scraping the driver's PrometheusServlet (driver and executors) every 5 s."""

    def start_scraping(self):
        self.start(flags=["--enable-feature=extra-scrape-metrics"], scrape_configs=self.scrape_yaml(1))
        return self

    def scrape_yaml(self, ui_port):
        return (
            "scrape_configs:\n"
            "  - job_name: spark-driver\n    scrape_interval: 5s\n    metrics_path: /metrics/prometheus\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{ui_port}']}}]\n"
            "  - job_name: spark-executors\n    scrape_interval: 5s\n    metrics_path: /metrics/executors/prometheus\n"
            f"    static_configs: [{{targets: ['127.0.0.1:{ui_port}']}}]\n"
        )

    def set_scrape_target(self, ui_port):
        """Points the scrape jobs at this run's driver UI and reloads the configuration (SIGHUP)."""
        (self.dir / "prometheus.yml").write_text("global:\n  scrape_interval: 15s\n" + self.scrape_yaml(ui_port))
        self.process.send_signal(1)
        time.sleep(1)
        self.scrape_started = time.time()

    def scraped_bytes(self):
        """Bytes of the scrapes since set_scrape_target: the sum of scrape_body_size_bytes samples."""
        window = max(1, int(time.time() - self.scrape_started) + 5)
        result = self.query(f"sum(sum_over_time(scrape_body_size_bytes[{window}s]))")
        return result[0][1] if result else 0.0


def print_paired(results, workloads, configs):
    """Each configuration against the `none` run of the same round (the rounds are interleaved,
    so a machine that slows down for a while slows both), and the sink's own threads' CPU (the
    reporter's and the core's, read from /proc during the run, and the listener's, as the sink
    reports it) as a share of the application's: a cost the wall-time comparison cannot resolve
    on a noisy machine is still seen where it is spent."""
    print("\nPaired by round: query time against the round's `none` run, median [lowest, highest]; "
          "the sink's threads' CPU, median, and its share of the application's CPU.")
    for workload in workloads:
        base = results.get((workload, "none"))
        for config in configs:
            if config == "none":
                continue
            runs = results[(workload, config)]
            line = f"{workload:8} {config:10}"
            if base:
                ratios = [(run["query"] / none["query"] - 1) * 100 for run, none in zip(runs, base)]
                line += (f" query {statistics.median(ratios):+6.2f}% [{min(ratios):+.2f}%, {max(ratios):+.2f}%],"
                         f" spread {max(ratios) - min(ratios):.2f} points")
            if config in ("sparkprom", "nolistener"):
                shares = [run["sink_cpu"] / run["cpu"] * 100 for run in runs]
                line += (f"; sink threads {summary(runs, 'sink_cpu')[0]:.2f} s CPU = {statistics.median(shares):.3f}%"
                         f" of the application's [{min(shares):.3f}%, {max(shares):.3f}%]")
                if runs[0]["tasks"] and workload == "tiny":
                    line += f", {summary(runs, 'sink_cpu')[0] / runs[0]['tasks'] * 1000:.4f} ms per task"
            print(line)


def summary(runs, key):
    values = [r[key] for r in runs]
    median = statistics.median(values)
    spread = (max(values) - min(values)) / median * 100 if median else 0.0
    return median, spread


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", default="0.1")
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmups", type=int, default=1, help="untimed TPC-H passes in each application first")
    parser.add_argument("--passes", type=int, default=2, help="timed TPC-H passes in each application")
    parser.add_argument("--workloads", default="tpch,tiny,start")
    parser.add_argument("--configs", default="none,sparkprom,nolistener,servlet")
    parser.add_argument("--spark", default=newest_version())
    args = parser.parse_args()
    install = spark_install(args.spark)
    workloads = args.workloads.split(",")
    configs = args.configs.split(",")
    data = tpch_data(args.scale) if "tpch" in workloads else None
    pushed = Prometheus().start()
    scraping = ScrapingPrometheus().start_scraping()
    counter = ByteCounter(pushed.port)
    results = {(w, c): [] for w in workloads for c in configs}
    try:
        for repeat in range(args.repeats):
            # Each turn starts with another configuration, so no one always runs first or last.
            order = configs[repeat % len(configs):] + configs[:repeat % len(configs)]
            for workload in workloads:
                for config in order:
                    prometheus = scraping if config == "servlet" else pushed
                    result = run_once(install, workload, config, args, prometheus, counter,
                                      [str(p) for p in data] if data else None)
                    results[(workload, config)].append(result)
                    print(f"# {workload:5} {config:9} run {repeat + 1}: query {result['query']:.2f}s, "
                          f"wall {result['wall']:.1f}s, cpu {result['cpu']:.1f}s", flush=True)
    finally:
        pushed.stop()
        scraping.stop()
    print_table(results, workloads, configs, args)


def print_table(results, workloads, configs, args):
    print(f"\nSpark {args.spark}, local-cluster[2,1,1024], {args.repeats} runs each, interleaved; "
          f"TPC-H scale {args.scale}, {args.warmups} untimed and {args.passes} timed passes per application; "
          f"tiny: {args.tasks} tasks. Median (spread = (max-min)/median).")
    header = (f"{'workload':8} {'config':10} {'query s':>8} {'spread':>7} {'vs none':>8} {'wall s':>7} {'CPU s':>7} "
              f"{'driver':>7} {'execs':>7} {'+CPU/task ms':>12} {'+CPU/JVM s':>10} {'exec RSS MiB':>12} "
              f"{'KB/min/JVM':>10} {'GC p99 ms':>9} {'GC max ms':>9}")
    print(header)
    for workload in workloads:
        base = results.get((workload, "none"))
        base_query = summary(base, "query")[0] if base else None
        base_cpu = summary(base, "cpu")[0] if base else None
        for config in configs:
            runs = results[(workload, config)]
            query, spread = summary(runs, "query")
            cpu = summary(runs, "cpu")[0]
            versus = f"{(query / base_query - 1) * 100:+.1f}%" if base_query else ""
            tasks = runs[0]["tasks"]
            per_task = f"{(cpu - base_cpu) / tasks * 1000:+.3f}" if base_cpu is not None and tasks and workload == "tiny" \
                else ""
            per_jvm = f"{(cpu - base_cpu) / 3:+.2f}" if base_cpu is not None and workload == "start" else ""
            print(f"{workload:8} {config:10} {query:8.2f} {spread:6.1f}% {versus:>8} "
                  f"{summary(runs, 'wall')[0]:7.1f} {cpu:7.1f} {summary(runs, 'driver_cpu')[0]:7.1f} "
                  f"{summary(runs, 'executor_cpu')[0]:7.1f} {per_task:>12} {per_jvm:>10} "
                  f"{summary(runs, 'rss_mib')[0]:12.0f} {summary(runs, 'bytes_per_min_per_jvm')[0] / 1024:10.1f} "
                  f"{summary(runs, 'gc_p99_ms')[0]:9.2f} {max(r['gc_max_ms'] for r in runs):9.2f}")
    if "sparkprom" in configs and "nolistener" in configs:
        for workload in workloads:
            on, off = results[(workload, "sparkprom")], results[(workload, "nolistener")]
            cpu = summary(on, "cpu")[0] - summary(off, "cpu")[0]
            driver = summary(on, "driver_cpu")[0] - summary(off, "driver_cpu")[0]
            query = (summary(on, "query")[0] / summary(off, "query")[0] - 1) * 100
            tasks = on[0]["tasks"]
            per_task = f", {cpu / tasks * 1000:+.4f} ms CPU per task" if tasks and workload == "tiny" else ""
            thread = summary(on, "listener_cpu")[0]
            events = summary(on, "listener_events")[0]
            own = f"{thread / tasks * 1000:.4f} ms per task, " if tasks and workload == "tiny" else ""
            print(f"listener, {workload}: against nolistener {cpu:+.2f} s CPU (driver {driver:+.2f} s){per_task}, "
                  f"query time {query:+.1f}%; its queue thread: {thread:.2f} s CPU ({own}"
                  f"{thread / events * 1e6:.1f} us per event, {events:.0f} events), "
                  f"events dropped from its queue: {max(r['listener_dropped'] for r in on):.0f}")
    print_paired(results, workloads, configs)
    print(json.dumps({f"{w}/{c}": v for (w, c), v in results.items()}), file=open("/tmp/sparkprom-workload.json", "w"))


if __name__ == "__main__":
    main()
