"""Nothing shipped blinds a shipped rule or panel without saying so: for every metrics conf in
spark-conf/, each sink's include/exclude filters (as native/src/config.rs's Filters::keeps applies
them: searched in the exported name; the sink's own sparkprom_* series always go) are run over
every metric name the alert rules and the dashboards' panels read. A rule or dashboard whose
input a conf drops must be named on a `# Blinds:` line of that conf, saying why."""
import json
import re

from harness.alerts import rules
from harness.paths import REPO

CONFS = sorted((REPO / "spark-conf").glob("*.properties"))
DASHBOARDS = sorted((REPO / "spark-conf" / "dashboards").glob("*.json"))
NAME = re.compile(r"\b((?:spark|sparkprom|node|container|process|jvm)_[a-zA-Z0-9_]+)\b")
LABELS = {"spark_job"}  # the listener's label, in `on (...)` and `by (...)`


def inputs():
    """{rule or "dashboard: panel": the metric names it reads}."""
    found = {name: set(NAME.findall(rule["expr"])) - LABELS for name, rule in rules()}
    for path in DASHBOARDS:
        for panel in json.loads(path.read_text())["panels"]:
            for target in panel.get("targets", []):
                found.setdefault(f"{path.stem}: {panel['title']}", set()).update(set(NAME.findall(target["expr"])) - LABELS)
    return found


def sinks(path):
    """{sink name: {property: value}} of a metrics.properties file."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.fullmatch(r"\s*[^#\s][^.]*\.sink\.([^.]+)\.([^=\s]+)\s*=\s*(.*)", line)
        if match:
            found.setdefault(match.group(1), {})[match.group(2)] = match.group(3).strip()
    return found


def keeps(properties, name):
    """Whether the sink exports a series of this name (a histogram by its family's name)."""
    if name.startswith("sparkprom_"):
        return True
    include, exclude = properties.get("include"), properties.get("exclude")
    candidates = {name, re.sub(r"_(bucket|count|sum)$", "", name)}

    def hit(regex):
        return any(re.search(regex, candidate) for candidate in candidates)

    return (include is None or hit(include)) and not (exclude is not None and hit(exclude))


def blinded(path):
    """{rule or panel: the names it reads that a sink of this conf drops}."""
    out = {}
    for properties in sinks(path).values():
        for reader, names in inputs().items():
            dropped = sorted(name for name in names if not keeps(properties, name))
            if dropped:
                out[reader] = dropped
    return out


def declared(path):
    """The rules and dashboards a conf's `# Blinds:` lines name."""
    lines = re.findall(r"^#\s*Blinds:\s*(.*)$", path.read_text(), re.M)
    return {item.strip() for line in lines for item in re.split(r"[,;]", line.split("(")[0]) if item.strip()}


def test_every_shipped_conf_keeps_what_the_rules_and_panels_read_or_says_what_it_blinds():
    assert CONFS and any("include" in props for conf in CONFS for props in sinks(conf).values())
    problems = {}
    for conf in CONFS:
        named = declared(conf)
        silent = {reader: names for reader, names in blinded(conf).items()
                  if reader not in named and reader.split(":")[0] not in named}
        if silent:
            problems[conf.name] = silent
    assert not problems, problems


def test_the_check_itself_sees_a_filter_that_blinds(tmp_path):
    """A conf keeping executor metrics only blinds the listener's rules and panels, and says
    nothing: the check names them."""
    conf = tmp_path / "narrow.properties"
    conf.write_text("*.sink.prom.class=io.sparkprom.RemoteWriteSink\n*.sink.prom.include=^spark_executor_\n")
    found = blinded(conf)
    assert "SparkJobFailed" in found and "SparkDiskFull" in found and "SparkpromNoData" in found
    assert any(reader.startswith("spark-jobs-and-stages:") for reader in found)
    assert "SparkpromDroppingSamples" not in found  # the sink's own series always go
