"""A real VictoriaMetrics (single node, Debian 13's 1.112, which tests/setup.sh puts in the cache)
on 127.0.0.1: remote write 1.0 at /api/v1/write, OTLP at /opentelemetry/v1/metrics, and
Prometheus' query API (MetricsQL) for the same helpers as harness/prometheus.py's."""
import math
import re
import urllib.request

from .paths import RECEIVERS
from .prometheus import Receiver

BINARY = RECEIVERS / "victoria-metrics-1.112" / "victoria-metrics"
# Its ingestion paths, as its /metrics names them.
WRITE_PATHS = ("/api/v1/write", "/opentelemetry/v1/metrics")
# Counters of rows it took in and did not keep, whatever the request was answered: a series with
# too many labels or too long a value, a timestamp outside its retention, an OTLP type it cannot
# store, a remote-write body it could not read.
DROPPED_ROWS = ("vm_rows_ignored_total", "vm_rows_invalid_total", "vm_protoparser_rows_dropped_total",
                "vm_protoparser_unmarshal_errors_total", "vm_metrics_with_dropped_labels_total",
                "vm_relabel_metrics_dropped_total")
METRIC_LINE = re.compile(r"^(\w+)(\{.*\})? (\S+)$")


class VictoriaMetrics(Receiver):
    name = "victoria-metrics"

    @property
    def otlp_url(self) -> str:
        return f"{self.url}/opentelemetry/v1/metrics"

    def start(self, timeout=60, flags=()):
        if not BINARY.exists():
            raise RuntimeError(f"VictoriaMetrics is not at {BINARY}: run tests/setup.sh")
        return self._launch([
            str(BINARY),
            f"-storageDataPath={self.dir / 'data'}",
            f"-httpListenAddr=127.0.0.1:{self.port}",
            # A sample is queryable as soon as it is in (by default the last 30 s are held back).
            "-search.latencyOffset=0s",
            # No response cache: each query reads what is stored now.
            "-search.disableCache",
            # The oracle asks for every counter's resets in one query (16 KiB by default).
            "-search.maxQueryLen=1MiB",
            *flags,
        ], "/health", timeout)

    def _result(self, promql, at=None):
        # What was just written is searchable only after its in-memory buffer is flushed (within a second).
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=30).close()
        return super()._result(promql, at)

    def raw_series(self, range_selector, at=None):
        """As Prometheus gives them: without the stale markers it keeps as NaN samples (a series
        that has nothing else is left out)."""
        kept = [(labels, [(t, v) for t, v in samples if not math.isnan(v)])
                for labels, samples in super().raw_series(range_selector, at)]
        return [(labels, samples) for labels, samples in kept if samples]

    def own_counters(self, names):
        """{"name{labels}": value} of its own /metrics lines of those counter names."""
        with urllib.request.urlopen(f"{self.url}/metrics", timeout=30) as r:
            text = r.read().decode()
        found = {}
        for line in text.splitlines():
            match = METRIC_LINE.match(line)
            if match and match.group(1) in names:
                found[match.group(1) + (match.group(2) or "")] = float(match.group(3))
        return found

    def write_answers(self):
        """{path: requests it answered with an error} of its ingestion paths."""
        errors = self.own_counters({"vm_http_request_errors_total"})
        return {path: sum(n for key, n in errors.items() if f'path="{path}"' in key) for path in WRITE_PATHS}

    def refusals(self):
        """Requests it answered with an error and rows it dropped (its own counters), with its log's
        warnings and errors (the reasons)."""
        counts = {f"errors answered on {path}": n for path, n in self.write_answers().items()}
        counts.update(self.own_counters(set(DROPPED_ROWS)))
        refused = self._new_counts(counts)
        if not refused:
            return []
        return [f"the receiver refused writes or dropped rows {refused}: " + " | ".join(self._new_log_lines())]

    def rejected_samples_log(self):
        """Its log's warnings and errors about writes (not queries: app/vmselect's): it names the
        request and why it refused or dropped it."""
        if not self.log_path.exists():
            return []
        return [line for line in self.log_path.read_text(errors="replace").splitlines()
                if ("\twarn\t" in line or "\terror\t" in line) and "/app/vmselect/" not in line]
