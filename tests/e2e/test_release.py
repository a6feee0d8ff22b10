"""The release build (release/build.sh; tests/run.sh runs it before these tests): a library that
asks for nothing newer than glibc 2.17, a jar that carries it and loads it when no other copy is
there (also in several JVMs starting at once on one host, and in a real Spark job given nothing
but the jar), and the same bytes again from a second build of the same sources elsewhere."""
import fnmatch
import os
import re
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from harness.paths import DIST, DIST_JAR, DIST_LIB, DIST_LIB_AARCH64, JAR, JOBS, NATIVE_LIB, REPO, full_suite_versions, spark_install
from harness.spark import sink_conf, submit
from test_end_to_end import last

JAR_ENTRY = "io/sparkprom/native/linux-x86_64/libsparkprom.so"
JAR_ENTRY_AARCH64 = "io/sparkprom/native/linux-aarch64/libsparkprom.so"
# Each release library and the machine its ELF header must name.
RELEASE_LIBRARIES = {DIST_LIB: "Advanced Micro Devices X86-64", DIST_LIB_AARCH64: "AArch64"}
GLIBC_FLOOR = (2, 17)
# What a Rust cdylib may link on any glibc system; nothing beyond glibc itself.
GLIBC_LIBRARIES = {"libc.so.6", "libpthread.so.0", "libdl.so.2", "libm.so.6", "librt.so.1",
                   "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1", "libgcc_s.so.1"}
CARGO_VERSION = re.search(r'^version = "(.*)"', (REPO / "Cargo.toml").read_text(), re.M).group(1)


def build_version(jar):
    """The version and commit a jar was built with, as `--version` prints them."""
    out = subprocess.run(["java", "-jar", str(jar), "--version"], capture_output=True, text=True, timeout=60).stdout
    return re.search(r"^sparkprom jar (\S+)$", out, re.M).group(1)


@pytest.fixture(scope="module", autouse=True)
def release_build():
    missing = [str(p) for p in (DIST_JAR, *RELEASE_LIBRARIES) if not p.exists()]
    if missing:
        pytest.fail(f"run release/build.sh first: missing {missing}")


def readelf(library, *options):
    return subprocess.run(["readelf", "--wide", *options, str(library)], capture_output=True,
                          text=True, check=True).stdout


def glibc_versions_needed(library):
    """Every GLIBC_x.y the library's version-needs section (.gnu.version_r) asks for: what the
    dynamic loader checks against the host's glibc before the library can load."""
    section = readelf(library, "--version-info").partition("Version needs section")[2]
    names = re.findall(r"Name: (GLIBC_\S+)", section)
    unreadable = [n for n in names if not re.fullmatch(r"GLIBC_\d+(\.\d+)*", n)]
    assert not unreadable, f"{library} needs glibc versions this test cannot order: {unreadable}"
    return {tuple(int(part) for part in name[len("GLIBC_"):].split(".")) for name in names}


def needed_libraries(library):
    return set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", readelf(library, "--dynamic")))


def test_release_libraries_need_nothing_newer_than_glibc_2_17():
    # x86_64 and aarch64 (2.17 is also aarch64's first glibc).
    for library, machine in RELEASE_LIBRARIES.items():
        assert re.search(rf"Machine:\s+{machine}$", readelf(library, "--file-header"), re.M), library
        versions = glibc_versions_needed(library)
        assert versions, f"no glibc symbol versions found in {library}: is it dynamically linked?"
        too_new = sorted(v for v in versions if v > GLIBC_FLOOR)
        assert not too_new, f"{library} needs glibc {too_new}: it would not load on Amazon Linux 2"
        assert needed_libraries(library) <= GLIBC_LIBRARIES, needed_libraries(library)
    # The check can fail: the development build, linked against this machine's newer glibc,
    # asks for versions past 2.17 (Rust's std takes the newest symbol version it is linked to).
    assert max(glibc_versions_needed(NATIVE_LIB)) > GLIBC_FLOOR


def test_release_libraries_are_stripped_of_debug_info_but_keep_their_symbols():
    for library in RELEASE_LIBRARIES:
        sections = readelf(library, "--section-headers")
        assert ".debug_info" not in sections, library
        assert "Java_io_sparkprom_NativeCore_report" in readelf(library, "--dyn-syms"), library


def test_release_jar_carries_both_release_libraries():
    with zipfile.ZipFile(DIST_JAR) as jar:
        assert jar.read(JAR_ENTRY) == DIST_LIB.read_bytes()
        assert jar.read(JAR_ENTRY_AARCH64) == DIST_LIB_AARCH64.read_bytes()
        assert "Main-Class: io.sparkprom.Main" in jar.read("META-INF/MANIFEST.MF").decode()


def version_check(jar, tmp_path, library_path=None):
    """`java -jar sparkprom.jar --version` with the jar alone in its directory, a private
    java.io.tmpdir and the given java.library.path."""
    extract_dir = tmp_path / "tmp"
    extract_dir.mkdir(exist_ok=True)
    library_dir = library_path or tmp_path / "empty"
    library_dir.mkdir(exist_ok=True)
    command = ["java", f"-Djava.io.tmpdir={extract_dir}", f"-Djava.library.path={library_dir}",
               "-jar", str(jar), "--version"]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def jar_alone(tmp_path, jar=DIST_JAR):
    copy = tmp_path / "jar" / "sparkprom.jar"
    copy.parent.mkdir()
    shutil.copy(jar, copy)
    return copy


def test_jar_alone_loads_its_own_library_and_leaves_no_file(tmp_path):
    process = version_check(jar_alone(tmp_path), tmp_path)
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 0, output
    version = build_version(DIST_JAR)
    assert f"sparkprom native core {version} (the jar ({JAR_ENTRY}))" in output, output
    assert list((tmp_path / "tmp").iterdir()) == []


def test_jvms_starting_together_each_extract_a_private_copy(tmp_path):
    jar = jar_alone(tmp_path)
    processes = [version_check(jar, tmp_path) for _ in range(8)]
    outputs = [p.communicate(timeout=120)[0] for p in processes]
    assert [p.returncode for p in processes] == [0] * 8, outputs
    assert all("(the jar (" in output for output in outputs), outputs
    assert list((tmp_path / "tmp").iterdir()) == []


def test_a_jar_without_a_library_and_nothing_on_the_path_says_where_it_looked(tmp_path):
    process = version_check(jar_alone(tmp_path, jar=JAR), tmp_path)  # the development jar
    output = process.communicate(timeout=60)[0]
    assert process.returncode == 1, output
    assert (f"no libsparkprom.so (or libsparkprom-linux-x86_64.so) on java.library.path ({tmp_path / 'empty'}) "
            "and none for linux-x86_64 in the jar") in output, output


@pytest.mark.parametrize("version", full_suite_versions())
def test_a_real_job_given_only_the_release_jar_pushes_from_every_jvm(prometheus, version, tmp_path):
    extract_dir = tmp_path / "extract"
    extract_dir.mkdir()
    # README's --conf set with the release jar in place of jar + library path.
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    del conf["spark.driver.extraLibraryPath"], conf["spark.executor.extraLibraryPath"]
    conf["spark.driver.extraClassPath"] = conf["spark.executor.extraClassPath"] = str(DIST_JAR)
    conf["spark.metrics.conf.*.sink.prom.libraryExtractDir"] = str(extract_dir)
    run = submit(spark_install(version), JOBS / "count_job.py", ["6"], conf=conf, jars=())
    assert run.returncode == 0, run.output[-3000:]
    pushed = last(prometheus, f'sparkprom_queue_capacity_samples{{app_id="{run.app_id}"}}',
                  lambda r: len(r) == 3)
    assert {labels["executor_id"] for labels, _ in pushed} == {"driver", "0", "1"}, pushed
    loaded = "native library loaded from the jar"
    assert loaded in run.output
    assert all(loaded in log for log in run.executor_logs().values()), run.executor_logs()
    assert list(extract_dir.iterdir()) == []


def elsewhere_build(tmp_path):
    """The directory of release/elsewhere.sh's build: the one tests/run.sh started in the
    background (SPARKPROM_ELSEWHERE), waited for, or one run here."""
    started = os.environ.get("SPARKPROM_ELSEWHERE")
    if started:
        status = Path(started) / "status"
        deadline = time.time() + 1800
        while not status.exists() and time.time() < deadline:
            time.sleep(5)
        return Path(started)
    subprocess.run(["bash", str(REPO / "release" / "elsewhere.sh"), str(tmp_path / "elsewhere")], timeout=1800)
    return tmp_path / "elsewhere"


def test_release_build_gives_the_same_bytes_from_another_checkout(tmp_path):
    """Same sources, another directory, an empty target/: the library and the jar must be
    identical (the build maps paths away and fixes the jar's timestamps)."""
    out = elsewhere_build(tmp_path)
    status = (out / "status").read_text().strip() if (out / "status").exists() else "not finished in 30 minutes"
    assert status == "0", (status, (out / "build.log").read_text()[-5000:] if (out / "build.log").exists() else "")
    built = out / "sparkprom" / "target" / "dist"
    for name in (DIST_LIB.name, DIST_LIB_AARCH64.name, "sparkprom.jar"):
        assert (built / name).read_bytes() == (DIST / name).read_bytes(), name
    assert (built / "SHA256SUMS").read_text() == (DIST / "SHA256SUMS").read_text()
    sums = subprocess.run(["sha256sum", "-c", "SHA256SUMS"], cwd=DIST, capture_output=True, text=True)
    listed = (DIST / "SHA256SUMS").read_text().splitlines()
    assert sums.returncode == 0 and sums.stdout.count(": OK") == len(listed) == 4, sums.stdout + sums.stderr


def test_the_release_carries_the_tag_or_dev_version_and_the_commit():
    """Two commits never share a version string, so a stale library from another build is
    refused by name (test_platforms checks the refusal)."""
    commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.strip()
    tag = subprocess.run(["git", "describe", "--tags", "--exact-match", "--match", "v[0-9]*", "HEAD"], cwd=REPO,
                         capture_output=True, text=True).stdout.strip()
    expected = f"{tag[1:] if tag else CARGO_VERSION + '-dev'}+{commit}"
    assert build_version(DIST_JAR) == expected
    assert build_version(JAR) == expected
    assert f"sparkprom {expected}\n" in (DIST / "BUILD-INFO").read_text()


def test_release_carries_license_notices_pom_and_sums():
    version = build_version(DIST_JAR).split("+")[0]
    for name in ("LICENSE", "THIRD-PARTY-NOTICES.md", "CHANGELOG.md", f"sparkprom-{version}.pom"):
        assert (DIST / name).is_file(), name
    pom = (DIST / f"sparkprom-{version}.pom").read_text()
    assert "<groupId>io.sparkprom</groupId>" in pom and f"<version>{version}</version>" in pom, pom
    with zipfile.ZipFile(DIST_JAR) as jar:
        assert jar.read("META-INF/LICENSE") == (REPO / "LICENSE").read_bytes()
        assert jar.read("META-INF/THIRD-PARTY-NOTICES.md") == (REPO / "THIRD-PARTY-NOTICES.md").read_bytes()
    assert f"sparkprom-{version}.pom" in (DIST / "SHA256SUMS").read_text()


def test_third_party_notices_match_cargo_lock():
    """Every crate linked into the library, with its license texts; regenerated and compared."""
    result = subprocess.run(["python3", "release/notices.py", "--check"], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    notices = (REPO / "THIRD-PARTY-NOTICES.md").read_text()
    for crate in ("| reqwest |", "| prost |", "| snap |", "| jni |", "| aws-sigv4 |", "| rustls |"):
        assert crate in notices, crate
    assert "| pytest |" not in notices and "| cc |" not in notices  # build tools are not linked


def test_the_release_workflow_builds_twice_and_attaches_what_the_build_makes():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "release.yml").read_text())
    triggers = workflow[True] if True in workflow else workflow["on"]  # YAML 1.1 reads `on` as true
    assert triggers == {"push": {"tags": ["v*"]}}
    job = workflow["jobs"]["release"]
    assert "bookworm" in job["container"] and (Path("/etc/debian_version").read_text().startswith("12"))
    script = "\n".join(step.get("run", "") for step in job["steps"])
    for needed in ("bash tests/setup.sh", "python3 release/notices.py --check", "bash release/build.sh",
                   "sha256sum -c SHA256SUMS", "cmp sparkprom/target/dist/SHA256SUMS again/target/dist/SHA256SUMS"):
        assert needed in script, needed
    attach = script[script.index("gh release create"):]
    attached = [word for word in attach.split() if "." in word and not word.startswith(("-", "\"", "$"))] + \
        [word for word in attach.split() if word in ("SHA256SUMS", "BUILD-INFO", "LICENSE")]
    present = {p.name for p in DIST.iterdir()}
    for name in attached:
        matches = [p for p in present if fnmatch.fnmatch(p, name)]
        assert matches, (name, sorted(present))
    assert {"sparkprom.jar", "SHA256SUMS", "LICENSE"} <= set(attached)
