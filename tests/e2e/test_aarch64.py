"""Graviton (aarch64), emulated, and the x86_64 core beside it: a real arm64 JVM (Debian's
openjdk-17-jre-headless:arm64 under qemu-user) given the release jar, with the x86_64 library on
its java.library.path, loads the jar's linux-aarch64 library through the normal loader (the jar's
own core comes before any loose one; the INFO line names the one not used) and pushes an executor-shaped registry and node statistics read from
/proc into the real Prometheus; this machine's x86_64 JVM does the same with the aarch64 library
on its path. `--version` in the release folder, as release/build.sh leaves it, loads the core of
the JVM's own architecture. (The core's Rust tests run under qemu too: tests/run.sh.)"""
import os
import shutil
import subprocess
import uuid

import pytest

from harness.jvm import compile_check
from harness.paths import DIST_JAR, DIST_LIB, DIST_LIB_AARCH64, oldest_spark_jars
from test_end_to_end import last

QEMU = "qemu-aarch64-static"
ARM64_JAVA = "/usr/lib/jvm/java-17-openjdk-arm64/bin/java"
# For each JVM: the core it must load, and the other architecture's release library.
JVMS = {
    "aarch64": ("linux-aarch64", DIST_LIB),
    "x86_64": ("linux-x86_64", DIST_LIB_AARCH64),
}


def java_command(arch):
    if arch == "x86_64":
        return ["java"]
    missing = [tool for tool in (QEMU, ARM64_JAVA) if not shutil.which(tool)]
    assert not missing, f"missing {missing}: run tests/setup.sh (it installs the aarch64 emulator and JRE)"
    return [QEMU, ARM64_JAVA, "-Xshare:off", "-XX:TieredStopAtLevel=1"]


@pytest.mark.parametrize("arch", JVMS)
def test_a_jvm_skips_the_other_architectures_library_loads_the_jars_own_and_pushes(prometheus, tmp_path, arch):
    own, other_library = JVMS[arch]
    # The sink's own classes come from the release jar alone; Spark's for the Sink interface.
    classpath = compile_check("ArchCheck", tmp_path, f"{DIST_JAR}:{oldest_spark_jars()}/*")
    extract_dir = tmp_path / "extract"
    extract_dir.mkdir()
    # An image or init script that put the other node group's core on the library path.
    library_dir = tmp_path / "lib"
    library_dir.mkdir()
    shutil.copy(other_library, library_dir / "libsparkprom.so")
    app = f"app-{uuid.uuid4().hex[:12]}"
    command = [*java_command(arch), "-Dorg.apache.logging.log4j.level=INFO",
               f"-Djava.io.tmpdir={extract_dir}", f"-Djava.library.path={library_dir}",
               "-cp", classpath, "io.sparkprom.ArchCheck", prometheus.write_url, f"{app}.4.", "12",
               "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:7078", "--executor-id", "4", "--app-id", app]
    run = subprocess.run(command, capture_output=True, text=True, timeout=600)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and f"arch: done on {own}" in output, output[-4000:]
    # The jar's own core comes first: the other machine's library is never tried, so nothing is skipped.
    assert "skipped the native library" not in output, output[-4000:]
    assert (f"native library loaded from the jar (io/sparkprom/native/{own}/libsparkprom.so); "
            f"not {library_dir / 'libsparkprom.so'} (on java.library.path)") in output, output[-4000:]
    assert list(extract_dir.iterdir()) == []

    selector = f'app_id="{app}", executor_id="4"'
    succeeded = last(prometheus, f'spark_executor_succeeded_tasks_total{{{selector}, role="executor"}}', bool)
    assert [value for _, value in succeeded] == [7], succeeded
    cpu = last(prometheus, f'spark_jvmcpu_jvm_cpu_time_seconds_total{{{selector}}}', bool)
    assert [value for _, value in cpu] == [2.0], cpu
    # Node and process statistics read by the core from the host's /proc (qemu-user passes it
    # through; the process figures come from statm and getrusage, which qemu fills in).
    for family, accept in [
        ("node_cpu_seconds_total", lambda r: len({l["cpu"] for l, _ in r}) == os.cpu_count()),
        ("node_memory_MemTotal_bytes", lambda r: r and r[0][1] > 0),
        ("node_load1", bool),
        ("node_network_receive_bytes_total", bool),
        ("process_resident_memory_bytes", lambda r: r and r[0][1] > 0),
        ("process_cpu_seconds_total", lambda r: r and r[0][1] > 0),
    ]:
        result = last(prometheus, f'{family}{{{selector}}}', accept)
        assert accept(result), (family, result)
    assert prometheus.rejected_samples_log() == []


def version_in(folder, arch, extract_dir):
    run = subprocess.run([*java_command(arch), f"-Djava.io.tmpdir={extract_dir}",
                          f"-Djava.library.path={extract_dir}", "-jar", str(folder / "sparkprom.jar"), "--version"],
                         capture_output=True, text=True, timeout=600)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("arch", JVMS)
def test_version_in_the_release_folder_loads_the_core_of_the_jvms_architecture(tmp_path, arch):
    own, other_library = JVMS[arch]
    other = "linux-x86_64" if own == "linux-aarch64" else "linux-aarch64"
    release = tmp_path / "dist"
    shutil.copytree(DIST_JAR.parent, release)
    extract_dir = tmp_path / "tmp"
    extract_dir.mkdir()
    code, output = version_in(release, arch, extract_dir)
    assert code == 0, output
    assert f"sparkprom native core" in output and f"({release / f'libsparkprom-{own}.so'})" in output, output
    assert f"beside the jar: {release / f'libsparkprom-{other}.so'}: a {other} library (not tried: " in output, output
    assert f"would load: the jar (io/sparkprom/native/{own}/libsparkprom.so)" in output, output

    # An older layout: one plain libsparkprom.so beside the jar, built for the other machine.
    old = tmp_path / "old"
    old.mkdir()
    shutil.copy(DIST_JAR, old / "sparkprom.jar")
    shutil.copy(other_library, old / "libsparkprom.so")
    code, output = version_in(old, arch, extract_dir)
    assert code == 0, output
    assert f"WARN skipped {old / 'libsparkprom.so'} (beside the jar) is a {other} library, this JVM is {own}" \
        in output, output
    assert f"(the jar (io/sparkprom/native/{own}/libsparkprom.so))" in output, output

    # Named explicitly, the other machine's library is an error naming both architectures.
    run = subprocess.run([*java_command(arch), "-jar", str(DIST_JAR), "--version", str(other_library)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 1, run.stdout
    assert f"names {other_library}, which is a {other} library, and this JVM is {own}" in run.stdout, run.stdout
    assert list(extract_dir.iterdir()) == []
