"""Series recorded from a real application in the real Prometheus, replayed by `promtool test
rules` where a case takes longer than a test can wait: a 30-minute absence, a 10-minute `for:`, a
receiver outage, a quiet night, a hung job.

A recording keeps every raw sample of the families the rules read, and whether each series ended
with a stale marker (a JVM that stopped) or just stopped (one that was killed). A replay places
recordings on promtool's clock (from 0), stretched or not, and changes only what the case is
about: a gap where the receiver was down, the series of JVMs killed at some moment, an
application frozen in one state (a hung job) for hours. Everything else is what the application
sent. Stretching scales time: timestamps, time-valued gauges (`*_time_seconds`,
`*_timestamp_seconds`), durations and rates, so a 40-second batch replays as a 400-second one."""
import re
import subprocess
from dataclasses import dataclass, field

import yaml

from .alerts import RULES, rules

# Gauges whose value is a moment (Unix time): they move with the replay's clock.
MOMENT = re.compile(r"_(time|timestamp)_seconds$")
# Gauges and counters of seconds spent: they stretch with it.
DURATION = re.compile(r"_seconds(_total|_sum)?$")
# Rates: they shrink as time stretches.
RATE = re.compile(r"_per_second$")
# What a frozen application's sink still reports going on: its sends succeed, running work ages.
ADVANCING = re.compile(r"^sparkprom_last_success_timestamp_seconds$|_running_longest_seconds$")


def read_by_rules():
    """The metric names the shipped rules read (histograms by their series' names)."""
    names = set()
    for _, rule in rules():
        names |= set(re.findall(r"\b((?:spark|sparkprom|node|container)_[a-zA-Z0-9_]+)\b", rule["expr"]))
    return sorted(names)


@dataclass
class Series:
    labels: dict
    samples: list  # [(unix time, value)]
    stale: bool  # ended with a stale marker (its JVM stopped) before the recording's end


@dataclass
class Recording:
    start: float
    end: float
    series: list = field(default_factory=list)

    def only(self, keep):
        """A copy with the series `keep(labels)` accepts."""
        return Recording(self.start, self.end, [s for s in self.series if keep(s.labels)])


def record(prometheus, selector, start, end):
    """Every raw sample in [start, end] of the rules' families matching `selector` (label
    matchers, e.g. `app_id="app-1"`), and for each series that stopped before `end` whether a
    stale marker ended it (an instant query just after its last sample no longer sees it)."""
    names = "|".join(read_by_rules())
    matchers = f'{{__name__=~"{names}",{selector}}}'
    window = int(end - start) + 1
    found = []
    for labels, samples in prometheus.raw_series(f"{matchers}[{window}s]", at=end):
        samples = [(t, v) for t, v in samples if t >= start]
        if samples:
            found.append(Series(labels, samples, False))
    # Series that stopped: seen or not a few seconds after their last sample (a stopping sink
    # sends its stale markers with its last report).
    for moment in sorted({s.samples[-1][0] for s in found if s.samples[-1][0] < end - 1}):
        seen = {_key(labels) for labels, _ in prometheus.query(matchers, at=min(moment + 5, end))}
        for s in found:
            if s.samples[-1][0] == moment and _key(s.labels) not in seen:
                s.stale = True
    return Recording(start, end, found)


def _key(labels):
    return tuple(sorted(labels.items()))


@dataclass
class Placed:
    """A recording on the replay's clock: real time `rec.start` is replay time `at`, and every
    real second lasts `stretch` replay seconds."""
    rec: Recording
    at: float = 0
    stretch: float = 1
    killed: dict = field(default_factory=dict)  # id(series) -> real time after which it is gone
    frozen: tuple = None  # (real time, replay time until): the application hangs there
    changes: list = field(default_factory=list)  # [(keep(labels), change(labels, replay time, value))]

    def when(self, t):
        return self.at + (t - self.rec.start) * self.stretch

    def value(self, name, v):
        if MOMENT.search(name):
            return self.when(v) if v > 0 else v
        if RATE.search(name):
            return v / self.stretch
        if DURATION.search(name) and not name.endswith("_bucket"):
            return v * self.stretch
        return v

    def kill(self, keep, after):
        """The series `keep(labels)` accepts stop after real time `after`, without stale markers."""
        for s in self.rec.series:
            if keep(s.labels):
                self.killed[id(s)] = after
        return self

    def change(self, keep, change):
        """The series `keep(labels)` accepts get `change(labels, replay time, value)` for each
        value: what the case is about (a disk filling up), on the series real JVMs sent."""
        self.changes.append((keep, change))
        return self

    def freeze(self, at, until):
        """From real time `at` on the application stays as it was then, reporting, until replay
        time `until`: its counters and Spark's event times stand still, its sink's last success
        and its running work's age go on."""
        self.frozen = (at, until)
        return self

    def points(self, s, interval):
        """[(replay time, value or None for a stale marker)] of one series."""
        changes = [change for keep, change in self.changes if keep(s.labels)]
        points = self._points(s, interval)
        for change in changes:
            points = [(t, v if v is None else change(s.labels, t, v)) for t, v in points]
        return points

    def _points(self, s, interval):
        name = s.labels["__name__"]
        out = []
        cut = self.killed.get(id(s))
        samples = [(t, v) for t, v in s.samples if cut is None or t <= cut]
        if self.frozen:
            at, until = self.frozen
            samples = [(t, v) for t, v in samples if t <= at]
            # Had ended before: stopped (its stale marker came before `at`), or silent since.
            if not samples or (s.stale and s.samples[-1][0] <= at) or s.samples[-1][0] < at - 10:
                out = [(self.when(t), self.value(name, v)) for t, v in samples]
                if s.stale and samples:  # as it did then: stopped with stale markers
                    out.append((self.when(samples[-1][0]) + 0.001, None))
                return out
            t0, v0 = samples[-1]
            start = self.when(t0)
            out = [(self.when(t), self.value(name, v)) for t, v in samples]
            step = start + interval
            while step <= until:
                held = self.value(name, v0)
                if ADVANCING.search(name) and v0 > 0:
                    held += step - start
                out.append((step, held))
                step += interval
            return out
        out = [(self.when(t), self.value(name, v)) for t, v in samples]
        if s.stale and (cut is None or s.samples[-1][0] <= cut):  # it had stopped before the kill
            out.append((self.when(s.samples[-1][0]) + 0.001, None))
        return out


def input_series(placed, interval, length, gaps=()):
    """promtool's input_series: each series' value at every `interval` of replay time up to
    `length` (its last sample of the interval; `_` for none, `stale` after a stale marker and
    before its first sample), nothing in the `gaps` [(from, to)] (the receiver was down)."""
    slots = int(length // interval) + 1
    merged = {}
    for p in placed:
        for s in p.rec.series:
            points = [(t, v) for t, v in p.points(s, interval)
                      if not any(a <= t <= b for a, b in gaps)]
            if points:
                merged.setdefault(_key(s.labels), []).extend(points)
    out = []
    for key, points in merged.items():
        points.sort(key=lambda tv: tv[0])
        values, i, first, carried = [], 0, None, False
        for slot in range(slots):
            now, here = slot * interval, []
            while i < len(points) and points[i][0] <= now:
                here.append(points[i][1])
                i += 1
            numbers = [v for v in here if v is not None]
            if first is None and len(numbers) > 1 and numbers[0] == 0 and values:
                # A new counter's first 0 (remote write 1.0 sends it a moment before its first
                # value) shares a slot with that value: it goes in the slot before, or increase()
                # would never see the counter start.
                values[-1] = "0.0"
            if here and here[-1] is None and numbers:
                # A stale marker in the slot of the series' last value: the value, then the marker.
                values.append(repr(float(numbers[-1])))
                carried = True
            elif numbers and here[-1] is not None:
                values.append(repr(float(numbers[-1])))
                carried = False
            elif here or carried or first is None:
                values.append("stale")
                carried = False
            else:
                values.append("_")
            if numbers and first is None:
                first = slot
        if first is None:
            continue
        labels = dict(key)
        name = labels.pop("__name__")
        text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        out.append({"series": f"{name}{{{text}}}", "values": " ".join(values)})
    return out


def _escape(value):
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


KEY = ("alertname", "app_id", "executor_id", "query", "spark_job")


def alerts_over(check, window, at, state="pending|firing"):
    """The promql of every alert pending or firing in the `window` before `at` (promtool keeps
    ALERTS' history), labelled with the check's number."""
    return {"expr": f'label_replace(count by ({", ".join(KEY)}) '
                    f'(max_over_time(ALERTS{{alertstate=~"{state}"}}[{window}])), "check", "{check}", "", "")',
            "eval_time": at}


def promtool_raised(tmp_path, name, series, interval, checks):
    """Runs promtool on the replay with the shipped rules; `checks` [(window, at[, state])]
    (promtool durations; alert states, pending|firing by default); returns for each check {(alertname, app_id, executor_id, query, spark_job)},
    what was raised (promtool says it when the expected list, here none, differs)."""
    tests = [{"interval": f"{interval}s", "input_series": series,
              "promql_expr_test": [{**alerts_over(i, *check), "exp_samples": []}
                                   for i, check in enumerate(checks)]}]
    path = tmp_path / f"{name}.test.yml"
    path.write_text(yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": f"{interval}s",
                                    "tests": tests}, width=1 << 20))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True)
    output = result.stdout + result.stderr
    if "error" in output.lower() and "FAILED" not in output:
        raise AssertionError(output[-3000:])
    found = {}
    for labels in re.findall(r"\{([^{}]*check=[^{}]*)\}", output):
        pairs = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', labels))
        found.setdefault(int(pairs["check"]), set()).add(tuple(pairs.get(k, "") for k in KEY))
    return [found.get(i, set()) for i in range(len(checks))]
