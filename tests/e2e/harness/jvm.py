"""The Java checks in tests/jvm/, compiled on demand against the sink's jar and Spark's jars."""
import subprocess
from pathlib import Path

from .paths import REPO

CHECKS = REPO / "tests" / "jvm" / "io" / "sparkprom"


def compile_check(name: str, out_dir: Path, classpath: str) -> str:
    """Compiles tests/jvm/io/sparkprom/<name>.java and the runner the checks share (Java 8
    bytecode) into out_dir; returns the classpath to run it with: out_dir first, then `classpath`."""
    subprocess.run(["javac", "--release", "8", "-nowarn", "-d", str(out_dir), "-cp", classpath,
                    str(CHECKS / f"{name}.java"), str(CHECKS / "Checks.java")], check=True)
    return f"{out_dir}:{classpath}"
