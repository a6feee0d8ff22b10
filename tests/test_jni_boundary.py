"""The JNI boundary, driven from a real JVM: bad input and misuse become Java exceptions or
statuses, never a crash of the JVM, and the sink's public methods never throw."""
import subprocess

from harness.paths import JAR, NATIVE_LIB, REPO, oldest_spark_jars
from harness.prometheus import free_port


def test_errors_cross_jni_as_exceptions_and_the_jvm_survives(tmp_path):
    jars = oldest_spark_jars()
    classpath = f"{tmp_path}:{JAR}:{jars}/*"
    source = REPO / "tests" / "jvm" / "io" / "sparkprom" / "BoundaryCheck.java"
    subprocess.run(["javac", "-nowarn", "-d", str(tmp_path), "-cp", classpath, str(source)], check=True)
    # Nothing listens on the receiver's port: the sink must not care.
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    run = subprocess.run(["java", "-cp", classpath, "io.sparkprom.BoundaryCheck", str(NATIVE_LIB), url],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "boundary: all checks passed" in run.stdout
    assert "FAILED" not in run.stdout
