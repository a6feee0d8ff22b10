"""The container memory rules on a real JVM whose cgroup is a cgroup v2 fixture.

This machine has cgroup v1, which the sink does not read. A mount namespace (as a pod has its own)
puts a cgroup v2 directory of the test's at /sys/fs/cgroup: the real sink in a real Spark driver
reads it each node period as it reads a pod's, and the test writes what the kernel would. The
container is a 4g executor's with Spark's default overhead (4,505.6 MiB); its working set stays at
93% of it throughout (the heap fully committed, and some off-heap). For its first part the kernel
says nothing (no memory.events, no PSI stall); then it reclaims (memory.events `high` climbs, tasks
wait for memory half of the time) and OOM-kills one process.

Live, in the session's Prometheus: the OOM kill pages at once, and nothing about memory while the
kernel is quiet. The `for:` of 5 and 10 minutes are judged by promtool over the series the JVM sent,
replayed 30 times slower (the quiet part lasts over 10 minutes, the reclaiming part over 13)."""
import os
import threading
import time

from harness.alerts import raised
from harness.paths import JOBS, spark_install
from harness.replay import Placed, input_series, promtool_raised, record
from harness.spark import sink_conf
from conftest import LINES, timed_submit

MiB = 1 << 20
LIMIT = 4505 * MiB + 629146  # 4 GiB + max(384 MiB, 10%): Spark's default container for a 4g executor
WORKING_SET = int(0.93 * LIMIT)
INACTIVE_FILE = 64 * MiB
CONTAINER_RULES = {"SparkContainerMemoryNearLimit", "SparkContainerMemoryPressure", "SparkContainerOOMKilled"}


class Kernel:
    """Writes a cgroup v2 directory as the kernel keeps it for one container: quiet until `reclaim()`,
    then memory.high breaches at 20 a second, tasks waiting for memory half of the time, and one
    OOM kill 10 s in."""

    def __init__(self, folder):
        self.folder = folder
        self.reclaiming_since = None
        self.stop = threading.Event()
        folder.mkdir()
        for name, text in {"cgroup.controllers": "cpu io memory pids", "memory.max": str(LIMIT),
                           "memory.current": str(WORKING_SET + INACTIVE_FILE),
                           "memory.stat": f"anon {WORKING_SET - 200 * MiB}\nfile {400 * MiB}\ninactive_file {INACTIVE_FILE}",
                           "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\nnr_periods 0\nnr_throttled 0\n"
                                       "throttled_usec 0",
                           "io.stat": ""}.items():
            self.put(name, text + "\n")
        self.write(0.0)

    def put(self, name, text):
        """As the kernel's files change: at once (the sink never reads half a file, a counter cut short)."""
        (self.folder / f".{name}").write_text(text)
        os.replace(self.folder / f".{name}", self.folder / name)

    def write(self, reclaiming):
        high = int(20 * reclaiming)
        waited = int(0.5 * reclaiming * 1e6)
        oom = 1 if reclaiming >= 10 else 0
        self.put("memory.events", f"low 0\nhigh {high}\nmax {high // 10}\noom {oom}\noom_kill {oom}\n")
        self.put("memory.pressure", f"some avg10=0.00 avg60=0.00 avg300=0.00 total={waited}\n"
                                    f"full avg10=0.00 avg60=0.00 avg300=0.00 total={waited // 2}\n")

    def reclaim(self):
        self.reclaiming_since = time.time()

    def run(self):
        while not self.stop.wait(0.5):
            if self.reclaiming_since is not None:
                self.write(time.time() - self.reclaiming_since)


def test_memory_rules_wait_for_the_kernels_word_and_the_oom_kill_pages(prometheus, tmp_path):
    kernel = Kernel(tmp_path / "cgroup")
    writer = threading.Thread(target=kernel.run, daemon=True)
    writer.start()
    # The quiet part: 35 s from the launch (the JVM's sink reports from about 10 s on).
    timer = threading.Timer(35, kernel.reclaim)
    timer.start()
    pod = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
           f'mount --bind "{kernel.folder}" /sys/fs/cgroup && exec "$@"', "pod"]
    try:
        run = timed_submit(spark_install(LINES[-1]), JOBS / "count_job.py", ["60"], master="local[1]",
                           conf=sink_conf(prometheus.write_url, period_seconds=2), prefix=pod)
    finally:
        timer.cancel()
        kernel.stop.set()
    assert run.returncode == 0, run.output[-4000:]
    time.sleep(2)
    quiet_until = kernel.reclaiming_since
    assert quiet_until is not None
    app = f'app_id="{run.app_id}"'
    ratio = prometheus.query(f"container_memory_working_set_bytes{{{app}}} / container_spec_memory_limit_bytes{{{app}}}",
                             at=quiet_until - 1)
    assert ratio and 0.92 < ratio[0][1] < 0.94, ratio  # the sink read the fixture as a pod's cgroup

    # Live: nothing about memory while the kernel was quiet; the OOM kill pages once it came.
    quiet = raised(prometheus, run.app_id, run.started_at, quiet_until)
    assert not set(quiet) & CONTAINER_RULES, quiet
    everything = raised(prometheus, run.app_id, run.started_at, run.ended_at + 60, ended_at=run.ended_at)
    assert "SparkContainerOOMKilled" in everything, everything

    # 30 times slower: the quiet part lasts over 10 minutes, the reclaiming one over 13.
    rec = record(prometheus, app, run.started_at, run.ended_at + 5)
    placed = Placed(rec, at=0, stretch=30)
    first = min(s.samples[0][0] for s in rec.series if s.labels["__name__"] == "container_spec_memory_limit_bytes")
    last = max(s.samples[-1][0] for s in rec.series if s.labels["__name__"] == "container_spec_memory_limit_bytes")
    reclaim_at, end = placed.when(quiet_until), placed.when(last)
    assert reclaim_at - placed.when(first) > 10 * 60 and end - reclaim_at > 13 * 60, (first, reclaim_at, end)
    during_quiet, at_end = promtool_raised(
        tmp_path, "container", input_series([placed], 20, end), 20,
        [(f"{int(reclaim_at) - 1}s", f"{int(reclaim_at) - 1}s"), (f"{int(end)}s", f"{int(end)}s", "firing")])
    assert not {row[0] for row in during_quiet} & CONTAINER_RULES, during_quiet
    assert {row[0] for row in at_end} & CONTAINER_RULES == CONTAINER_RULES, at_end
