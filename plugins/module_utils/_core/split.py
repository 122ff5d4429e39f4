# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""What a valid split is: the one rule, and its one message style. Pure.

A split is the weights of the destinations of one route: integers from 0 to 100 that add up to
exactly 100. A lone destination gets all the traffic whatever its weight says (Istio's reading),
so it may leave its weight out; written, it must be 100. Istio itself accepts weights adding up
to anything (it reads them as relative): this rule is what stops a half-thought split. Every
module, role and step list that takes weights checks them here.

Messages name the option at fault, ``<param>[i].weight`` for one weight and ``<param>`` for the
sum, and say what was given.
"""

from __future__ import annotations

import math

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError

MIN_WEIGHT = 0
MAX_WEIGHT = 100
TOTAL_WEIGHT = 100


def is_integer(value):
    """An int that is not a bool (YAML's ``yes`` is not a weight)."""
    return isinstance(value, int) and not isinstance(value, bool)


def check_weight(value, param):
    """One weight: an integer from 0 to 100, or a ParameterError naming ``param``."""
    if not is_integer(value):
        raise ParameterError(param, "must be an integer from %d to %d, got %r" % (MIN_WEIGHT, MAX_WEIGHT, value))
    if value < MIN_WEIGHT or value > MAX_WEIGHT:
        raise ParameterError(param, "must be an integer from %d to %d, got %d" % (MIN_WEIGHT, MAX_WEIGHT, value))
    return value


def check_split(weights, param, where=None, labels=None):
    """Check the weights of one route's destinations (in order); returns them as Istio reads them.

    ``weights`` may hold None for a destination without a weight, which only a lone destination
    may be. ``where`` names the route in messages; ``labels[i]`` is appended to ``param`` to name
    weight i (``[i].weight`` by default).
    """
    weights = list(weights)
    labels = list(labels) if labels is not None else ["[%d].weight" % i for i in range(len(weights))]
    route = " of %s" % where if where else ""
    if not weights:
        raise ParameterError(param, "give at least one destination%s" % route)
    if len(weights) == 1:
        if weights[0] is None:
            return [TOTAL_WEIGHT]
        check_weight(weights[0], param + labels[0])
        if weights[0] != TOTAL_WEIGHT:
            raise ParameterError(param + labels[0],
                                 "a lone destination%s gets all the traffic whatever its weight; give %d or leave "
                                 "the weight out, got %d" % (route, TOTAL_WEIGHT, weights[0]))
        return weights
    for i, weight in enumerate(weights):
        if weight is None:
            raise ParameterError(param + labels[i], "must be an integer from %d to %d: only a lone destination "
                                 "may leave its weight out%s" % (MIN_WEIGHT, MAX_WEIGHT, route))
        check_weight(weight, param + labels[i])
    total = sum(weights)
    if total != TOTAL_WEIGHT:
        raise ParameterError(param, "weights%s add up to %d; they must add up to exactly %d (%s)"
                             % (route, total, TOTAL_WEIGHT, ", ".join(str(w) for w in weights)))
    return weights


def check_weight_map(weights, param):
    """Check weights given as {name: weight} (the expected split of a probe); returns {str: int}."""
    if not isinstance(weights, dict) or not weights:
        raise ParameterError(param, "give the weight of each version, for example {v1: 90, v2: 10}, got %r" % (weights,))
    names = [str(k) for k in weights]
    values = [_whole(v) for v in weights.values()]
    if any(v is None for v in values):
        # A version's weight must be written, even for a lone one.
        raise ParameterError("%s.%s" % (param, names[values.index(None)]), "give its weight, an integer from %d to %d"
                             % (MIN_WEIGHT, MAX_WEIGHT))
    return dict(zip(names, check_split(values, param, labels=["." + n for n in names])))


def _whole(value):
    """A weight written as 10.0 (a float from a template) is 10; 10.5, NaN or a string stays as it is."""
    if isinstance(value, float) and math.isfinite(value) and value == int(value):
        return int(value)
    return value


def effective_weights(weights):
    """The share of each destination as Istio sends traffic: a lone destination gets 100 whatever
    its weight; beside others, a missing weight is 0."""
    weights = list(weights)
    if len(weights) == 1:
        return [TOTAL_WEIGHT]
    return [w or 0 for w in weights]
