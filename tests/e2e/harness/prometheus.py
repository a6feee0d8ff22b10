"""Real receivers on 127.0.0.1 with Prometheus' HTTP query API (Receiver: starting, querying and
the oracle's questions), and Prometheus itself: Debian's 2.42 (remote write 1.0) or 3.5 (1.0 and
2.0, native histograms; tests/setup.sh puts it in the cache)."""
import json
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

from .paths import RECEIVERS


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Counter-like series by name: counters (`_total`), and histograms' and summaries' `_count`,
# `_bucket` and `_sum` (every such series sparkprom sends only goes up for its JVM's life).
COUNTER_NAMES = ".+_(total|count|bucket|sum)"


class Receiver:
    """A receiver process with Prometheus' query API; each kind says how it starts
    (`_launch`) and how it tells of writes it refused (`refusals`)."""
    # Every receiver started in this session and not yet checked to the end (the oracle's list).
    started = []
    name = "receiver"

    def __init__(self, port=None, data_dir=None):
        self.port = port or free_port()
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix=f"sparkprom-{self.name}-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / f"{self.name}.log"
        self.process = None
        self.started_at = None
        # The session fixture that made it, if one did: the oracle asks it after each test that uses it.
        self.fixture = None
        # What the oracle has already reported or accepted (`problems`).
        self._refusals_seen = {}
        self._resets_seen = set()
        self._log_lines_seen = 0
        self._last_look = None
        # Problems found when the server was stopped, for the oracle to report.
        self.final_problems = []

    def __str__(self):
        return f"{self.name} at {self.url}"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        """Where remote write 1.0 goes."""
        return f"{self.url}/api/v1/write"

    def _launch(self, command, ready_path, timeout=60, detach=False):
        """Runs `command` (its output into the log) and waits until `ready_path` answers 200."""
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=detach)
        self.started_at = time.time()
        Receiver.started.append(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}{ready_path}", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready")

    def stop(self):
        if self.process and self.process.poll() is None:
            try:
                self.final_problems = self.problems()
            except OSError as e:
                self.final_problems = [f"could not be checked before it stopped: {e}"]
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def _result(self, promql: str, at=None):
        """The `result` list of an instant query at `at` (now if None); a range selector gives
        each series with its raw samples."""
        params = {"query": promql}
        if at is not None:
            params["time"] = str(at)
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=30) as r:
            body = json.load(r)
        if body.get("status") != "success":
            raise RuntimeError(f"query {promql!r} failed: {body}")
        return body["data"]["result"]

    def query(self, promql: str, at=None):
        """An instant query; returns [(labels, value)]."""
        return [(item["metric"], float(item["value"][1])) for item in self._result(promql, at)]

    def series_in(self, range_selector: str):
        """The label sets (with __name__) of every series a range selector such as `{a="b"}[10m]`
        holds, ended ones included."""
        return [item["metric"] for item in self._result(range_selector)]

    def raw_series(self, range_selector: str, at=None):
        """Each series of a range selector with its raw samples: [(labels, [(unix time, value)])]."""
        return [(item["metric"], [(float(t), float(v)) for t, v in item["values"]])
                for item in self._result(range_selector, at)]

    def query_range_samples(self, range_selector: str):
        """The raw samples of a range selector such as `x{a="b"}[10m]`, all series together:
        [(unix time, value)]."""
        return [sample for _, samples in self.raw_series(range_selector) for sample in samples]

    def wait_for(self, promql: str, accept, timeout=30.0):
        """Polls a query until `accept(result)` is true; returns the last result either way."""
        deadline = time.time() + timeout
        while True:
            result = self.query(promql)
            if accept(result) or time.time() > deadline:
                return result
            time.sleep(1)

    def counter_resets(self, window_seconds):
        """Each counter-like series (COUNTER_NAMES) that went down within the last window_seconds,
        with how often: [(labels with __name__, resets)]. resets() drops the metric's name, and two
        counters with the same other labels would then collide, so it runs per name, the name put
        back as `counter`, all names in one query."""
        params = urllib.parse.urlencode({"match[]": f'{{__name__=~"{COUNTER_NAMES}"}}',
                                         "start": str(time.time() - window_seconds)})
        with urllib.request.urlopen(f"{self.url}/api/v1/label/__name__/values?{params}", timeout=30) as r:
            names = json.load(r)["data"]
        # A gauge may end in _count too (how many direct buffers exist now): a _count is a
        # histogram's or summary's only beside its _sum.
        names = [n for n in names if not n.endswith("_count") or n[:-len("_count")] + "_sum" in names]
        if not names:
            return []
        parts = [f'label_replace(resets({name}[{window_seconds}s]) > 0, "counter", "{name}", "", "")'
                 for name in names]
        body = urllib.parse.urlencode({"query": " or ".join(parts)}).encode()
        with urllib.request.urlopen(f"{self.url}/api/v1/query", data=body, timeout=60) as r:
            result = json.load(r)["data"]["result"]
        out = []
        for item in result:
            labels = dict(item["metric"])
            labels["__name__"] = labels.pop("counter")
            out.append((labels, float(item["value"][1])))
        return out

    def problems(self):
        """What the receiver says went wrong since the last call, as the oracle of every test that
        pushes to it: writes it refused (`refusals`: for Prometheus any answer but 2xx: out of
        order, duplicate samples, a label twice) with its log's reasons, and counter-like series of ours that went down
        (`resets()` over everything it kept; a dip to 0 and back reads as a reset and pages
        someone). Each problem is reported once."""
        found = self.refusals()
        # Since the last look, and 5 minutes before it: every two consecutive samples of a series
        # (a report period apart) fall in one window or the next.
        now = time.time()
        window = int(now - (self._last_look or self.started_at)) + 300
        self._last_look = now
        for labels, value in self.counter_resets(window):
            key = tuple(sorted(labels.items()))
            if key not in self._resets_seen:
                self._resets_seen.add(key)
                found.append(f"a counter went down {value:g} times: {labels}")
        return found

    def refusals(self):
        """The writes refused since the last call, as the oracle's problems (each says "refused
        writes", which the marker receiver_refusals_expected lets pass)."""
        raise NotImplementedError

    def _new_counts(self, counts):
        """The counts of `counts` ({key: total}) that grew since the last call, by how much."""
        grown = {key: n - self._refusals_seen.get(key, 0) for key, n in counts.items()
                 if n > self._refusals_seen.get(key, 0)}
        self._refusals_seen = counts
        return grown

    def _new_log_lines(self):
        """rejected_samples_log's lines since the last call, the last five."""
        lines = self.rejected_samples_log()
        new, self._log_lines_seen = lines[self._log_lines_seen:], len(lines)
        return new[-5:]

    def rejected_samples_log(self):
        raise NotImplementedError


# Where each Prometheus is: Debian's package on PATH, or taken from Debian by tests/setup.sh.
PROMETHEUS_BINARIES = {"2.42": "prometheus", "3.5": str(RECEIVERS / "prometheus-3.5" / "prometheus")}
# 3.5's receiver: both remote-write messages, native histograms, and a counter's start time (2.0's
# created timestamp) turned into a 0 sample as Prometheus does for scraped counters.
PROMETHEUS_3_FLAGS = [
    "--web.remote-write-receiver.accepted-protobuf-messages=prometheus.WriteRequest",
    "--web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request",
    "--enable-feature=native-histograms,created-timestamp-zero-ingestion",
]


class Prometheus(Receiver):
    """A real Prometheus with its remote-write receiver on: `version` 2.42 (Debian's package, remote
    write 1.0) or 3.5 (1.0 and 2.0)."""
    name = "prometheus"

    def __init__(self, port=None, data_dir=None, version="2.42"):
        super().__init__(port, data_dir)
        self.version = version
        self.binary = PROMETHEUS_BINARIES[version]

    def __str__(self):
        return f"prometheus {self.version} at {self.url}"

    def start(self, timeout=60, detach=False, scrape_configs="", flags=(), rule_files=(), evaluation_interval="15s"):
        """Starts the server and waits until it is ready. `detach` lets it outlive this process
        (the quickstart leaves it running for the user). `scrape_configs`: YAML of scrape jobs
        (the benchmark's PrometheusServlet side); without it everything arrives by remote write.
        `rule_files` (paths) are evaluated every `evaluation_interval`: alerts go to `ALERTS`."""
        config = self.dir / "prometheus.yml"
        rules = "".join(f"\n  - {path}" for path in rule_files)
        config.write_text(f"global:\n  scrape_interval: 15s\n  evaluation_interval: {evaluation_interval}\n"
                          + (f"rule_files:{rules}\n" if rules else "") + scrape_configs)
        if self.version != "2.42" and not Path(self.binary).exists():
            raise RuntimeError(f"Prometheus {self.version} is not at {self.binary}: run tests/setup.sh")
        return self._launch([
            self.binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--web.enable-remote-write-receiver",
            *(PROMETHEUS_3_FLAGS if self.version != "2.42" else []),
            *flags,
        ], "/-/ready", timeout, detach)

    def write_answers(self):
        """{status code: count} of the answers its remote-write handler gave, from its own /metrics."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as r:
            text = r.read().decode()
        answers = {}
        for line in text.splitlines():
            if line.startswith("prometheus_http_requests_total{") and 'handler="/api/v1/write"' in line:
                code = line.split('code="', 1)[1].split('"', 1)[0]
                answers[code] = answers.get(code, 0) + float(line.rsplit(" ", 1)[1])
        return answers

    def refusals(self):
        """Answers of its remote-write handler other than 2xx, with its log's reasons."""
        refused = self._new_counts({code: n for code, n in self.write_answers().items() if not code.startswith("2")})
        if not refused:
            return []
        return [f"the receiver refused writes {refused}: " + " | ".join(self._new_log_lines())]

    def rejected_samples_log(self):
        """Lines where Prometheus' remote-write handler refused samples (2.42 logs `level=error`,
        3.x `level=ERROR`)."""
        if not self.log_path.exists():
            return []
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "write_handler" in line and "level=error" in line.lower()
        ]
