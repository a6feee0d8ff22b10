"""The metric model against real Spark: the values pushed equal what Spark itself recorded in
its event log, what is pushed passes `promtool check metrics`, and the exported names match the
reference table in docs/metrics-reference.md (regenerate it with SPARKPROM_UPDATE_REFERENCE=1)."""
import json
import os
import re
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest

from harness.paths import JOBS, REPO, spark_install, spark_versions
from harness.spark import sink_conf, submit
from test_end_to_end import last

REFERENCE = REPO / "docs" / "metrics-reference.md"
# Labels every series has; the reference lists the others.
# What tells one JVM's series from another's: the ids, or for a JVM without them (a standalone
# daemon; local-cluster runs its master and workers in the driver's JVM) the host and pid.
IDENTITY_LABELS = {"app_id", "app_name", "executor_id", "role", "instance", "pid"}


@pytest.fixture(scope="module", params=spark_versions())
def accuracy_run(request, prometheus, tmp_path_factory):
    version = request.param
    work = tmp_path_factory.mktemp(f"accuracy-{version}")
    (work / "events").mkdir()
    (work / "text").mkdir()
    conf = sink_conf(prometheus.write_url, period_seconds=2)
    conf.update({
        "spark.metrics.appStatusSource.enabled": "true",
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": f"file://{work / 'events'}",
        "spark.eventLog.compress": "false",
        "spark.metrics.conf.*.sink.prom.textfile": str(work / "text" / "{role}-{executor_id}-{pid}.prom"),
    })
    run = submit(spark_install(version), JOBS / "accuracy_job.py", conf=conf)
    assert run.returncode == 0, run.output[-3000:]
    return version, run, work


def event_log_totals(events_dir: Path):
    """Task outcomes and metrics as Spark recorded them, from the event log."""
    totals = defaultdict(int)
    # Spark 3.5 writes one file; 4.x rolls the log into eventlog_v2_<app>/events_<n>_<app> files.
    logs = sorted(p for p in events_dir.rglob("events*") if p.is_file()) or sorted(
        p for p in events_dir.iterdir() if p.is_file() and not p.name.startswith("."))
    assert logs, f"no event log in {events_dir}"
    lines = [line for log in logs for line in log.read_text().splitlines()]
    for line in lines:
        event = json.loads(line)
        if event.get("Event") != "SparkListenerTaskEnd":
            continue
        if event["Task End Reason"]["Reason"] != "Success":
            totals["failed_tasks"] += 1
            continue
        totals["succeeded_tasks"] += 1
        metrics = event.get("Task Metrics") or {}
        write = metrics.get("Shuffle Write Metrics", {})
        read = metrics.get("Shuffle Read Metrics", {})
        totals["shuffle_bytes_written"] += write.get("Shuffle Bytes Written", 0)
        totals["shuffle_records_written"] += write.get("Shuffle Records Written", 0)
        totals["shuffle_records_read"] += read.get("Total Records Read", 0)
    return totals


def test_pushed_values_equal_what_spark_recorded(prometheus, accuracy_run):
    _, run, work = accuracy_run
    spark = event_log_totals(work / "events")
    assert spark["failed_tasks"] == 1 and spark["shuffle_records_written"] > 0, spark
    app = run.app_id

    def executors_sum(metric):
        result = last(prometheus, f'{metric}{{app_id="{app}", role="executor"}}', bool, around="sum({})")
        return result[0][1] if result else None

    def driver(metric):
        result = last(prometheus, f'{metric}{{app_id="{app}", role="driver"}}', bool)
        return result[0][1] if result else None

    assert driver("spark_app_status_tasks_completed_tasks_total") == spark["succeeded_tasks"]
    assert driver("spark_app_status_tasks_failed_tasks_total") == spark["failed_tasks"]
    assert executors_sum("spark_executor_succeeded_tasks_total") == spark["succeeded_tasks"]
    assert executors_sum("spark_executor_shuffle_bytes_written_total") == spark["shuffle_bytes_written"]
    assert executors_sum("spark_executor_shuffle_records_written_total") == spark["shuffle_records_written"]
    assert executors_sum("spark_executor_shuffle_records_read_total") == spark["shuffle_records_read"]
    # Units: megabyte gauges arrive in bytes. (The driver sums its executors' block managers,
    # so the largest value is taken: the last one comes after the executors left.)
    max_mem = prometheus.query(
        f'max_over_time(spark_block_manager_memory_max_mem_bytes{{app_id="{app}", role="driver"}}[15m])')
    assert max_mem and max_mem[0][1] > 100 * 1024 * 1024 and max_mem[0][1] % (1024 * 1024) == 0, max_mem


def test_every_jvm_is_labelled_and_no_id_is_left_in_a_name(prometheus, accuracy_run):
    version, run, _ = accuracy_run
    app = run.app_id
    senders = prometheus.query(f'count by (executor_id, role) (last_over_time({{app_id="{app}"}}[15m]))')
    identities = {(labels["executor_id"], labels.get("role")) for labels, _ in senders}
    assert {("driver", "driver"), ("0", "executor"), ("1", "executor")} <= identities, (version, senders)
    assert all(role != "other" for _, role in identities), (version, identities)
    # Spark's names carry the app id (`app-2026...-0000.driver.DAGScheduler...`); none may survive.
    sanitized = re.sub(r"\W", "_", app)
    assert prometheus.query(f'count(last_over_time({{__name__=~".*{sanitized}.*"}}[15m]))') == []
    # Every JVM knew its whole identity: no field reported missing.
    missing = prometheus.query(
        f'max by (executor_id, field) (last_over_time(sparkprom_identity_missing{{app_id="{app}"}}[15m]))')
    assert {labels["executor_id"] for labels, _ in missing} >= {"driver", "0", "1"}, missing
    assert all(value == 0 for _, value in missing), missing


def test_the_app_status_source_default_is_what_the_reference_says(accuracy_run):
    version, run, _ = accuracy_run
    # docs/metrics-reference.md: off by default on 3.x, on from 4.0.
    expected = "true" if version_key(version) >= (4, 0) else "false"
    assert run.value("APP_STATUS_SOURCE_DEFAULT") == expected, version
    assert "off by\n  default on 3.4 and 3.5, on by default from 4.0" in REFERENCE.read_text()


def text_files(work):
    files = sorted((work / "text").glob("*.prom"))
    assert {f.name.split("-")[0] for f in files} >= {"driver", "executor"}, files
    return files


def test_what_is_pushed_passes_promtool_lint(accuracy_run):
    _, _, work = accuracy_run
    for path in text_files(work):
        text = path.read_text()
        assert "# TYPE" in text
        check = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        assert check.returncode == 0 and check.stdout.strip() == "" and check.stderr.strip() == "", \
            f"{path.name}: {check.stdout}{check.stderr}"


def families(work):
    """{name: (type, unit, extra labels, roles)} of every family the run's JVMs pushed."""
    found = {}
    for path in text_files(work):
        types = dict(re.findall(r"^# TYPE (\S+) (\S+)$", path.read_text(), re.M))
        for line in path.read_text().splitlines():
            if line.startswith("#") or not line:
                continue
            metric, labels = re.match(r"([^{]+)\{(.*)\}", line).groups()
            family = next(f for f in (metric, re.sub(r"_(count|sum|bucket)$", "", metric)) if f in types)
            names = set(re.findall(r'(\w+)="', labels))
            role = re.search(r'role="([^"]+)"', labels).group(1)
            unit = next((u for u in ("seconds", "bytes") if re.search(rf"_{u}(_total)?$", family)), "")
            kind, unit_, extra, roles = found.get(family, (types[family], unit, set(), set()))
            found[family] = (kind, unit_, extra | (names - IDENTITY_LABELS - {"le"}), roles | {role})
    return found


def parse_reference():
    """{version: {name: row}} from docs/metrics-reference.md."""
    rows = {}
    if not REFERENCE.exists():
        return rows, []
    # The families table ends where the listener's section (generated elsewhere) begins.
    lines = REFERENCE.read_text().split("## Listener families")[0].splitlines()
    header = next((l for l in lines if l.startswith("| metric |")), None)
    versions = [c.strip() for c in header.strip("|").split("|")[5:]] if header else []
    for line in lines:
        if not line.startswith("| `"):
            continue
        cells = [c.strip() for c in line.strip("|").split("|")]
        name = cells[0].strip("`")
        rows[name] = cells
    return rows, versions


def version_key(version):
    return tuple(int(part) for part in version.split("."))


def render_reference(per_version):
    versions = sorted(per_version, key=version_key)
    names = sorted({n for fams in per_version.values() for n in fams})
    out = [
        "# Metrics reference",
        "",
        "Every family sparkprom exported in a `local-cluster` run of `tests/e2e/jobs/accuracy_job.py`",
        "(shuffle, a retried task, a cached RDD), per Spark release, with",
        "`spark.metrics.appStatusSource.enabled=true`. Generated by",
        "`tests/e2e/test_metric_model.py` (`SPARKPROM_UPDATE_REFERENCE=1 python3 -m pytest tests/e2e/test_metric_model.py`);",
        "the test fails when a run exports something else. Every series also carries `app_id`, `app_name`,",
        "`executor_id` and `role`, and the user's `labels`; a JVM without an executor id (a standalone master,",
        "worker or shuffle service) carries `instance` (the host) and `pid` instead of the ids. Units are base",
        "units: `seconds`, `bytes`.",
        "",
        "## Differences between Spark lines",
        "",
        "- `spark.metrics.appStatusSource.enabled` (the driver's `spark_app_status_*` families): off by",
        "  default on 3.4 and 3.5, on by default from 4.0. The runs below set it, so every line shows them;",
        "  set it on 3.x to get them.",
        "- Names, types and units are the same on every line unless listed here; families only some",
        "  lines export:",
        "",
    ]
    partial = [n for n in names if not all(n in per_version[v] for v in versions)]
    for name in partial:
        present = [v for v in versions if name in per_version[v]]
        out.append(f"  - `{name}`: {', '.join(present)}")
    if not partial:
        out.append("  - none")
    out += [
        "",
        "## Families",
        "",
        "| metric | type | unit | labels | roles | " + " | ".join(versions) + " |",
        "|---|---|---|---|---|" + "---|" * len(versions),
    ]
    for name in names:
        kind, unit, extra, roles = next(f[name] for f in per_version.values() if name in f)
        marks = " | ".join("yes" if name in per_version[v] else "" for v in versions)
        labels = ", ".join(sorted(extra))
        out.append(f"| `{name}` | {kind} | {unit} | {labels} | {', '.join(sorted(roles))} | {marks} |")
    # The listener's section is generated from native/src/signals.rs by its own test: kept as it is.
    text = REFERENCE.read_text() if REFERENCE.exists() else ""
    listener = text[text.find("## Listener families"):] if "## Listener families" in text else ""
    return "\n".join(out) + "\n" + ("\n" + listener if listener else "")


def test_exported_names_match_the_reference_table(accuracy_run):
    version, _, work = accuracy_run
    found = families(work)
    rows, versions = parse_reference()
    if os.environ.get("SPARKPROM_UPDATE_REFERENCE"):
        # Keep the other releases' columns as documented; replace this release's. A name this
        # release exports takes its type, unit and labels from this run in every column (a renamed
        # label would otherwise stay as documented until each release had run again).
        def documented(name, cells):
            kind, unit, extra, roles = tuple_of(cells)
            return (*found[name][:3], roles) if name in found else (kind, unit, extra, roles)
        per_version = {v: {n: documented(n, r) for n, r in rows.items() if r[5 + versions.index(v)] == "yes"}
                       for v in versions if v != version}
        per_version[version] = found
        REFERENCE.parent.mkdir(exist_ok=True)
        REFERENCE.write_text(render_reference(per_version))
        rows, versions = parse_reference()
    assert version in versions, f"{REFERENCE} has no column for Spark {version}"
    column = 5 + versions.index(version)
    documented = {n for n, r in rows.items() if r[column] == "yes"}
    assert set(found) == documented, (
        f"Spark {version} exported names differ from {REFERENCE.name}: "
        f"new {sorted(set(found) - documented)}, gone {sorted(documented - set(found))}"
    )
    for name, (kind, unit, extra, _) in found.items():
        cells = rows[name]
        assert (cells[1], cells[2], cells[3]) == (kind, unit, ", ".join(sorted(extra))), name


def tuple_of(cells):
    """A reference row back as (type, unit, labels, roles)."""
    return (cells[1], cells[2], set(filter(None, cells[3].split(", "))), set(cells[4].split(", ")))
