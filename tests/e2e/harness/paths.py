"""Where the repository, the build output and the installed Spark releases are."""
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
RELEASE = REPO / "target" / "release"
JAR = RELEASE / "sparkprom.jar"
NATIVE_LIB = RELEASE / "libsparkprom.so"
# The release build (release/build.sh): the portable library, and the jar that carries it.
DIST = REPO / "target" / "dist"
DIST_JAR = DIST / "sparkprom.jar"
DIST_LIB = DIST / "libsparkprom-linux-x86_64.so"
DIST_LIB_AARCH64 = DIST / "libsparkprom-linux-aarch64.so"
JOBS = REPO / "tests" / "e2e" / "jobs"
CACHE = Path(os.environ.get("SPARKPROM_CACHE", Path.home() / ".cache" / "sparkprom"))
# The receivers tests/setup.sh takes from Debian beside its Prometheus 2.42: Prometheus 3.5,
# VictoriaMetrics 1.112 and the remote-write 2.0 proto (prometheus-proto-3.5/prompb/).
RECEIVERS = CACHE / "receivers"


def _version_lines():
    """(version, suite) pairs of tests/spark-versions.txt, oldest first."""
    lines = (REPO / "tests" / "spark-versions.txt").read_text().splitlines()
    pairs = [line.split() for line in lines if line.strip() and not line.startswith("#")]
    for pair in pairs:
        assert len(pair) == 2 and pair[1] in ("full", "line"), f"spark-versions.txt: bad line {pair}"
    return [(version, suite) for version, suite in pairs]


def spark_versions():
    """Every Spark release the tests run on, oldest first: each gets the per-line checks."""
    return [version for version, _ in _version_lines()]


def full_suite_versions():
    """The releases that run every end-to-end test (the newest 3.x and 4.x lines)."""
    return [version for version, suite in _version_lines() if suite == "full"]


def newest_version():
    return spark_versions()[-1]


def oldest_spark_jars() -> Path:
    """The jars of the oldest tested release: what the shim is compiled against."""
    return CACHE / f"pyspark-{spark_versions()[0]}" / "pyspark" / "jars"


@dataclass(frozen=True)
class SparkInstall:
    version: str
    root: Path  # what pip installed: pyspark/ and py4j/

    @property
    def home(self) -> Path:
        return self.root / "pyspark"

    @property
    def submit(self) -> Path:
        return self.home / "bin" / "spark-submit"

    @property
    def work_dir(self) -> Path:
        """Where local-cluster workers keep each executor's stdout and stderr."""
        return self.home / "work"


def spark_install(version: str) -> SparkInstall:
    install = SparkInstall(version, CACHE / f"pyspark-{version}")
    if not install.submit.exists():
        raise RuntimeError(f"Spark {version} is not installed at {install.root}: run tests/setup.sh")
    return install
