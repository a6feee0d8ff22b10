"""Runs real Spark applications with the sink, the way the README tells users to."""
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .paths import JAR, RELEASE, SparkInstall


def sink_conf(write_url: str, period_seconds: int = 2, name: str = "prom") -> dict:
    """The --conf set of README's spark-submit example."""
    prefix = f"spark.metrics.conf.*.sink.{name}"
    return {
        "spark.driver.extraClassPath": str(JAR),
        "spark.executor.extraClassPath": str(JAR),
        "spark.driver.extraLibraryPath": str(RELEASE),
        "spark.executor.extraLibraryPath": str(RELEASE),
        f"{prefix}.class": "io.sparkprom.RemoteWriteSink",
        f"{prefix}.url": write_url,
        f"{prefix}.period": str(period_seconds),
    }


@dataclass
class SparkRun:
    returncode: int
    printed: str  # stdout: what the job printed (Spark logs to stderr)
    logged: str  # stderr: Spark's log and the sink's
    install: SparkInstall

    @property
    def output(self) -> str:
        return self.logged + self.printed

    @property
    def app_id(self) -> str:
        match = re.search(r"^APP_ID=(.*)$", self.printed, re.M)
        return match.group(1).strip() if match else ""

    def value(self, key: str) -> str:
        """A KEY=value line the job printed. Read from stdout alone: in one merged stream a log
        line can land between a print and its newline (seen in CI: ROUNDS=2 then a log line)."""
        match = re.search(rf"^{key}=(.*)$", self.printed, re.M)
        if not match:
            raise AssertionError(f"the job printed no {key}=; output ends:\n{self.output[-3000:]}")
        return match.group(1).strip()

    def executor_logs(self):
        """stderr of each executor of this application (local-cluster only): {executor id: text}."""
        app_dir = self.install.work_dir / self.app_id
        return {p.parent.name: p.read_text(errors="replace") for p in sorted(app_dir.glob("*/stderr"))}


def submit(install: SparkInstall, app: Path, args=(), conf=None, master="local-cluster[2,1,1024]",
           jars=(str(JAR),), timeout=600, log_path: Path = None, env=None, prefix=()) -> SparkRun:
    """Runs `app`; `env` replaces the inherited environment (SPARK_HOME and friends are added);
    `prefix` runs spark-submit through a command (a pod's, harness/pods.py)."""
    command = [*prefix, str(install.submit), "--master", master]
    if jars:
        command += ["--jars", ",".join(jars)]
    for key, value in (conf or {}).items():
        command += ["--conf", f"{key}={value}"]
    command += [str(app), *map(str, args)]
    env = dict(os.environ if env is None else env)
    env.update(
        SPARK_HOME=str(install.home),
        PYTHONPATH=str(install.root),
        PYSPARK_PYTHON=env.get("PYSPARK_PYTHON", "python3"),
        # Every address Spark uses stays on this machine.
        SPARK_LOCAL_IP="127.0.0.1",
    )
    env.pop("SPARK_CONF_DIR", None)
    return run_spark(command, env, install, timeout, log_path)


def run_spark(command, env, install: SparkInstall, timeout=600, log_path: Path = None) -> SparkRun:
    """Runs a Spark launch command, its stdout and stderr apart (see SparkRun.value)."""
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    run = SparkRun(result.returncode, result.stdout, result.stderr, install)
    if log_path:
        Path(log_path).write_text(run.output)
    return run
