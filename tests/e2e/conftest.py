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


def pytest_configure(config):
    config.addinivalue_line("markers", "receiver_refusals_expected(why): this test makes the receiver refuse "
                            "writes on purpose (the oracle does not fail it for that)")
    config.addinivalue_line("markers", "counter_resets_expected(why): this test makes a counter go down on "
                            "purpose (the oracle does not fail it for that)")


@pytest.fixture(autouse=True)
def the_receiver_is_the_oracle(request):
    """After every test, each real Prometheus of the session says what went wrong since the last
    look: a refused write, or a counter of ours that went down anywhere in what it kept. Reading
    last values proves little; the whole history is checked. A test that means to provoke either
    says so with its marker."""
    began = time.time()
    yield
    problems = []
    for server in list(Prometheus.started):
        if server.process is None:  # stopped: what it said before it stopped, once
            Prometheus.started.remove(server)
            found = server.final_problems
        elif "prometheus" in request.fixturenames or server.started_at >= began:
            found = server.problems()
        else:
            continue  # this test did not push to it
        problems += [f"{server.url}: {p}" for p in found]
    allowed = [m.name for m in request.node.iter_markers()
               if m.name in ("receiver_refusals_expected", "counter_resets_expected")]
    if "receiver_refusals_expected" in allowed:
        problems = [p for p in problems if "refused writes" not in p]
    if "counter_resets_expected" in allowed:
        problems = [p for p in problems if "went down" not in p]
    if problems:
        pytest.fail("the receiver's oracle:\n" + "\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory):
    server = Prometheus(data_dir=tmp_path_factory.mktemp("prometheus")).start()
    yield server
    server.stop()
    assert not server.final_problems, f"the receiver's oracle at the end of the session: {server.final_problems}"


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
