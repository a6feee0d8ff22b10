"""The JNI boundary, driven from a real JVM: bad input and misuse become Java exceptions or
statuses, never a crash of the JVM, and the sink's public methods never throw."""
import os
import subprocess
from pathlib import Path

import pytest

from harness.jvm import compile_check
from harness.paths import JAR, NATIVE_LIB, REPO, oldest_spark_jars
from harness.prometheus import free_port


def test_errors_cross_jni_as_exceptions_and_the_jvm_survives(tmp_path):
    classpath = compile_check("BoundaryCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")
    # Nothing listens on the receiver's port: the sink must not care.
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    run = subprocess.run(["java", "-cp", classpath, "io.sparkprom.BoundaryCheck", str(NATIVE_LIB), url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "boundary: all checks passed" in run.stdout
    assert "FAILED" not in run.stdout
    # Logged by the first sink of the JVM, the one whose properties start logging.
    assert "ignoring unknown sink property 'maxSampelsPerSend'" in run.stderr, run.stderr


def test_the_java_sides_own_logic_passes_its_unit_checks(tmp_path):
    """Dotted-property recovery, period and duration parsing (the table the core's test reads too), the properties blob:
    tests/jvm/io/sparkprom/SinkPropertiesCheck.java, without Spark running or the native core."""
    classpath = compile_check("SinkPropertiesCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")
    run = subprocess.run(["java", "-cp", classpath, "io.sparkprom.SinkPropertiesCheck",
                          str(REPO / "tests" / "durations.tsv")],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "sink properties: all checks passed" in run.stdout


PIDS = Path("/sys/fs/cgroup/pids")


def test_a_sink_that_cannot_start_its_threads_is_off_and_fails_nothing(tmp_path):
    """A container at its pids.max: the sink's threads cannot start. Creating the sink and start()
    throw nothing (an exception there fails the SparkContext or kills the executor), with
    failOnConfigError too, which is for invalid properties only; one ERROR says the sink is off."""
    if not os.access(PIDS, os.W_OK):
        pytest.skip("needs a writable cgroup v1 pids hierarchy (this machine kind has one)")
    cgroup = PIDS / f"sparkprom-test-{os.getpid()}"
    cgroup.mkdir()
    try:
        classpath = compile_check("StartFailureCheck", tmp_path, f"{JAR}:{oldest_spark_jars()}/*")
        url = f"http://127.0.0.1:{free_port()}/api/v1/write"
        run = subprocess.run(["java", "-Xshare:off", "-cp", classpath, "io.sparkprom.StartFailureCheck",
                              str(NATIVE_LIB), url, str(cgroup)], capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout + run.stderr
        assert "start failure: all checks passed" in run.stdout
        # The sink's ERROR, for the native core (its HTTP client's or its own threads) and for its
        # schedule's thread; never as an invalid property, which failOnConfigError would fail.
        assert "could not start (java.lang.RuntimeException: sparkprom cannot" in run.stdout, run.stdout
        assert "invalid sink property" not in run.stdout, run.stdout
        assert "could not start its schedule (java.lang.OutOfMemoryError" in run.stdout
    finally:
        (PIDS / "cgroup.procs").write_text(str(os.getpid()))  # nothing of ours is left in it
        cgroup.rmdir()
