# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The plan of a rollout: every option of the shift_traffic role checked, and the steps it takes. Pure.

The role hands its variables (without the ``shift_traffic_`` prefix) to the module
rollouts.istio.rollout_plan before anything is written, and reads every name, weight, match and gate
of the rollout from the answer. So a typo in the tenth variable fails the run before the first weight
moves, and the message names the variable as the user wrote it (``param_prefix`` + option), for example
``shift_traffic_steps[2]: must be above the step before (50), got 40``.

The strategies, as steps (each followed by its gate) and a promotion to 100 %:

* ``weights``: one step per entry of ``weights`` (0..100, in any order); a last entry of 100 is the promotion.
* ``canary``: ``steps`` (strictly increasing, 1..100), or ``step_weight``, 2 x ``step_weight`` ... up to
  ``max_weight`` (Flagger's stepWeight / maxWeight); a last step of 100 is the promotion.
* ``blue_green``: one step at weight 0 in which requests with the preview header
  ``x-rollouts-istio-preview: <candidate>`` reach the candidate (or, with ``mirror_percent``, a copy of
  that share of the traffic), then the promotion.
* ``ab_test``: one step at weight 0 in which the requests that ``match`` reach the candidate, then the promotion.

Every gate is ``prometheus_check`` with ``until_passed`` (Flagger's threshold): ``iterations`` passed
checks per step, ``threshold`` failed checks over the whole rollout.
"""

from __future__ import annotations

import json
import re

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import (
    build_config,
    format_number,
    metric_query,
    parse_duration,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import (
    check_dns_label,
    check_dns_subdomain,
    check_number,
)
from ansible_collections.rollouts.istio.plugins.module_utils._core.probe import check_options as check_probe_options
from ansible_collections.rollouts.istio.plugins.module_utils._core.release import release
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import TOTAL_WEIGHT, is_integer

STRATEGIES = ("weights", "canary", "blue_green", "ab_test")
APPROVALS = ("none", "before_promotion", "every_step")
APPROVAL_MODES = ("pause", "split")
ON_FAILURE = ("rollback", "freeze", "gradual")
FINALISE = ("scale_down", "delete", "keep")
ANALYZE = ("auto", "true", "false")
DEFAULT_PREFIX = "shift_traffic_"
DEFAULT_STEPS = (10, 50, 100)
DEFAULT_METRICS = ({"name": "request-success-rate", "min": 99}, {"name": "request-duration", "max": 500})
# The header that sends a request to the candidate during a blue/green preview.
PREVIEW_HEADER = "x-rollouts-istio-preview"
# What the summary writes after a built-in metric's bound.
_UNITS = {"request-duration": " ms"}

DEFAULTS = {
    "strategy": "canary",
    "iterations": 1,
    "interval": "1m",
    "threshold": 2,
    # A check on fewer requests than this to the candidate is no data, never a pass: a 10 % step that
    # got three requests says nothing about the candidate.
    "min_requests": 10,
    "approval": "none",
    "approval_mode": "pause",
    "on_failure": "rollback",
    "finalise": "scale_down",
    "finalise_delay": "0s",
    "analyze": True,
    "mirror_percent": 0,
    "allow_no_metrics": False,
}

# The fields of an Istio HTTPMatchRequest, and those of them that are StringMatches (or maps of them).
_MATCH_FIELDS = ("name", "uri", "scheme", "method", "authority", "headers", "port", "sourceLabels", "gateways",
                 "queryParams", "ignoreUriCase", "withoutHeaders", "sourceNamespace", "statPrefix")
_STRING_MATCH_FIELDS = ("uri", "scheme", "method", "authority")
_STRING_MATCH_MAPS = ("headers", "queryParams", "withoutHeaders")
_STRING_MATCH_KINDS = ("exact", "prefix", "regex")
_PROBE_KEYS = ("url", "host", "path", "method", "headers", "body", "requests", "concurrency", "timeout",
               "validate_certs", "version_header", "version_regex", "test", "confidence", "tolerance_pp",
               "max_error_pct")
_HTTP_URL = re.compile(r"^https?://[^/\s?#]+", re.IGNORECASE)


class _Names(object):
    """Turns an option into the variable the user set: ``steps[2]`` -> ``shift_traffic_steps[2]``."""

    def __init__(self, prefix):
        self.prefix = prefix

    def __call__(self, option):
        return self.prefix + option

    def reraise(self, exc, renames=None):
        """A ParameterError of a shared check, re-raised under the user's variable name."""
        param = exc.param or ""
        head = re.match(r"^[A-Za-z_]+", param)
        if head and renames and head.group(0) in renames:
            param = renames[head.group(0)] + param[head.end():]
        raise ParameterError(self(param), exc.msg, **exc.result)


def _given(params, name):
    """The option's value, or its default when it is unset (None)."""
    value = params.get(name)
    return DEFAULTS.get(name) if value is None else value


def _choice(value, allowed, param):
    if value not in allowed:
        raise ParameterError(param, "must be one of %s, got %r" % (", ".join(allowed), value))
    return value


def _integer(value, param, minimum, maximum=None):
    """An int (not a bool) from minimum to maximum (inclusive; no maximum when None)."""
    if not is_integer(value) or value < minimum or (maximum is not None and value > maximum):
        raise ParameterError(param, "must be an integer%s, got %r" % (_range_text(minimum, maximum), value))
    return value


def _range_text(minimum, maximum):
    if maximum is None:
        return " of at least %d" % minimum
    return " from %d to %d" % (minimum, maximum)


def _duration(value, param, positive):
    seconds = parse_duration(value, param)
    if positive and seconds <= 0:
        raise ParameterError(param, "must be longer than 0s, got %r" % (value,))
    return seconds


def _http_url(value, param, what):
    if not isinstance(value, str) or not _HTTP_URL.match(value):
        raise ParameterError(param, "%s must start with http:// or https:// and name a host, got %r" % (what, value))
    return value


def _analyze(value, param):
    """auto, true or false (YAML's yes/no and Ansible's booleans as strings too)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("true", "yes", "on", "1"):
        return True
    if text in ("false", "no", "off", "0"):
        return False
    if text == "auto":
        return "auto"
    raise ParameterError(param, "must be auto, true or false, got %r" % (value,))


# ---------------------------------------------------------------- the step weights

def _canary_weights(params, name):
    steps = params.get("steps")
    step_weight = params.get("step_weight") or None  # 0 is the role's "not set"
    max_weight = params.get("max_weight") or None
    if max_weight is not None and step_weight is None:
        raise ParameterError(name("max_weight"), "is only used with %s; set both, or give %s"
                             % (name("step_weight"), name("steps")))
    if step_weight is not None:
        if steps:
            raise ParameterError(name("step_weight"), "give either %s or %s (with %s), not both"
                                 % (name("steps"), name("step_weight"), name("max_weight")))
        _integer(step_weight, name("step_weight"), 1, TOTAL_WEIGHT)
        max_weight = TOTAL_WEIGHT if max_weight is None else _integer(max_weight, name("max_weight"), 1, TOTAL_WEIGHT)
        if step_weight > max_weight:
            raise ParameterError(name("step_weight"), "must be at most %s (%d), got %d"
                                 % (name("max_weight"), max_weight, step_weight))
        weights = list(range(step_weight, max_weight + 1, step_weight))
        if weights[-1] == TOTAL_WEIGHT and len(weights) == 1:
            raise ParameterError(name("step_weight"), "a step of 100 is the promotion itself, so nothing would be "
                                 "gated before it; give a step_weight below 100")
        return [w for w in weights if w < TOTAL_WEIGHT]
    if steps is None:
        steps = list(DEFAULT_STEPS)
    if not isinstance(steps, (list, tuple)) or not steps:
        raise ParameterError(name("steps"), "is empty: give the candidate's weight at each step, such as [10, 50, 100]")
    for index, weight in enumerate(steps):
        param = name("steps[%d]" % index)
        _integer(weight, param, 1, TOTAL_WEIGHT)
        if index and weight <= steps[index - 1]:
            raise ParameterError(param, "must be above the step before (%d), got %d" % (steps[index - 1], weight))
    gated = [w for w in steps if w < TOTAL_WEIGHT]
    if not gated:
        raise ParameterError(name("steps"), "a step of 100 is the promotion itself, so nothing would be gated "
                             "before it; give at least one step below 100, got %r" % (list(steps),))
    return gated


def _listed_weights(params, name):
    weights = params.get("weights")
    if not isinstance(weights, (list, tuple)) or not weights:
        raise ParameterError(name("weights"), "give the candidate's weight at each step for strategy weights, "
                             "such as [50, 100], got %r" % (weights,))
    for index, weight in enumerate(weights):
        param = name("weights[%d]" % index)
        _integer(weight, param, 0, TOTAL_WEIGHT)
        if weight == TOTAL_WEIGHT and index != len(weights) - 1:
            raise ParameterError(param, "100 is the promotion, so only the last step may be 100")
    gated = [w for w in weights if w < TOTAL_WEIGHT]
    if not gated:
        raise ParameterError(name("weights"), "a step of 100 is the promotion itself, so nothing would be gated "
                             "before it; give at least one step below 100, got %r" % (list(weights),))
    return gated


# ---------------------------------------------------------------- match, mirror, probe

def _string_match(value, param):
    if not isinstance(value, dict) or len(value) != 1 or next(iter(value)) not in _STRING_MATCH_KINDS:
        raise ParameterError(param, "must be an Istio StringMatch, one of {exact: ...}, {prefix: ...} or "
                             "{regex: ...}, got %r" % (value,))
    kind, text = next(iter(value.items()))
    if not isinstance(text, str):
        raise ParameterError(param + "." + kind, "must be a string, got %r" % (text,))


def check_match(match, param):
    """A non-empty list of Istio HTTPMatchRequests, their fields and StringMatches checked."""
    if not isinstance(match, (list, tuple)) or not match:
        raise ParameterError(param, "give the requests that go to the candidate as a list of Istio "
                             "HTTPMatchRequests, such as [{headers: {x-canary: {exact: insider}}}], got %r" % (match,))
    for index, entry in enumerate(match):
        where = "%s[%d]" % (param, index)
        if not isinstance(entry, dict) or not entry:
            raise ParameterError(where, "must be an Istio HTTPMatchRequest (a non-empty dict), got %r" % (entry,))
        for field, value in entry.items():
            if field not in _MATCH_FIELDS:
                raise ParameterError(where, "%r is not a field of an Istio HTTPMatchRequest (%s)"
                                     % (field, ", ".join(_MATCH_FIELDS)))
            if field in _STRING_MATCH_FIELDS:
                _string_match(value, "%s.%s" % (where, field))
            elif field in _STRING_MATCH_MAPS:
                if not isinstance(value, dict) or not value:
                    raise ParameterError("%s.%s" % (where, field), "must map names to StringMatches, such as "
                                         "{x-canary: {exact: insider}}, got %r" % (value,))
                for key, sub in value.items():
                    _string_match(sub, "%s.%s.%s" % (where, field, key))
    return [dict(entry) for entry in match]


def _probe(probe, name):
    if not probe:
        return {}
    if not isinstance(probe, dict):
        raise ParameterError(name("probe"), "must be a dict such as {url: http://gateway, host: app.example.com}, "
                             "got %r" % (probe,))
    unknown = sorted(set(probe) - set(_PROBE_KEYS))
    if unknown:
        raise ParameterError(name("probe"), "has %s, which traffic_probe does not take (%s)"
                             % (", ".join(repr(k) for k in unknown), ", ".join(_PROBE_KEYS)))
    if probe.get("url") in (None, ""):
        raise ParameterError(name("probe.url"), "give the URL the probe sends its requests to, such as "
                             "http://localhost:8080, or leave %s empty" % name("probe"))
    _http_url(probe["url"], name("probe.url"), "the probe's URL")
    try:
        check_probe_options(probe)
    except ParameterError as exc:
        name.reraise(ParameterError("probe." + (exc.param or ""), exc.msg, **exc.result))
    return dict(probe)


# ---------------------------------------------------------------- the gate

def _analysis(params, name, names, interval_s):
    iterations = _integer(_given(params, "iterations"), name("iterations"), 1)
    threshold = _integer(_given(params, "threshold"), name("threshold"), 1)
    interval = _given(params, "interval")
    metrics = params.get("metrics")
    if metrics is None:
        metrics = [dict(m) for m in DEFAULT_METRICS]
    if not isinstance(metrics, (list, tuple)):
        raise ParameterError(name("metrics"), "must be a list of metrics, got %r" % (metrics,))
    # The first check waits one interval after the weights moved (as Flagger's first iteration), and at
    # least the longest metric window, so the window it reads holds only traffic of the new weights.
    analysis = {"interval": interval, "interval_seconds": interval_s, "iterations": iterations,
                "initial_delay": interval, "initial_delay_seconds": interval_s,
                "threshold": threshold, "failed_checks_limit": threshold, "until_passed": True,
                "namespace": names["namespace"], "workload": names["candidate"]["workload"],
                "service": names["service"], "version": names["candidate"]["version"], "metrics": []}
    if not metrics:
        if not _given(params, "allow_no_metrics"):
            raise ParameterError(name("metrics"), "is empty: a gate needs at least one metric; set %s to gate "
                                 "on the probe and assertions alone" % name("allow_no_metrics"))
        return analysis
    for index, metric in enumerate(metrics):
        if not isinstance(metric, dict):
            raise ParameterError(name("metrics[%d]" % index), "must be a dict such as {name: request-success-rate, "
                                 "min: 99}, got %r" % (metric,))
    variables = dict((k, analysis[k]) for k in ("namespace", "workload", "service", "version"))
    try:
        config = build_config(list(metrics), variables=variables, interval=interval, iterations=iterations,
                              failed_checks_limit=threshold, until_passed=True, vars=params.get("vars") or {},
                              min_requests=_given(params, "min_requests"))
    except ParameterError as exc:
        name.reraise(exc, {"failed_checks_limit": "threshold"})
    for metric in config.metrics:
        analysis["metrics"].append({"name": metric.name, "query": metric_query(config, metric), "min": metric.minimum,
                                    "max": metric.maximum, "interval": metric.window,
                                    "min_requests": metric.min_requests})
        window_s = parse_duration(metric.window, name("metrics"))
        if window_s > analysis["initial_delay_seconds"]:
            analysis["initial_delay"], analysis["initial_delay_seconds"] = metric.window, window_s
    return analysis


# ---------------------------------------------------------------- the plan

def _virtual_services(params, name, app, namespace):
    entries = params.get("virtual_services")
    if not entries:
        entries = [{"name": app}]
    if not isinstance(entries, (list, tuple)):
        raise ParameterError(name("virtual_services"), "must be a list of {name, namespace, route}, got %r"
                             % (entries,))
    out = []
    seen = set()
    for index, entry in enumerate(entries):
        where = name("virtual_services[%d]" % index)
        if not isinstance(entry, dict):
            raise ParameterError(where, "must be a dict {name, namespace, route}, got %r" % (entry,))
        unknown = sorted(set(entry) - {"name", "namespace", "route"})
        if unknown:
            raise ParameterError(where, "has %s; an entry takes name, namespace and route"
                                 % ", ".join(repr(k) for k in unknown))
        if not entry.get("name"):
            raise ParameterError(where + ".name", "every VirtualService entry needs the VirtualService's name")
        check_dns_subdomain(entry["name"], where + ".name", "VirtualService name")
        vs_namespace = entry.get("namespace") or namespace
        check_dns_label(vs_namespace, where + ".namespace", "namespace")
        route = entry.get("route")
        if route is not None and (not isinstance(route, str) or not route):
            raise ParameterError(where + ".route", "must be the name of an HTTP route, got %r" % (route,))
        key = (vs_namespace, entry["name"])
        if key in seen:
            raise ParameterError(where, "lists %s/%s a second time; every VirtualService moves once" % key)
        seen.add(key)
        out.append({"name": entry["name"], "namespace": vs_namespace, "route": route})
    return out


def _release(params, name):
    app = params.get("app")
    namespace = params.get("namespace")
    try:
        check_dns_label(app, "app", "app name")
        check_dns_label(namespace, "namespace", "namespace")
        for role in ("stable", "candidate"):
            check_dns_label(params.get(role), role, "%s version" % role)
        names = release(app, params["stable"], params["candidate"], namespace)
    except ParameterError as exc:
        name.reraise(exc)
    rollout = params.get("name") or app
    check_dns_label(rollout, name("name"), "rollout name")
    service = params.get("service") or app
    check_dns_label(service, name("service"), "Service name")
    names.update(service=service, host=service, fqdn="%s.%s.svc.cluster.local" % (service, namespace))
    return rollout, names


def _steps(params, name, strategy, names, mirror):
    """[(weight, match)] of the gated steps."""
    match = params.get("match") or None
    if match is not None and strategy in ("weights", "canary"):
        raise ParameterError(name("match"), "only strategies ab_test and blue_green send requests by match; "
                             "strategy %s shifts a share of all requests" % strategy)
    if params.get("weights") and strategy != "weights":
        raise ParameterError(name("weights"), "only strategy weights takes weights (strategy is %s); set %s to "
                             "weights, or give %s" % (strategy, name("strategy"), name("steps")))
    if (params.get("step_weight") or params.get("max_weight")) and strategy != "canary":
        raise ParameterError(name("step_weight" if params.get("step_weight") else "max_weight"),
                             "only strategy canary takes step_weight and max_weight (strategy is %s)" % strategy)
    if strategy == "weights":
        return [(w, None) for w in _listed_weights(params, name)]
    if strategy == "canary":
        return [(w, None) for w in _canary_weights(params, name)]
    if strategy == "ab_test":
        if match is None:
            raise ParameterError(name("match"), "strategy ab_test needs the requests that go to the candidate, "
                                 "such as [{headers: {x-canary: {exact: insider}}}]")
        return [(0, check_match(match, name("match")))]
    # blue_green: a preview of the candidate by header, or a mirror of live traffic, then the switch.
    if match is not None:
        return [(0, check_match(match, name("match")))]
    if mirror:
        return [(0, None)]
    return [(0, [{"headers": {PREVIEW_HEADER: {"exact": names["candidate"]["version"]}}}])]


def plan(params):
    """{"plan": ..., "summary": [...]} for the role's options (unset ones None), or a ParameterError."""
    prefix = params.get("param_prefix")
    name = _Names(DEFAULT_PREFIX if prefix is None else prefix)
    rollout, names = _release(params, name)
    strategy = _choice(_given(params, "strategy"), STRATEGIES, name("strategy"))
    virtual_services = _virtual_services(params, name, names["app"], names["namespace"])
    mirror = _given(params, "mirror_percent")
    check_number(mirror, name("mirror_percent"), minimum=0, maximum=100)
    interval_s = _duration(_given(params, "interval"), name("interval"), positive=True)
    finalise_delay = _given(params, "finalise_delay")
    finalise_delay_s = _duration(finalise_delay, name("finalise_delay"), positive=False)
    approval = _choice(_given(params, "approval"), APPROVALS, name("approval"))
    approval_mode = _choice(_given(params, "approval_mode"), APPROVAL_MODES, name("approval_mode"))
    on_failure = _choice(_given(params, "on_failure"), ON_FAILURE, name("on_failure"))
    finalise = _choice(_given(params, "finalise"), FINALISE, name("finalise"))
    analyze = _analyze(_given(params, "analyze"), name("analyze"))
    analysis = _analysis(params, name, names, interval_s)
    prometheus_url = params.get("prometheus_url") or None
    if prometheus_url is not None:
        _http_url(prometheus_url, name("prometheus_url"), "Prometheus' URL")
    elif analysis["metrics"]:
        raise ParameterError(name("prometheus_url"), "give Prometheus' URL, such as http://localhost:9090 (or set "
                             "PROMETHEUS_URL), for the gate's metrics")
    probe = _probe(params.get("probe"), name)
    steps = []
    for index, (weight, match) in enumerate(_steps(params, name, strategy, names, mirror)):
        steps.append({
            "step": index + 1,
            "weight": weight,
            "weights": {"stable": TOTAL_WEIGHT - weight, "candidate": weight},
            "match": match,
            "mirror_percent": mirror,
            "approval_before": approval == "every_step" and index > 0,
            "analysis": dict(analysis, metrics=[dict(m) for m in analysis["metrics"]]),
        })
    out = {
        "name": rollout,
        "app": names["app"],
        "namespace": names["namespace"],
        "service": names["service"],
        "strategy": strategy,
        "stable": names["stable"]["version"],
        "candidate": names["candidate"]["version"],
        "release": names,
        "virtual_services": virtual_services,
        "steps": steps,
        "step_weights": [s["weight"] for s in steps],
        "promote": {"weights": {"stable": 0, "candidate": TOTAL_WEIGHT}, "approval_before": approval != "none"},
        "analysis": analysis,
        "mirror_percent": mirror,
        "probe": probe,
        "prometheus_url": prometheus_url,
        "analyze": analyze,
        "approval": approval,
        "approval_mode": approval_mode,
        "on_failure": on_failure,
        "finalise": finalise,
        "finalise_delay": finalise_delay,
        "finalise_delay_seconds": finalise_delay_s,
    }
    return {"plan": out, "summary": summary(out)}


# ---------------------------------------------------------------- the plan in words

def _bound_text(metric):
    unit = _UNITS.get(metric["name"], "")
    if metric["min"] is not None and metric["max"] is not None:
        return "%s between %s and %s%s" % (metric["name"], format_number(metric["min"]),
                                           format_number(metric["max"]), unit)
    if metric["min"] is not None:
        return "%s >= %s%s" % (metric["name"], format_number(metric["min"]), unit)
    return "%s <= %s%s" % (metric["name"], format_number(metric["max"]), unit)


def _gate_text(plan_):
    analysis = plan_["analysis"]
    parts = [_bound_text(m) for m in analysis["metrics"]]
    if parts:
        checks = analysis["iterations"]
        parts.append("%d check%s every %s (failed checks over the rollout: limit %d)"
                     % (checks, "" if checks == 1 else "s", analysis["interval"], analysis["threshold"]))
    if plan_["probe"]:
        parts.append("probe %s" % plan_["probe"]["url"])
    if plan_["analyze"] is True:
        parts.append("istioctl analyze")
    elif plan_["analyze"] == "auto":
        parts.append("istioctl analyze (when istioctl is found)")
    return ", ".join(parts) or "no check"


def summary(plan_):
    """One line per step, then the promotion, the clean-up and what a failed gate does."""
    stable, candidate = plan_["stable"], plan_["candidate"]
    gate = _gate_text(plan_)
    lines = []
    for step in plan_["steps"]:
        text = "step %d%s: stable %s %d %% / candidate %s %d %%" % (
            step["step"], " (after approval)" if step["approval_before"] else "", stable, step["weights"]["stable"],
            candidate, step["weights"]["candidate"])
        if step["match"]:
            text += ", requests matching %s to the candidate" % json.dumps(step["match"], sort_keys=True,
                                                                           separators=(",", ":"))
        if step["mirror_percent"]:
            text += ", a copy of %s %% of the traffic mirrored to the candidate" % format_number(step["mirror_percent"])
        lines.append("%s; gate: %s" % (text, gate))
    lines.append("promote%s: stable %s 0 %% / candidate %s 100 %%" % (
        " (after approval)" if plan_["promote"]["approval_before"] else "", stable, candidate))
    finalise = {"scale_down": "scale the stable Deployment %s down", "delete": "delete the stable Deployment %s",
                "keep": "keep the stable Deployment %s running"}[plan_["finalise"]]
    delay = " after %s" % plan_["finalise_delay"] if plan_["finalise_delay_seconds"] else ""
    lines.append("finalise: %s%s" % (finalise % plan_["release"]["stable"]["workload"], delay))
    lines.append("on a failed gate: %s" % {
        "rollback": "roll back: stable %s 100 %% on every VirtualService" % stable,
        "freeze": "freeze: keep the weights where they are and stop",
        "gradual": "step back gradually to stable %s 100 %%" % stable}[plan_["on_failure"]])
    return lines
