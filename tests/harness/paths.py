"""Where the repository, the build output and the installed Spark releases are."""
import os
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
RELEASE = REPO / "target" / "release"
JAR = RELEASE / "sparkprom.jar"
NATIVE_LIB = RELEASE / "libsparkprom.so"
# The release build (release/build.sh): the portable library, and the jar that carries it.
DIST = REPO / "target" / "dist"
DIST_JAR = DIST / "sparkprom.jar"
DIST_LIB = DIST / "libsparkprom.so"
JOBS = REPO / "tests" / "jobs"
CACHE = Path(os.environ.get("SPARKPROM_CACHE", Path.home() / ".cache" / "sparkprom"))


def spark_versions():
    """The Spark releases in tests/spark-versions.txt, in order."""
    lines = (REPO / "tests" / "spark-versions.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


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
