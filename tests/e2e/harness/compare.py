"""What two receivers kept of the same application, side by side: which series each kept, and the
answers of the same PromQL (e.g. the shipped dashboards' and alerts') at the same moment."""
import math


def _key(labels):
    return tuple(sorted(labels.items()))


def series_differences(a, b, range_selector, at):
    """The series of `range_selector` (e.g. `{app_id="..."}[10m]`) that one of the receivers a and
    b kept over that window ending at `at` and the other did not. [] when both kept the same."""
    kept_a = {_key(labels) for labels, _ in a.raw_series(range_selector, at)}
    kept_b = {_key(labels) for labels, _ in b.raw_series(range_selector, at)}
    return ([f"only {a} has {dict(key)}" for key in sorted(kept_a - kept_b)]
            + [f"only {b} has {dict(key)}" for key in sorted(kept_b - kept_a)])


def answers(receiver, promql, at, app_id=None):
    """{labels: value} of an instant query; with `app_id`, only the series of that application (and
    those of no application): a session's receiver keeps every earlier test's applications, and an
    alert rule's expression answers for all of them."""
    return {_key(labels): value for labels, value in receiver.query(promql, at)
            if app_id is None or labels.get("app_id", app_id) == app_id}


def _same(x, y, tolerance):
    if math.isnan(x) or math.isnan(y):
        return math.isnan(x) and math.isnan(y)
    return x == y if tolerance == 0 else abs(x - y) <= tolerance * max(abs(x), abs(y))


def answer_differences(a, b, expressions, at, tolerance=0.0, app_id=None):
    """Each of `expressions` whose answer at `at` differs between the receivers a and b: a series
    one answered and the other did not, or a value further apart than `tolerance` (relative; 0:
    identical; None: values not compared); with `app_id`, of that application's series only.
    [(expression, what differs)]; an expression one engine refuses is a difference."""
    found = []
    for promql in expressions:
        try:
            got_a, got_b = answers(a, promql, at, app_id), answers(b, promql, at, app_id)
        except Exception as e:  # a query error on either side is an answer that differs
            found.append((promql, f"query failed: {e}"))
            continue
        diffs = [f"only {a} answers {dict(k)}" for k in got_a.keys() - got_b.keys()]
        diffs += [f"only {b} answers {dict(k)}" for k in got_b.keys() - got_a.keys()]
        diffs += [f"{dict(k)}: {got_a[k]!r} != {got_b[k]!r}" for k in got_a.keys() & got_b.keys()
                  if tolerance is not None and not _same(got_a[k], got_b[k], tolerance)]
        if diffs:
            found.append((promql, "; ".join(sorted(diffs)[:3]) + (f" (+{len(diffs) - 3})" if len(diffs) > 3 else "")))
    return found


def refused_queries(receiver, expressions, at):
    """[(expression, error)] of the expressions the receiver's engine will not evaluate."""
    found = []
    for promql in expressions:
        try:
            receiver.query(promql, at)
        except Exception as e:  # any refusal: a parse error, an unsupported function, a limit
            found.append((promql, str(e)))
    return found
