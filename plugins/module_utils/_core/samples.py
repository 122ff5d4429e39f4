# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Pure helpers of prometheus_query: the time range of a range query, and the API's answer in a
shape a playbook can use (numbers as floats, NaN and infinities as null with the raw text beside)."""

from __future__ import annotations

import datetime
import math

from ansible_collections.rollouts.istio.plugins.module_utils._core.analysis import AnalysisError, parse_duration
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError


def parse_time(text, param):
    """Unix seconds from a Unix timestamp or an RFC 3339 date such as 2026-11-22T03:00:00Z."""
    text = str(text).strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(seconds):
            raise ParameterError(param, "must be a finite Unix timestamp, got %r" % text)
        return seconds
    try:
        stamp = datetime.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise ParameterError(param, "%r is neither a Unix timestamp nor an RFC 3339 time such as 2026-11-22T03:00:00Z"
                             % text)
    if stamp.tzinfo is None:
        raise ParameterError(param, "%r has no time zone: add Z or an offset such as +01:00" % text)
    return stamp.timestamp()


def time_range(start, end, step, now):
    """(start, end, step) in seconds for a range query. `start` may also be a duration such as 10m,
    meaning that long before `end`; `end` defaults to now."""
    end_s = now if end in (None, "") else parse_time(end, "end")
    try:
        start_s = end_s - parse_duration(start, "start")
    except ParameterError:
        start_s = parse_time(start, "start")
    try:
        step_s = float(step)
    except (TypeError, ValueError):
        step_s = parse_duration(step, "step")
    if not math.isfinite(step_s):
        raise ParameterError("step", "must be a finite number of seconds, got %r" % step)
    if step_s <= 0:
        raise ParameterError("step", "must be longer than 0s")
    if start_s >= end_s:
        raise ParameterError("start", "must be before end")
    return start_s, end_s, step_s


def point(pair):
    """{"time", "value", "raw"} from Prometheus' [time, "value"]; value null when not finite."""
    raw = str(pair[1])
    try:
        value = float(raw)
    except ValueError:
        value = None
    if value is not None and (math.isnan(value) or math.isinf(value)):
        value = None
    return {"time": float(pair[0]), "value": value, "raw": raw}


def samples(data):
    """(result_type, samples) from the `data` of a query.

    vector: one {labels, time, value, raw} per series; matrix: one {labels, points: [...]} per series;
    scalar and string: one sample without labels.
    """
    kind = data.get("resultType")
    result = data.get("result")
    if kind == "vector":
        return kind, [dict(point(s["value"]), labels=s.get("metric", {})) for s in result]
    if kind == "matrix":
        return kind, [{"labels": s.get("metric", {}), "points": [point(p) for p in s.get("values", [])]}
                      for s in result]
    if kind == "scalar":
        return kind, [dict(point(result), labels={})]
    if kind == "string":
        return kind, [{"labels": {}, "time": float(result[0]), "value": None, "raw": str(result[1])}]
    raise AnalysisError("Prometheus answered a result type %r this module does not know" % kind)


def single_value(kind, shaped):
    """The value when the answer is exactly one number, else None."""
    if kind in ("vector", "scalar") and len(shaped) == 1:
        return shaped[0]["value"]
    return None
