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
    output: str
    app_id: str
    install: SparkInstall

    def value(self, key: str) -> str:
        """A KEY=value line the job printed."""
        match = re.search(rf"^{key}=(.*)$", self.output, re.M)
        if not match:
            raise AssertionError(f"the job printed no {key}=; output ends:\n{self.output[-3000:]}")
        return match.group(1).strip()

    def executor_logs(self):
        """stderr of each executor of this application (local-cluster only): {executor id: text}."""
        app_dir = self.install.work_dir / self.app_id
        return {p.parent.name: p.read_text(errors="replace") for p in sorted(app_dir.glob("*/stderr"))}


def submit(install: SparkInstall, app: Path, args=(), conf=None, master="local-cluster[2,1,1024]",
           jars=(str(JAR),), timeout=600, log_path: Path = None, env=None) -> SparkRun:
    """Runs `app`; `env` replaces the inherited environment (SPARK_HOME and friends are added)."""
    command = [str(install.submit), "--master", master]
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
    result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, timeout=timeout)
    if log_path:
        Path(log_path).write_text(result.stdout)
    match = re.search(r"^APP_ID=(.*)$", result.stdout, re.M)
    return SparkRun(result.returncode, result.stdout, match.group(1).strip() if match else "", install)
