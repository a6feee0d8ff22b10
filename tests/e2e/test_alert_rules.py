"""The alert rules in spark-conf/alerts: valid for promtool, every alert covered by a
`promtool test rules` case that passes, and every metric they read one that sparkprom exports."""
import re
import subprocess

import yaml

from harness.paths import RELEASE, REPO

ALERTS = REPO / "spark-conf" / "alerts"
RULES = ALERTS / "sparkprom-alerts.yml"
TESTS = ALERTS / "sparkprom-alerts.test.yml"


def test_rules_pass_promtool_check_and_their_unit_tests():
    check = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    test = subprocess.run(["promtool", "test", "rules", TESTS.name], cwd=ALERTS, capture_output=True, text=True)
    assert test.returncode == 0 and "SUCCESS" in test.stdout, test.stdout + test.stderr


def test_every_alert_has_a_case_that_expects_it_to_fire():
    alerts = set(re.findall(r"^\s*- alert: (\w+)", RULES.read_text(), re.M))
    # A case with a non-empty exp_alerts list for the alert.
    firing = set(re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", TESTS.read_text()))
    assert alerts and alerts == firing, (alerts - firing, firing - alerts)


def test_alerts_read_only_metrics_sparkprom_exports():
    # Every rule's whole expression, multi-line ones included.
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    expressions = "\n".join(rule["expr"] for rule in rules)
    used = set(re.findall(r"\b((?:spark|sparkprom|node|container)_[a-zA-Z0-9_]+)\b", expressions))
    # Spark, sink, node, container and process metrics: the reference (generated from real runs
    # and from the node readers' declarations). /proc/meminfo's fields: what the sink's collector
    # reads on this machine.
    reference = (REPO / "docs" / "metrics-reference.md").read_text()
    node_output = subprocess.run([str(RELEASE / "examples" / "node_stats")], capture_output=True, text=True,
                                 check=True).stdout
    node_names = set(re.findall(r"^(\w+)", node_output, re.M))
    # A histogram's series are documented by its family's name.
    family = lambda name: re.sub(r"_(bucket|count|sum)$", "", name)  # noqa: E731
    unknown = [name for name in sorted(used) if f"`{name}`" not in reference and f"`{family(name)}`" not in reference
               and name not in node_names]
    assert used and not unknown, unknown


def test_every_alert_links_its_runbook_and_docs_have_its_row():
    """runbook_url (what Grafana and Alertmanager's templates link) is the rule's section of
    docs/alerts.md, which has the section and a table row saying when it fires and what shows it."""
    rules = [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]
    doc = (REPO / "docs" / "alerts.md").read_text()
    for rule in rules:
        name, annotations = rule["alert"], rule["annotations"]
        assert set(annotations) == {"summary", "description", "runbook", "runbook_url"}, name
        assert annotations["runbook_url"].endswith(f"/docs/alerts.md#{name.lower()}"), name
        assert f"\n### {name}\n" in doc, name
        assert re.search(rf"^\| \[{name}\]\(#{name.lower()}\) \| {rule['labels']['severity']} \|", doc, re.M), name


def test_summaries_say_which_job_stage_query_or_disk():
    """An alert whose labels name a job, stage, query or mountpoint (as its promtool cases expect
    them) says it in its summary, with the application."""
    rules = {rule["alert"]: rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]}
    cases = yaml.safe_load(TESTS.read_text())["tests"]
    for case in cases:
        for check in case.get("alert_rule_test", []):
            summary = rules[check["alertname"]]["annotations"]["summary"]
            for alert in check.get("exp_alerts", []):
                for label in ("spark_job", "stage", "query", "mountpoint", "executor_id", "app_id"):
                    if label in alert["exp_labels"] and not (label == "executor_id" and alert["exp_labels"][label] == "driver"):
                        assert f"$labels.{label}" in summary, (check["alertname"], label)
