"""A real Prometheus server (Debian's package) with its remote-write receiver on, on 127.0.0.1,
and its HTTP query API."""
import json
import socket
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Prometheus:
    def __init__(self, port=None, data_dir=None):
        self.port = port or free_port()
        self.dir = Path(data_dir or tempfile.mkdtemp(prefix="sparkprom-prometheus-"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.dir / "prometheus.log"
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def write_url(self) -> str:
        return f"{self.url}/api/v1/write"

    def start(self, timeout=60, detach=False, scrape_configs="", flags=()):
        """Starts the server and waits until it is ready. `detach` lets it outlive this process
        (the quickstart leaves it running for the user). `scrape_configs`: YAML of scrape jobs
        (the benchmark's PrometheusServlet side); without it everything arrives by remote write."""
        config = self.dir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 15s\n" + scrape_configs)
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--web.enable-remote-write-receiver",
                *flags,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=detach,
        )
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited: {self.log_path.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as r:
                    if r.status == 200:
                        return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("prometheus did not become ready")

    def stop(self):
        if self.process and self.process.poll() is None:
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

    def rejected_samples_log(self):
        """Lines where Prometheus' remote-write handler refused samples."""
        if not self.log_path.exists():
            return []
        return [
            line
            for line in self.log_path.read_text(errors="replace").splitlines()
            if "write_handler" in line and "level=error" in line
        ]
