"""Fixtures for the end-to-end tests: the build's artifacts, one real Prometheus per session, and
Debian's node_exporter as the reference for node statistics."""
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.paths import JAR, NATIVE_LIB  # noqa: E402
from harness.prometheus import Prometheus, free_port  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def artifacts():
    missing = [str(p) for p in (JAR, NATIVE_LIB) if not p.exists()]
    if missing:
        pytest.fail(f"build first (cargo build --release): missing {missing}")


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    server = Prometheus(data_dir=tmp_path_factory.mktemp("prometheus")).start()
    yield server
    server.stop()


# Debian patches some of node_exporter's defaults; sparkprom follows upstream's, so the
# reference runs with upstream's values of the flags Debian changed.
UPSTREAM_DEFAULTS = [
    "--collector.filesystem.mount-points-exclude="
    "^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)",
    "--collector.netdev.device-exclude=^$",
]


@pytest.fixture(scope="session")
def node_exporter():
    port = free_port()
    process = subprocess.Popen(
        ["prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{port}", *UPSTREAM_DEFAULTS],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/metrics"
    for _ in range(100):
        try:
            urllib.request.urlopen(url, timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    process.terminate()
    process.wait()
