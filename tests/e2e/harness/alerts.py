"""The shipped alert rules against real applications: which alerts an application raised in the
real Prometheus (ALERTS, pending or firing, as its rule manager evaluated them), and which it
will raise until some later time (every rule's expression evaluated at the times still to come:
nothing of an application that ended arrives any more, so those evaluations are the ones
Prometheus will make)."""
import json
import time
import urllib.parse
import urllib.request

import yaml

from .paths import REPO

RULES = REPO / "spark-conf" / "alerts" / "sparkprom-alerts.yml"


def rules():
    """[(alert name, its rule)] in the file's order."""
    return [(rule["alert"], rule) for group in yaml.safe_load(RULES.read_text())["groups"]
            for rule in group["rules"]]


def _range(prometheus, promql, start, end, step):
    params = urllib.parse.urlencode({"query": promql, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(f"{prometheus.url}/api/v1/query_range?{params}", timeout=60) as r:
        body = json.load(r)
    if body.get("status") != "success":
        raise RuntimeError(f"query {promql!r} failed: {body}")
    return body["data"]["result"]


def _key(labels):
    return tuple(sorted((k, v) for k, v in labels.items() if k not in ("__name__", "alertstate")))


# A pending alert shorter than this, over while its application still ran, is a blip: a rule that
# compares two series evaluated between the requests that brought them (a large report is split),
# which its `for:` keeps from firing.
BLIP = 10


def _blips(values, step, ended_at):
    """Whether every stretch of an alert's ALERTS samples is a blip."""
    times = [float(t) for t, _ in values]
    stretches, first = [], times[0]
    for before, after in zip(times, times[1:]):
        if after - before > 1.5 * step:
            stretches.append((first, before))
            first = after
    stretches.append((first, times[-1]))
    return all(last - first < BLIP and last < ended_at - 2 * step for first, last in stretches)


def raised(prometheus, app_id, start, until, step=5, ended_at=None):
    """{alert name: [labels]} of every alert about `app_id` pending or firing at some time in
    [start, until]: from ALERTS up to now, and each rule's expression from now to `until`. With
    `ended_at` (when the application ended), an alert of a rule with a `for:` that was only ever
    pending in blips (BLIP) is left out: Prometheus never fires it."""
    now = time.time()
    found = {}
    shipped = rules()
    holds = {name for name, rule in shipped if rule.get("for")}
    if start < now:
        for state in ("firing", "pending"):
            selector = f'ALERTS{{app_id="{app_id}",alertstate="{state}"}}'
            for item in _range(prometheus, selector, start, min(until, now), step):
                name = item["metric"]["alertname"]
                if state == "pending" and ended_at is not None and name in holds and _blips(item["values"], step, ended_at):
                    continue
                found.setdefault(name, set()).add(_key(item["metric"]))
    if until > now:
        for name, rule in shipped:
            for item in _range(prometheus, rule["expr"], now, until, step):
                if item["metric"].get("app_id") == app_id:
                    found.setdefault(name, set()).add(_key(item["metric"]))
    return {name: [dict(key) for key in sorted(keys)] for name, keys in found.items()}
