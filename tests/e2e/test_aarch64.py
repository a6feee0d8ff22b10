"""Graviton (aarch64), emulated: a real arm64 JVM (Debian's openjdk-17-jre-headless:arm64 under
qemu-user) given only the release jar loads the jar's linux-aarch64 library through the normal
loader and pushes an executor-shaped registry and node statistics read from /proc into the real
Prometheus. (The core's Rust tests run under qemu too: tests/run.sh.)"""
import os
import shutil
import subprocess
import uuid

import pytest

from harness.jvm import compile_check
from harness.paths import DIST_JAR, oldest_spark_jars
from test_end_to_end import last

QEMU = "qemu-aarch64-static"
ARM64_JAVA = "/usr/lib/jvm/java-17-openjdk-arm64/bin/java"


@pytest.fixture(scope="module")
def arm64_java():
    missing = [tool for tool in (QEMU, ARM64_JAVA) if not shutil.which(tool)]
    assert not missing, f"missing {missing}: run tests/setup.sh (it installs the aarch64 emulator and JRE)"
    return [QEMU, ARM64_JAVA]


def test_an_arm64_jvm_loads_the_jars_aarch64_library_and_pushes(prometheus, tmp_path, arm64_java):
    # The sink's own classes come from the release jar alone; Spark's for the Sink interface.
    classpath = compile_check("ArchCheck", tmp_path, f"{DIST_JAR}:{oldest_spark_jars()}/*")
    extract_dir = tmp_path / "extract"
    extract_dir.mkdir()
    app = f"app-{uuid.uuid4().hex[:12]}"
    command = [*arm64_java, "-Xshare:off", "-XX:TieredStopAtLevel=1", "-Dorg.apache.logging.log4j.level=INFO",
               f"-Djava.io.tmpdir={extract_dir}", f"-Djava.library.path={tmp_path / 'none'}",
               "-cp", classpath, "io.sparkprom.ArchCheck", prometheus.write_url, f"{app}.4.", "12",
               "--executor-id", "4", "--app-id", app]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "arch: done on aarch64" in output, output[-4000:]
    assert "native library loaded from the jar (io/sparkprom/native/linux-aarch64/libsparkprom.so)" in output, \
        output[-4000:]
    assert list(extract_dir.iterdir()) == []

    selector = f'app_id="{app}", executor_id="4"'
    succeeded = last(prometheus, f'spark_executor_succeeded_tasks_total{{{selector}, role="executor"}}', bool)
    assert [value for _, value in succeeded] == [7], succeeded
    cpu = last(prometheus, f'spark_jvmcpu_jvm_cpu_time_seconds_total{{{selector}}}', bool)
    assert [value for _, value in cpu] == [2.0], cpu
    # Node statistics read by the aarch64 core from the host's /proc (qemu-user passes it through).
    for family, accept in [
        ("node_cpu_seconds_total", lambda r: len({l["cpu"] for l, _ in r}) == os.cpu_count()),
        ("node_memory_MemTotal_bytes", lambda r: r and r[0][1] > 0),
        ("node_load1", bool),
        ("node_network_receive_bytes_total", bool),
        ("process_resident_memory_bytes", lambda r: r and r[0][1] > 0),
    ]:
        result = last(prometheus, f'{family}{{{selector}}}', accept)
        assert accept(result), (family, result)
    assert prometheus.rejected_samples_log() == []
