"""Fixtures for the end-to-end tests: the build's artifacts and one real Prometheus per session."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness.paths import JAR, NATIVE_LIB  # noqa: E402
from harness.prometheus import Prometheus  # noqa: E402


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
