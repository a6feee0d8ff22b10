"""What the sink costs its JVM in resident memory, the way a user sees it: two JVMs with the Java
heap pinned (-Xms256m -Xmx256m -XX:+AlwaysPreTouch) read the same Spark-shaped registry every
20 ms, one through the sink's report() into a receiver, one with a bare read of the same values
(tests/bench/jvm/io/sparkprom/MemoryBench.java). RSS is read from /proc at three points: before
the sink exists, right after it is created, and after the run; the sink JVM's resident memory is
also split by mapping (the library's own, thread stacks, malloc arenas, the rest).

    python3 tests/bench/memory.py [--metrics 1000] [--seconds 90] [--runs 3]
"""
import argparse
import http.server
import os
import re
import statistics
import subprocess
import sys
import threading
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "e2e"))
from harness.paths import JAR, NATIVE_LIB, REPO, oldest_spark_jars  # noqa: E402

HEAP = ["-Xms256m", "-Xmx256m", "-XX:+AlwaysPreTouch"]


class Accepting(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def receiver():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Accepting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_address[1]}/api/v1/write"


def compile_harness(name):
    """Compiles tests/bench/jvm against the sink's jar and Spark's jars into target/<name>; gives
    the class path that runs it."""
    out = REPO / "target" / name
    out.mkdir(parents=True, exist_ok=True)
    jars = f"{oldest_spark_jars()}/*"
    sources = [str(p) for p in (REPO / "tests/bench/jvm/io/sparkprom").glob("*.java")]
    subprocess.run(["javac", "-nowarn", "-d", str(out), "-cp", f"{JAR}:{jars}", *sources], check=True)
    return f"{out}:{JAR}:{jars}"


def rss_kib(pid):
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmRSS:\s+(\d+)", status).group(1))


def mappings(pid):
    """(start, end, perms, path, rss KiB) per mapping of /proc/<pid>/smaps."""
    out, current = [], None
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \S+\s*(.*)$", line)
        if head:
            current = [int(head.group(1), 16), int(head.group(2), 16), head.group(3), head.group(4), 0]
            out.append(current)
        elif line.startswith("Rss:") and current is not None:
            current[4] = int(line.split()[1])
    return out


def native_threads(pid):
    """Names of the process' threads that sparkprom started."""
    names = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        name = (task / "comm").read_text().strip()
        if name.startswith("sparkprom"):
            names.append(name)
    return sorted(names)


def breakdown(pid):
    """Resident KiB by what holds it. glibc arenas are 64 MiB-aligned reservations (HEAP_MAX on
    64-bit) mapped rw in part; the JIT's code cache is the one rwx mapping."""
    parts = {"libsparkprom.so (file, shared)": 0, "malloc: main arena (brk)": 0,
             "malloc: thread arenas": 0, "JIT code cache": 0, "other anonymous (mmap, stacks)": 0,
             "other files": 0}
    arena = 64 << 20
    for start, end, perms, path, rss in mappings(pid):
        if "libsparkprom" in path:
            key = "libsparkprom.so (file, shared)"
        elif path == "[heap]":
            key = "malloc: main arena (brk)"
        elif path.startswith("/") or path.startswith("["):
            key = "other files"
        elif perms.startswith("rwx"):
            key = "JIT code cache"
        elif start % arena == 0 and end - start <= arena:
            key = "malloc: thread arenas"
        else:
            key = "other anonymous (mmap, stacks)"
        parts[key] += rss
    return parts


def run(mode, classpath, url, metrics, seconds, library=NATIVE_LIB):
    command = ["java", *HEAP, "-cp", classpath, "io.sparkprom.MemoryBench", mode, str(library), url,
               str(metrics), str(seconds)]
    java = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    figures = {}
    for point in ("ready", "created", "done"):
        line = java.stdout.readline().strip()
        assert line == point, (mode, line)
        figures[point] = rss_kib(java.pid)
        figures[point + " parts"] = breakdown(java.pid)
        if point == "done":
            figures["threads"] = native_threads(java.pid)
        java.stdin.write("\n")
        java.stdin.flush()
    java.wait(timeout=60)
    return figures


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--metrics", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=90)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--compare", type=Path, help="another build's directory (sparkprom.jar, libsparkprom.so)")
    args = parser.parse_args()
    classpath = compile_harness("bench-memory")
    url = receiver()
    # Alternating runs, medians: a JVM's own malloc arenas (the JIT's) move its RSS by a few
    # MiB from one run to the next, as much as what is measured here.
    sides = {"bare": ("bare", classpath, NATIVE_LIB), "sink": ("sink", classpath, NATIVE_LIB)}
    if args.compare:
        sides["compared"] = ("sink", classpath.replace(str(JAR), str(args.compare / "sparkprom.jar")),
                             args.compare / "libsparkprom.so")
    runs = {side: [] for side in sides}
    for _ in range(args.runs):
        for side, (mode, cp, library) in sides.items():
            runs[side].append(run(mode, cp, url, args.metrics, args.seconds, library))
    median = lambda mode, key: statistics.median(r[key] for r in runs[mode])  # noqa: E731
    part = lambda mode, point, name: statistics.median(r[point + " parts"][name] for r in runs[mode])  # noqa: E731
    mib = lambda kib: f"{kib / 1024:7.1f} MiB"  # noqa: E731
    print(f"{args.metrics} metrics every 20 ms for {args.seconds} s, heap pinned ({' '.join(HEAP)}), "
          f"median of {args.runs} runs each")
    compared = "compared" in runs
    print(f"{'':28}{'bare read':>12}{'sink':>12}{'sink adds':>12}" + (f"{'compared':>12}{'it adds':>12}" if compared else ""))
    for point, label in (("ready", "before the sink"), ("created", "sink created"), ("done", "after the run")):
        bare, sink = median("bare", point), median("sink", point)
        line = f"{label:28}{mib(bare):>12}{mib(sink):>12}{mib(sink - bare):>12}"
        if compared:
            other = median("compared", point)
            line += f"{mib(other):>12}{mib(other - bare):>12}"
        print(line)
    growth = {side: statistics.median(r["done"] - r["ready"] for r in runs[side]) for side in runs}
    line = f"{'growth in the same JVM':28}{mib(growth['bare']):>12}{mib(growth['sink']):>12}{mib(growth['sink'] - growth['bare']):>12}"
    if compared:
        line += f"{mib(growth['compared']):>12}{mib(growth['compared'] - growth['bare']):>12}"
    print(line)
    if compared:
        print(f"(compared: the sink built at {args.compare})")
    print("what the sink adds after the run, by mapping (medians):")
    for name in runs["sink"][0]["done parts"]:
        print(f"  {name:34}{mib(part('sink', 'done', name) - part('bare', 'done', name)):>12}")
    threads = runs["sink"][0]["threads"]
    print(f"  sparkprom threads: {len(threads)} ({', '.join(threads)})")


if __name__ == "__main__":
    main()
