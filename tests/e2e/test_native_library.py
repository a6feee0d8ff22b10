"""Which native core a sink loads: the jar's own core for this machine before any loose
libsparkprom.so on java.library.path (an old image's or init script's, maybe of another build), a
loose one only when the jar carries none for this machine; one INFO line says which and why. The
jar is packed from the development build as release/build.sh packs the release jar, so this runs
without the release build."""
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from harness.jvm import compile_check
from harness.paths import JAR, NATIVE_LIB, REPO, oldest_spark_jars
from test_end_to_end import last

JAR_ENTRY = "io/sparkprom/native/linux-x86_64/libsparkprom.so"

STALE_CORE = """
#include <jni.h>
/* A core of another build, as an old image or init script leaves one on the library path. */
JNIEXPORT jstring JNICALL Java_io_sparkprom_NativeCore_version(JNIEnv *env, jclass cls) {
    return (*env)->NewStringUTF(env, "0.0.1+stale");
}
"""


def stale_core(directory):
    """A libsparkprom.so of another build in `directory`: it answers version() with its own."""
    java_home = Path(shutil.which("javac")).resolve().parents[1]
    source = directory / "stale.c"
    source.write_text(STALE_CORE)
    library = directory / "libsparkprom.so"
    subprocess.run(["cc", "-shared", "-fPIC", f"-I{java_home / 'include'}", f"-I{java_home / 'include' / 'linux'}",
                    "-o", str(library), str(source)], check=True)
    source.unlink()
    return library


def run_sink(prometheus, tmp_path, jar, library_dir):
    """ArchCheck (a sink with no 'library' property, an executor's registry) on `jar` with
    `library_dir` as java.library.path; its output, once its series reached Prometheus."""
    run_dir = tmp_path / f"run-{uuid.uuid4().hex[:6]}"
    extract_dir = run_dir / "extract"
    extract_dir.mkdir(parents=True)
    classpath = compile_check("ArchCheck", run_dir, f"{jar}:{oldest_spark_jars()}/*")
    app = f"app-{uuid.uuid4().hex[:12]}"
    command = ["java", "-Dorg.apache.logging.log4j.level=INFO", f"-Djava.io.tmpdir={extract_dir}",
               f"-Djava.library.path={library_dir}", "-cp", classpath, "io.sparkprom.ArchCheck",
               prometheus.write_url, f"{app}.4.", "3",
               "--driver-url", "spark://CoarseGrainedScheduler@127.0.0.1:7078", "--executor-id", "4", "--app-id", app]
    run = subprocess.run(command, capture_output=True, text=True, timeout=300)
    output = run.stdout + run.stderr
    assert run.returncode == 0 and "arch: done on linux-x86_64" in output, output[-4000:]
    sent = last(prometheus, f'spark_executor_succeeded_tasks_total{{app_id="{app}", executor_id="4"}}', bool)
    assert [value for _, value in sent] == [7], (sent, output[-4000:])
    assert list(extract_dir.iterdir()) == []
    return output


def test_the_jars_own_core_beats_a_stale_loose_one_which_serves_only_a_jar_without(prometheus, tmp_path):
    """A libsparkprom.so of another build left on java.library.path must not beat the jar's own
    core (loaded, its version would not match the jar's and the sink would stay off): the jar's
    copy loads and one INFO line says which, and why not the loose one. A loose library loads
    only when the jar carries no core for this machine (here the development jar)."""
    library_dir = tmp_path / "lib"
    library_dir.mkdir()
    stale = stale_core(library_dir)
    # A jar that carries this build's core, packed as release/build.sh packs the release jar.
    jar = tmp_path / "with-core" / "sparkprom.jar"
    jar.parent.mkdir()
    subprocess.run([sys.executable, str(REPO / "release" / "pack_jar.py"), str(JAR), str(jar),
                    f"linux-x86_64={NATIVE_LIB}"], check=True)
    output = run_sink(prometheus, tmp_path, jar, library_dir)
    loaded = [line for line in output.splitlines() if "native library loaded from" in line]
    assert len(loaded) == 1 and "INFO" in loaded[0], output[-4000:]
    assert (f"native library loaded from the jar ({JAR_ENTRY}); not {stale} (on java.library.path): "
            "the jar's own core is of this build") in loaded[0], loaded[0]
    assert "do not match" not in output and "0.0.1+stale" not in output, output[-4000:]

    # The development jar carries no core: the loose library on the path is the one.
    shutil.copy(NATIVE_LIB, stale)
    output = run_sink(prometheus, tmp_path, JAR, library_dir)
    assert f"native library loaded from {stale}; the jar carries no core for linux-x86_64" in output, output[-4000:]
