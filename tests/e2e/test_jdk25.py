"""JDK 25 (JEP 472: JNI is a restricted method). Spark 4.3's spark-submit passes
--enable-native-access=ALL-UNNAMED; a launcher that does not (Databricks', EMR images', embedded
Spark) gets a JDK WARNING and the sink's own WARN naming the flag; with
--illegal-native-access=deny (a later JDK's default) the sink is off with one ERROR naming the
flag and the job runs on. The jar's --version says the same."""
import os
import subprocess
from pathlib import Path

import pytest

from harness.paths import DIST_JAR, JOBS, newest_version, spark_install
from harness.spark import run_spark, sink_conf, submit
from test_end_to_end import last

JDK25 = Path("/usr/lib/jvm/temurin-25-jdk-amd64")
FLAG = "--enable-native-access=ALL-UNNAMED"
JDK_WARNING = "WARNING: A restricted method in java.lang.System has been called"

pytestmark = pytest.mark.skipif(not (JDK25 / "bin" / "java").exists(), reason="needs tests/setup.sh's JDK 25")


def jar_conf(write_url):
    """README's --conf set with the release jar (it carries the library)."""
    conf = sink_conf(write_url, period_seconds=2)
    del conf["spark.driver.extraLibraryPath"], conf["spark.executor.extraLibraryPath"]
    conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = str(DIST_JAR)
    return conf


def test_version_command_on_jdk25_warns_refuses_or_is_quiet_by_flag():
    java = str(JDK25 / "bin" / "java")
    plain = subprocess.run([java, "-jar", str(DIST_JAR), "--version"], capture_output=True, text=True, timeout=60)
    assert plain.returncode == 0 and JDK_WARNING in plain.stderr, plain.stdout + plain.stderr
    assert f"WARN native access is not enabled (a later JDK will refuse the library): add {FLAG}" in plain.stdout

    denied = subprocess.run([java, "--illegal-native-access=deny", "-jar", str(DIST_JAR), "--version"],
                            capture_output=True, text=True, timeout=60)
    assert denied.returncode == 1 and f"this JVM refuses native access: add {FLAG}" in denied.stdout, denied.stdout

    enabled = subprocess.run([java, FLAG, "--illegal-native-access=deny", "-jar", str(DIST_JAR), "--version"],
                             capture_output=True, text=True, timeout=60)
    assert enabled.returncode == 0 and "WARN" not in enabled.stdout and JDK_WARNING not in enabled.stderr, \
        enabled.stdout + enabled.stderr


def test_spark_43_submit_on_jdk25_pushes_from_every_jvm_without_a_warning(prometheus):
    env = dict(os.environ, JAVA_HOME=str(JDK25))
    run = submit(spark_install(newest_version()), JOBS / "count_job.py", ["6"], conf=jar_conf(prometheus.write_url),
                 jars=(), env=env)
    assert run.returncode == 0, run.output[-3000:]
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}"}}', lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    for log in [run.output, *run.executor_logs().values()]:
        assert "native library loaded from the jar" in log
        assert JDK_WARNING not in log and "native access" not in log, log[-3000:]


def launched_without_the_flag(install, conf, extra_java_options=()):
    """spark-submit's own command for this job (the launcher prints it), minus the launcher's
    --enable-native-access: the driver JVM as a launcher that does not pass it starts it."""
    classpath = f"{install.home / 'jars'}/*"
    args = ["--master", "local[2]"] + [a for k, v in conf.items() for a in ("--conf", f"{k}={v}")] + \
        [str(JOBS / "count_job.py"), "4"]
    env = dict(os.environ, JAVA_HOME=str(JDK25), SPARK_HOME=str(install.home), PYTHONPATH=str(install.root),
               PYSPARK_PYTHON="python3", SPARK_LOCAL_IP="127.0.0.1",
               # What bin/load-spark-env.sh tells the launcher for a binary distribution.
               SPARK_SCALA_VERSION="2.13")
    env.pop("SPARK_CONF_DIR", None)
    printed = subprocess.run([str(JDK25 / "bin" / "java"), "-cp", classpath, "org.apache.spark.launcher.Main",
                              "org.apache.spark.deploy.SparkSubmit", *args], env=env, capture_output=True,
                             timeout=60, check=True).stdout
    command = [part.decode().strip() for part in printed.split(b"\0") if part.strip()]
    assert FLAG in command, command  # Spark 4.3's launcher adds it; take it out
    command = [part for part in command if part != FLAG]
    command[1:1] = list(extra_java_options)
    return run_spark(command, env, install)


def test_a_launcher_without_the_flag_gets_the_sinks_warn_and_deny_turns_only_the_sink_off(prometheus):
    install = spark_install(newest_version())
    run = launched_without_the_flag(install, jar_conf(prometheus.write_url))
    assert run.returncode == 0, run.output[-3000:]
    assert JDK_WARNING in run.output
    assert run.output.count(f"native access is not enabled for the sink") == 1, run.output[-3000:]
    assert f"{FLAG} to spark.driver.extraJavaOptions and spark.executor.extraJavaOptions" in run.output
    last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}"}}', lambda r: len(r) == 1)

    denied = launched_without_the_flag(install, jar_conf(prometheus.write_url), ["--illegal-native-access=deny"])
    assert denied.returncode == 0 and "ROUNDS=" in denied.output, denied.output[-3000:]
    errors = [line for line in denied.output.splitlines() if "ERROR" in line and "sparkprom" in line]
    assert len(errors) == 1 and "this JVM refuses native access" in errors[0] and FLAG in errors[0], errors
    assert prometheus.query(f'sparkprom_queue_capacity_samples{{app_id="{denied.app_id}"}}') == []
