#!/usr/bin/env python3
"""Writes amp/<dashboard>.json for each dashboard here: the same dashboard for Grafana's Amazon
Managed Service for Prometheus data source (plugin type grafana-amazonprometheus-datasource, which
Grafana 13 migrates SigV4 Prometheus data sources to). A datasource variable lists one plugin type
only, so a dashboard made for `prometheus` offers no AMP data source. `--check` compares instead
of writing (the tests run it).

Usage: python3 spark-conf/dashboards/amp_variants.py [--check]
"""
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
AMP_TYPE = "grafana-amazonprometheus-datasource"


def retype(node):
    """Every data source reference of type prometheus, made the AMP plugin's."""
    if isinstance(node, dict):
        if node.get("type") == "prometheus" and "uid" in node:
            node = {**node, "type": AMP_TYPE}
        return {key: retype(value) for key, value in node.items()}
    if isinstance(node, list):
        return [retype(value) for value in node]
    return node


def variant(dashboard):
    amp = retype(dashboard)
    for variable in amp["templating"]["list"]:
        if variable["type"] == "datasource":
            variable["query"] = AMP_TYPE
            variable["label"] = "Amazon Managed Prometheus"
    amp["title"] = dashboard["title"] + " (AMP)"
    amp["uid"] = dashboard["uid"] + "-amp"
    return json.dumps(amp, indent=2, ensure_ascii=False) + "\n"


def main():
    stale = []
    for path in sorted(HERE.glob("*.json")):
        text = variant(json.loads(path.read_text()))
        target = HERE / "amp" / path.name
        if "--check" in sys.argv:
            if not target.exists() or target.read_text() != text:
                stale.append(target.name)
        else:
            target.parent.mkdir(exist_ok=True)
            target.write_text(text)
    if stale:
        sys.exit(f"amp/ is not generated from the dashboards ({', '.join(stale)}): run python3 {Path(__file__).name}")


if __name__ == "__main__":
    main()
