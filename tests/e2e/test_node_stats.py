"""sparkprom's node statistics against the reference: Debian's prometheus-node-exporter on
127.0.0.1, scraped just before and just after sparkprom collects. For the covered metrics the
series sets must be the same (names and labels), counters must lie between the two
node_exporter readings, and gauges within the tolerances stated below."""
import re
import subprocess
import urllib.request

import pytest

from harness.paths import JOBS, REPO, newest_version, spark_install
from harness.spark import sink_conf, submit
from test_end_to_end import last

EXAMPLE = REPO / "target" / "release" / "examples" / "node_stats"

COUNTERS = [
    "node_cpu_seconds_total",
    "node_context_switches_total",
    "node_disk_read_bytes_total",
    "node_disk_written_bytes_total",
    "node_disk_io_time_seconds_total",
    "node_disk_reads_completed_total",
    "node_disk_writes_completed_total",
    "node_network_receive_bytes_total",
    "node_network_transmit_bytes_total",
    "node_network_receive_packets_total",
    "node_network_transmit_packets_total",
    "node_network_receive_errs_total",
    "node_network_transmit_errs_total",
    "node_network_receive_drop_total",
    "node_network_transmit_drop_total",
    # Pressure stall information (/proc/pressure): node_exporter 1.5 has no irq family.
    "node_pressure_cpu_waiting_seconds_total",
    "node_pressure_memory_waiting_seconds_total",
    "node_pressure_memory_stalled_seconds_total",
    "node_pressure_io_waiting_seconds_total",
    "node_pressure_io_stalled_seconds_total",
]
# Gauges and the tolerance each is held to, beyond the range of the two node_exporter readings.
GAUGES = {
    "node_load1": 0.5,  # absolute: a load sample can change between the readings
    "node_load5": 0.2,
    "node_load15": 0.1,
    "node_boot_time_seconds": 1.0,
    "node_filesystem_size_bytes": 0.0,
    "node_filesystem_avail_bytes": 64 * 2**20,
    "node_memory_MemTotal_bytes": 0.0,
    "node_memory_MemAvailable_bytes": 64 * 2**20,
    "node_memory_MemFree_bytes": 64 * 2**20,
    "node_memory_Buffers_bytes": 16 * 2**20,
    "node_memory_Cached_bytes": 64 * 2**20,
    "node_memory_SwapTotal_bytes": 0.0,
    "node_memory_SwapFree_bytes": 16 * 2**20,
}
LINE = re.compile(r'^(\w+)(?:\{(.*)\})? (\S+)$')


def parse(text):
    """{(name, frozenset(labels)): value} of the covered families."""
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        if not m or (m.group(1) not in COUNTERS and m.group(1) not in GAUGES):
            continue
        labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return parse(r.read().decode())


def test_node_statistics_match_node_exporter(node_exporter):
    if not EXAMPLE.exists():
        pytest.fail("build the example first: cargo build --release --examples")
    before = scrape(node_exporter)
    ours = parse(subprocess.run([str(EXAMPLE)], capture_output=True, text=True, check=True).stdout)
    after = scrape(node_exporter)

    for family in COUNTERS + list(GAUGES):
        reference = {k for k in before if k[0] == family}
        mine = {k for k in ours if k[0] == family}
        assert mine == reference, f"{family}: only node_exporter {reference - mine}, only sparkprom {mine - reference}"
        assert mine, f"{family} is missing on this machine"

    for key, value in ours.items():
        low, high = sorted((before[key], after[key]))
        # Float noise of unit conversions (ms -> s) is not a difference.
        low, high = low - 1e-9 * abs(low), high + 1e-9 * abs(high)
        if key[0] in COUNTERS:
            assert low <= value <= high, f"{key}: {value} not within node_exporter's {low}..{high}"
        else:
            tolerance = GAUGES[key[0]]
            assert low - tolerance <= value <= high + tolerance, f"{key}: {value} vs {low}..{high} (+-{tolerance})"


def test_node_series_from_every_jvm_reach_prometheus_without_rejections(prometheus):
    version = newest_version()
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    run = submit(spark_install(version), JOBS / "count_job.py", ["6"], conf=conf)
    assert run.returncode == 0, run.output[-3000:]
    app = run.app_id
    per_jvm = last(prometheus, f'node_cpu_seconds_total{{app_id="{app}", mode="user"}}',
                   lambda r: len({l["executor_id"] for l, _ in r}) >= 3, around="count by (executor_id) ({})")
    assert {labels["executor_id"] for labels, _ in per_jvm} == {"driver", "0", "1"}, per_jvm
    for family in ["process_resident_memory_bytes", "node_memory_MemAvailable_bytes", "node_filesystem_avail_bytes",
                   "node_network_receive_bytes_total"]:
        assert last(prometheus, f'{family}{{app_id="{app}"}}', bool), family
    assert prometheus.rejected_samples_log() == []
    assert "refused" not in run.output
