# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The rollout's report, from its record: JSON, a self-contained HTML page and JUnit XML. Pure.

``build(record)`` turns the record the rollout keeps on its VirtualService (see rollout_record.py)
into the report's data (schema: docs/schemas/rollout-report.schema.json, version REPORT_VERSION);
``render_json``, ``render_html`` and ``render_junit`` give each file's text. Every output is a
function of the record alone, so the same record gives the same bytes (no "generated at" time):
a second run that finds nothing new changes no file.

The HTML page needs nothing from the network: its CSS is inline and its plots are SVG drawn here;
it runs no script. Every value from the record is escaped.
"""

from __future__ import annotations

import datetime
import html
import json
import re
import xml.etree.ElementTree as ET

from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout as R
from ansible_collections.rollouts.istio.plugins.module_utils._core import rollout_record as REC

REPORT_VERSION = 1
FORMATS = ("json", "html", "junit")

# The weight each action leaves the candidate with, for history entries written before they carried it.
_WEIGHT_OF_ACTION = {"start": 0, "restart": 0, "rollback": 0, "abort": 0, "retry": 0, "promote": 100,
                     "finalise": 100, "succeed": 100}
_TIME = re.compile(r"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:Z|\+00:00)?$")


def file_names(name):
    """The file of each format for rollout ``name``."""
    return {"json": "%s-rollout.json" % name, "html": "%s-rollout.html" % name, "junit": "%s-gates.junit.xml" % name}


def parse_time(text):
    """Seconds since the epoch of a record's UTC time (``2026-12-06T22:00:00.512Z``), or None."""
    match = _TIME.match(str(text or ""))
    if not match:
        return None
    parts = [int(g) for g in match.groups()[:6]]
    when = datetime.datetime(*parts, tzinfo=datetime.timezone.utc)
    fraction = float("0." + match.group(7)) if match.group(7) else 0.0
    return (when - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)).total_seconds() + fraction


# ---------------------------------------------------------------- the report's data

def _steps(record):
    return [{"step": i + 1, "weight": int(w)} for i, w in enumerate(record.get("steps") or [])]


def _weight_of_entry(entry, steps, last):
    if entry.get("weight") is not None:
        return entry["weight"]
    action = entry.get("action")
    if action == "step" and entry.get("step") and 0 < int(entry["step"]) <= len(steps):
        return steps[int(entry["step"]) - 1]["weight"]
    return _WEIGHT_OF_ACTION.get(action, last)


def _history(record):
    """The history of this rollout: from its start on (the record keeps earlier rollouts' too)."""
    history = [e for e in record.get("history") or [] if isinstance(e, dict)]
    starts = [i for i, e in enumerate(history) if e.get("action") == "start"]
    return history[starts[-1]:] if starts else history


def _timeline(record, steps):
    out, last = [], 0
    for entry in _history(record):
        weight = _weight_of_entry(entry, steps, last)
        last = weight
        item = {"time": entry.get("time"), "action": entry.get("action"), "phase": entry.get("phase"),
                "step": entry.get("step"), "weight": weight, "run": entry.get("run")}
        for key in ("why", "revision", "revision_before"):
            if entry.get(key):
                item[key] = entry[key]
        out.append(item)
    return out


def _weights(timeline, record):
    """Every change of the candidate's weight, with its time: the history's, then the record's last write."""
    out, last = [], None
    for entry in timeline:
        if entry["weight"] is not None and entry["weight"] != last:
            out.append({"time": entry["time"], "candidate": entry["weight"], "stable": 100 - entry["weight"],
                        "action": entry["action"], "step": entry["step"]})
            last = entry["weight"]
    weight = record.get("weight")
    if weight is not None and weight != last:
        # The history keeps the last 50 phase changes; a step within a phase may be newer than them.
        out.append({"time": record.get("updated"), "candidate": weight, "stable": 100 - weight, "action": "step",
                    "step": record.get("step")})
    return out


def _runs(record):
    runs, order = {}, []
    for entry in _history(record):
        run = entry.get("run") or "(unknown)"
        if run not in runs:
            runs[run] = {"run": run, "first": entry.get("time"), "last": entry.get("time"), "actions": []}
            order.append(run)
        runs[run]["last"] = entry.get("time")
        if entry.get("action") not in runs[run]["actions"]:
            runs[run]["actions"].append(entry.get("action"))
    return [runs[r] for r in order]


def _checks_of(decision):
    analysis = decision.get("analysis")
    if not isinstance(analysis, dict):
        return [], [], 0
    metrics = [dict(m) for m in analysis.get("metrics") or []]
    fields = analysis.get("fields") or list(REC.CHECK_FIELDS)
    checks = []
    for row in analysis.get("checks") or []:
        cell = dict(zip(fields, row))
        metric = metrics[cell["metric"]] if isinstance(cell.get("metric"), int) and cell["metric"] < len(metrics) \
            else {"name": str(cell.get("metric"))}
        checks.append({"metric": metric.get("name"), "iteration": cell.get("iteration"),
                       "attempt": cell.get("attempt"), "time": cell.get("time"), "value": cell.get("value"),
                       "min": metric.get("min"), "max": metric.get("max"), "verdict": cell.get("verdict"),
                       "note": cell.get("note")})
    return metrics, checks, analysis.get("checks_left_out") or 0


def _gates(record):
    out = []
    for index, decision in enumerate(record.get("decisions") or []):
        metrics, checks, left_out = _checks_of(decision)
        values = decision.get("values") if isinstance(decision.get("values"), dict) else {}
        out.append({"index": index + 1, "time": decision.get("time"), "verdict_time": decision.get("verdict_time") or None,
                    "step": decision.get("step"), "weight": decision.get("weight"), "gate": decision.get("gate") or "",
                    "verdict": decision.get("verdict") or "", "reason": decision.get("reason") or "",
                    "failed_checks": values.get("failed_checks"), "split": values.get("split") or {},
                    "metrics": metrics, "checks": checks, "checks_left_out": left_out})
    return out


def _outcome(record):
    phase = record.get("phase")
    if phase == R.SUCCEEDED:
        when = record.get("promoted") or record.get("updated")
        return {"phase": phase, "result": "promoted",
                "reason": "promoted %s at %s" % (record.get("candidate"), when)}
    if phase == R.FAILED:
        return {"phase": phase, "result": "rolled back",
                "reason": record.get("message") or "rolled back (no reason recorded)"}
    if phase == R.ABORTED:
        return {"phase": phase, "result": "aborted", "reason": record.get("message") or "aborted (no reason recorded)"}
    if phase == R.WAITING_APPROVAL:
        # What the approver reads first: where traffic is, and that every gate so far passed.
        return {"phase": phase, "result": "waiting for approval",
                "reason": "waiting for approval at step %s (%s %% on candidate %s): the gates so far passed"
                          % (record.get("step"), record.get("weight"), record.get("candidate"))}
    reason = "%s at step %s (%s %% on the candidate)" % (phase, record.get("step"), record.get("weight"))
    if record.get("message"):
        reason += ": " + record["message"]
    return {"phase": phase, "result": "in progress", "reason": reason}


def build(record, namespace=None, virtual_service=None):
    """The report's data from a rollout record (what docs/schemas/rollout-report.schema.json describes)."""
    steps = _steps(record)
    timeline = _timeline(record, steps)
    return {
        "version": REPORT_VERSION,
        "name": record.get("name"),
        "namespace": namespace,
        "virtual_service": virtual_service,
        "versions": {"stable": record.get("stable"), "candidate": record.get("candidate"),
                     "previous": record.get("previous_stable")},
        "strategy": record.get("strategy"),
        "steps": steps,
        "phase": record.get("phase"),
        "step": record.get("step"),
        "weight": record.get("weight"),
        "started": record.get("started"),
        "updated": record.get("updated"),
        "revision": record.get("revision"),
        "promoted_revision": record.get("promoted_revision"),
        "failed_checks": record.get("failed_checks"),
        "runs": _runs(record),
        "timeline": timeline,
        "weights": _weights(timeline, record),
        "gates": _gates(record),
        "outcome": _outcome(record),
        "bounds": {"decisions": REC.KEEP_DECISIONS, "history": REC.KEEP_HISTORY, "checks_per_decision": REC.KEEP_CHECKS,
                   "query_chars": REC.QUERY_CHARS, "record_bytes": REC.RECORD_BYTES},
    }


def render_json(report):
    return json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------- HTML

_CSS = """
body{font-family:"DejaVu Sans",Arial,sans-serif;margin:24px;color:#1d2330;background:#fff}
h1{font-size:22px;margin:0 0 8px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d5d9e0}
.outcome{font-size:18px;padding:12px 16px;border-radius:6px;margin:12px 0}
.outcome.promoted{background:#e3f6e8;border:1px solid #2e9e4f}
.outcome.rolled-back,.outcome.aborted{background:#fdeaea;border:1px solid #c62828}
.outcome.in-progress,.outcome.waiting-for-approval{background:#fff6e0;border:1px solid #c98a00}
.meta td{padding:2px 12px 2px 0}table{border-collapse:collapse}
table.verdicts td,table.verdicts th{border:1px solid #d5d9e0;padding:4px 8px;text-align:left;vertical-align:top}
tr.verdict-fail td{background:#fdeaea}tr.verdict-pass td{background:#f1faf3}
ol.timeline{list-style:none;padding:0;border-left:3px solid #8aa0c8;margin-left:8px}
ol.timeline li{margin:0 0 6px;padding-left:12px;position:relative}
ol.timeline li:before{content:"";position:absolute;left:-8px;top:5px;width:11px;height:11px;border-radius:6px;background:#8aa0c8}
ol.timeline li.action-rollback:before,ol.timeline li.action-abort:before{background:#c62828}
ol.timeline li.action-succeed:before,ol.timeline li.action-promote:before{background:#2e9e4f}
ul.plan{list-style:none;padding:0;display:flex;gap:8px;flex-wrap:wrap}
ul.plan li{border:1px solid #8aa0c8;border-radius:4px;padding:4px 10px}
ul.plan li.status-passed{background:#e3f6e8}ul.plan li.status-failed{background:#fdeaea}
code.query{display:block;white-space:pre-wrap;word-break:break-all;font-size:12px;background:#f4f6f9;padding:6px}
figure{margin:12px 0}figcaption{font-weight:bold;margin-bottom:4px}
.muted{color:#5d6675}
"""

_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 960, 240, 76, 36, 16, 36


def _esc(value):
    return html.escape("" if value is None else str(value), quote=True)


def _num(value):
    """A number as SVG and data attributes show it."""
    if value is None:
        return ""
    text = "%.4f" % float(value)
    return text.rstrip("0").rstrip(".") if "." in text else text


def _span(values):
    values = [v for v in values if v is not None]
    if not values:
        return 0.0, 1.0
    low, high = min(values), max(values)
    if high - low < 1e-9:
        return low - 1.0, high + 1.0
    return low, high


class _Axes(object):
    """Maps (time, value) to SVG coordinates of one plot."""

    def __init__(self, t_span, v_span):
        self.t0, self.t1 = t_span
        self.v0, self.v1 = v_span

    def x(self, t):
        return _PAD_L + (t - self.t0) / (self.t1 - self.t0) * (_W - _PAD_L - _PAD_R)

    def y(self, v):
        return _PAD_T + (self.v1 - v) / (self.v1 - self.v0) * (_H - _PAD_T - _PAD_B)


def _frame(axes, y_label, t_origin):
    parts = ['<rect x="%d" y="%d" width="%d" height="%d" fill="#fbfcfe" stroke="#b8c0cc"/>'
             % (_PAD_L, _PAD_T, _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B)]
    for i in range(5):
        v = axes.v0 + (axes.v1 - axes.v0) * i / 4.0
        y = axes.y(v)
        parts.append('<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#e3e7ee"/>' % (_PAD_L, y, _W - _PAD_R, y))
        parts.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#5d6675">%s</text>'
                     % (_PAD_L - 4, y + 4, _esc("%.4g" % v)))
    for i in range(5):
        t = axes.t0 + (axes.t1 - axes.t0) * i / 4.0
        parts.append('<text x="%.1f" y="%d" font-size="11" text-anchor="middle" fill="#5d6675">+%ss</text>'
                     % (axes.x(t), _H - _PAD_B + 16, _esc(_num(round(t - t_origin, 1)))))
    parts.append('<text x="12" y="%d" font-size="11" text-anchor="middle" fill="#5d6675" '
                 'transform="rotate(-90 12 %d)">%s</text>' % (_H // 2, _H // 2, _esc(y_label)))
    return parts


def _svg(plot_id, title, parts):
    return ('<svg id="%s" class="plot" xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" '
            'role="img" aria-label="%s">%s</svg>' % (_esc(plot_id), _W, _H, _W, _H, _esc(title), "".join(parts)))


def _time_span(report):
    times = [parse_time(w["time"]) for w in report["weights"]]
    times += [parse_time(c["time"]) for g in report["gates"] for c in g["checks"]]
    times += [parse_time(report.get("started")), parse_time(report.get("updated"))]
    times = [t for t in times if t is not None]
    if not times:
        return 0.0, 1.0
    low, high = min(times), max(times)
    return (low, high) if high - low > 1e-6 else (low - 1.0, high + 1.0)


def _weights_plot(report, t_span):
    axes = _Axes(t_span, (0.0, 100.0))
    parts = _frame(axes, "candidate weight %", t_span[0])
    points = [(parse_time(w["time"]), w["candidate"], w) for w in report["weights"]]
    points = [p for p in points if p[0] is not None]
    path, last_y = [], None
    for t, weight, _entry in points:
        x, y = axes.x(t), axes.y(weight)
        if last_y is None:
            path.append("M%.1f %.1f" % (x, y))
        else:
            path.append("H%.1f V%.1f" % (x, y))
        last_y = y
    if points:
        path.append("H%.1f" % axes.x(t_span[1]))
    parts.append('<path class="series" data-series="candidate-weight" d="%s" fill="none" stroke="#3461c1" '
                 'stroke-width="2.5"/>' % _esc(" ".join(path)))
    for t, weight, w in points:
        parts.append('<circle class="point" data-series="candidate-weight" data-weight="%s" data-action="%s" '
                     'data-time="%s" cx="%.1f" cy="%.1f" r="4" fill="#3461c1"><title>%s: %s %% (%s)</title></circle>'
                     % (_esc(weight), _esc(w["action"]), _esc(w["time"]), axes.x(t), axes.y(weight),
                        _esc(w["time"]), _esc(weight), _esc(w["action"])))
    return _svg("weights-plot", "the candidate's weight over time", parts)


def _metric_series(report):
    """{metric: {"checks": [...], "min": set, "max": set, "queries": [...]}} in the order first seen."""
    out = {}
    for gate in report["gates"]:
        for metric in gate["metrics"]:
            entry = out.setdefault(metric.get("name"), {"checks": [], "min": [], "max": [], "queries": []})
            for key in ("min", "max"):
                if metric.get(key) is not None and metric[key] not in entry[key]:
                    entry[key].append(metric[key])
            if metric.get("query") and metric["query"] not in entry["queries"]:
                entry["queries"].append(metric["query"])
        for check in gate["checks"]:
            out.setdefault(check["metric"], {"checks": [], "min": [], "max": [], "queries": []})["checks"].append(
                dict(check, gate=gate["index"], step=gate["step"]))
    return out


_VERDICT_COLOUR = {"pass": "#2e9e4f", "fail": "#c62828", "skip": "#8a8f98", "wait": "#c98a00", "error": "#6a1b9a"}


def _metric_plot(name, series, t_span, index):
    values = [c["value"] for c in series["checks"] if c["value"] is not None] + series["min"] + series["max"]
    low, high = _span(values)
    margin = (high - low) * 0.1
    # A metric that is never negative (a rate, a latency) gets no axis below 0.
    bottom = low - margin if low < 0 or low - margin >= 0 else 0
    axes = _Axes(t_span, (bottom, high + margin))
    parts = _frame(axes, name, t_span[0])
    for kind in ("min", "max"):
        for bound in series[kind]:
            y = axes.y(bound)
            parts.append('<line class="threshold" data-metric="%s" data-kind="%s" data-value="%s" x1="%d" y1="%.1f" '
                         'x2="%d" y2="%.1f" stroke="#c62828" stroke-dasharray="6 4" stroke-width="1.5"/>'
                         % (_esc(name), kind, _esc(_num(bound)), _PAD_L, y, _W - _PAD_R, y))
            parts.append('<text x="%d" y="%.1f" font-size="11" text-anchor="end" fill="#c62828">%s %s</text>'
                         % (_W - _PAD_R - 4, y - 4, kind, _esc(_num(bound))))
    measured = [(parse_time(c["time"]), c) for c in series["checks"]]
    measured = [(t, c) for t, c in measured if t is not None]
    line = " ".join("%.1f,%.1f" % (axes.x(t), axes.y(c["value"])) for t, c in measured if c["value"] is not None)
    parts.append('<polyline class="series" data-metric="%s" points="%s" fill="none" stroke="#3461c1" '
                 'stroke-width="1.5"/>' % (_esc(name), line))
    for t, c in measured:
        value = c["value"]
        y = axes.y(value) if value is not None else _H - _PAD_B - 4
        parts.append('<circle class="point verdict-%s" data-metric="%s" data-value="%s" data-verdict="%s" '
                     'data-step="%s" cx="%.1f" cy="%.1f" r="4" fill="%s"><title>%s step %s check %s: %s %s%s</title>'
                     '</circle>'
                     % (_esc(c["verdict"]), _esc(name), _esc(_num(value)), _esc(c["verdict"]), _esc(c["step"]),
                        axes.x(t), y, _VERDICT_COLOUR.get(c["verdict"], "#333"), _esc(c["time"]), _esc(c["step"]),
                        _esc(c["iteration"]), "no data" if value is None else _esc(_num(value)), _esc(c["verdict"]),
                        (" (%s)" % _esc(c["note"])) if c.get("note") else ""))
    return _svg("metric-plot-%d" % index, "%s against its threshold" % name, parts)


def _plan_status(report):
    status = {}
    for gate in report["gates"]:
        if gate["step"] is None:
            continue
        key = str(gate["step"])
        status[key] = "failed" if gate["verdict"] == "fail" else status.get(key, "passed")
    reached = [str(e["step"]) for e in report["timeline"] if e["action"] == "step"]
    return status, reached


def render_html(report):
    """One self-contained page: the outcome in words, the steps, the weights and each metric as SVG plots,
    the verdicts. No script, no fetch."""
    name = report.get("name")
    versions = report["versions"]
    outcome = report["outcome"]
    out = ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">',
           '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; style-src \'unsafe-inline\'; '
           'img-src data:">',
           '<title>rollout %s: %s</title>' % (_esc(name), _esc(outcome["result"])),
           '<style>%s</style></head><body>' % _CSS]
    release = "%s -> %s" % (versions.get("previous") or versions.get("stable"), versions.get("candidate"))
    out.append('<h1 id="title">rollout %s <span class="muted">(%s, %s)</span></h1>'
               % (_esc(name), _esc(release), _esc(report.get("strategy"))))
    out.append('<p id="outcome" class="outcome %s" data-phase="%s" data-result="%s"><strong>%s</strong>: %s</p>'
               % (_esc(outcome["result"].replace(" ", "-")), _esc(outcome["phase"]), _esc(outcome["result"]),
                  _esc(outcome["result"].capitalize()), _esc(outcome["reason"])))
    out.append('<table class="meta" id="summary"><tbody>')
    rows = [("namespace", report.get("namespace")), ("VirtualService", report.get("virtual_service")),
            ("stable", versions.get("stable")), ("candidate", versions.get("candidate")),
            ("previous stable", versions.get("previous")), ("phase", report.get("phase")),
            ("step", report.get("step")), ("candidate weight", report.get("weight")),
            ("started", report.get("started")), ("last written", report.get("updated")),
            ("revision", report.get("revision")), ("failed checks", report.get("failed_checks")),
            ("runs", ", ".join(r["run"] for r in report["runs"]))]
    for label, value in rows:
        if value not in (None, ""):
            out.append('<tr><td class="muted">%s</td><td data-field="%s">%s</td></tr>'
                       % (_esc(label), _esc(label.replace(" ", "-")), _esc(value)))
    out.append('</tbody></table>')

    status, reached = _plan_status(report)
    out.append('<section id="steps"><h2>Steps</h2><ul class="plan" id="plan">')
    for step in report["steps"]:
        key = str(step["step"])
        state = status.get(key) or ("reached" if key in reached else "not-reached")
        out.append('<li class="step status-%s" data-step="%s" data-weight="%s">step %s: %s %%<br>'
                   '<span class="muted">%s</span></li>'
                   % (state, _esc(key), _esc(step["weight"]), _esc(key), _esc(step["weight"]),
                      _esc(state.replace("-", " "))))
    out.append('</ul><ol class="timeline" id="timeline">')
    for entry in report["timeline"]:
        extra = (" (%s)" % entry["why"]) if entry.get("why") else ""
        out.append('<li class="event action-%s" data-action="%s" data-step="%s" data-weight="%s">'
                   '<span class="muted">%s</span> <strong>%s</strong> &rarr; %s, step %s, candidate %s %%%s'
                   '<br><span class="muted">by %s</span></li>'
                   % (_esc(entry["action"]), _esc(entry["action"]), _esc(entry["step"]), _esc(entry["weight"]),
                      _esc(entry["time"]), _esc(entry["action"]), _esc(entry["phase"]), _esc(entry["step"]),
                      _esc(entry["weight"]), _esc(extra), _esc(entry["run"])))
    out.append('</ol></section>')

    t_span = _time_span(report)
    out.append('<section id="weights"><h2>Weights over time</h2>')
    out.append(_weights_plot(report, t_span))
    out.append('<table class="verdicts" id="weights-table"><thead><tr><th>time</th><th>action</th><th>step</th>'
               '<th>stable %</th><th>candidate %</th></tr></thead><tbody>')
    for w in report["weights"]:
        out.append('<tr class="weight"><td>%s</td><td>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>'
                   % (_esc(w["time"]), _esc(w["action"]), _esc(w["step"]), _esc(w["stable"]), _esc(w["candidate"])))
    out.append('</tbody></table></section>')

    out.append('<section id="metrics"><h2>Metrics against their thresholds</h2>')
    series = _metric_series(report)
    if not series:
        out.append('<p class="muted" id="no-metrics">No metric check is in the record.</p>')
    for index, (metric, data) in enumerate(series.items()):
        bounds = ", ".join(["min %s" % _num(v) for v in data["min"]] + ["max %s" % _num(v) for v in data["max"]])
        out.append('<figure class="metric" data-metric="%s"><figcaption>%s <span class="muted">(%s; %d checks)'
                   '</span></figcaption>' % (_esc(metric), _esc(metric), _esc(bounds or "no bound"),
                                             len(data["checks"])))
        out.append(_metric_plot(metric, data, t_span, index + 1))
        for query in data["queries"]:
            out.append('<code class="query" data-metric="%s">%s</code>' % (_esc(metric), _esc(query)))
        out.append('</figure>')
    out.append('</section>')

    out.append('<section id="verdicts"><h2>Verdicts</h2><table class="verdicts" id="verdicts-table"><thead><tr>'
               '<th>#</th><th>time</th><th>step</th><th>weight</th><th>gate</th><th>verdict</th><th>reason</th>'
               '<th>checks</th></tr></thead><tbody>')
    for gate in report["gates"]:
        checks = "; ".join("%s #%s: %s %s" % (c["metric"], c["iteration"], _shown(c["value"]), c["verdict"])
                           for c in gate["checks"])
        if gate["checks_left_out"]:
            checks = "(%d earlier checks not kept) " % gate["checks_left_out"] + checks
        out.append('<tr class="gate verdict-%s" data-step="%s" data-verdict="%s"><td>%s</td><td>%s</td><td>%s</td>'
                   '<td>%s</td><td>%s</td><td class="verdict">%s</td><td class="reason">%s</td><td>%s</td></tr>'
                   % (_esc(gate["verdict"]), _esc(gate["step"]), _esc(gate["verdict"]), _esc(gate["index"]),
                      _esc(gate["time"]), _esc(gate["step"]), _esc(gate["weight"]), _esc(gate["gate"]),
                      _esc(gate["verdict"]), _esc(gate["reason"]), _esc(checks)))
    out.append('</tbody></table></section>')
    out.append('<p class="muted" id="footer">Written by rollouts.istio.rollout_report from the record on '
               'VirtualService %s/%s (report version %d).</p>'
               % (_esc(report.get("namespace")), _esc(report.get("virtual_service")), REPORT_VERSION))
    out.append('</body></html>')
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------- JUnit XML

def _gate_seconds(gate):
    times = [parse_time(c["time"]) for c in gate["checks"]] + [parse_time(gate.get("verdict_time"))]
    times = [t for t in times if t is not None]
    return max(times) - min(times) if len(times) > 1 else 0.0


def _shown(value):
    return "no data" if value is None else _num(value)


def _check_line(check):
    return "%s %s #%s.%s: %s (min %s, max %s) %s%s" % (
        check["time"], check["metric"], check["iteration"], check["attempt"], _shown(check["value"]),
        _num(check["min"]) or "-", _num(check["max"]) or "-", check["verdict"],
        (" (%s)" % check["note"]) if check["note"] else "")


def render_junit(report):
    """One testsuite per rollout, one testcase per gate decision; a failed one carries the reason."""
    gates = report["gates"]
    failures = [g for g in gates if g["verdict"] == "fail"]
    suites = ET.Element("testsuites", {"name": "rollouts.istio", "tests": str(len(gates)),
                                       "failures": str(len(failures)), "errors": "0"})
    release = "%s -> %s" % (report["versions"].get("previous") or report["versions"].get("stable"),
                            report["versions"].get("candidate"))
    suite = ET.SubElement(suites, "testsuite", {
        "name": "rollout %s (%s)" % (report.get("name"), release), "tests": str(len(gates)),
        "failures": str(len(failures)), "errors": "0", "skipped": "0",
        "timestamp": str(report.get("started") or ""),
        "time": "%.3f" % sum(_gate_seconds(g) for g in gates)})
    props = ET.SubElement(suite, "properties")
    for key, value in (("phase", report.get("phase")), ("outcome", report["outcome"]["result"]),
                       ("reason", report["outcome"]["reason"]), ("strategy", report.get("strategy")),
                       ("stable", report["versions"].get("stable")), ("candidate", report["versions"].get("candidate"))):
        ET.SubElement(props, "property", {"name": key, "value": "" if value is None else str(value)})
    for gate in gates:
        case = ET.SubElement(suite, "testcase", {
            "classname": "rollouts.istio.%s.step%s" % (report.get("name"), gate["step"]),
            "name": "%02d step %s (%s %%): %s" % (gate["index"], gate["step"], gate["weight"], gate["gate"] or "gate"),
            "time": "%.3f" % _gate_seconds(gate)})
        lines = [_check_line(c) for c in gate["checks"]]
        if gate["verdict"] == "fail":
            failure = ET.SubElement(case, "failure", {"message": gate["reason"], "type": "gate"})
            failure.text = "\n".join([gate["reason"]] + lines)
        if lines:
            ET.SubElement(case, "system-out").text = "\n".join(lines)
    if hasattr(ET, "indent"):  # Python 3.9 and later; the XML is the same without, on one line
        ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def render(report, fmt):
    return {"json": render_json, "html": render_html, "junit": render_junit}[fmt](report)
