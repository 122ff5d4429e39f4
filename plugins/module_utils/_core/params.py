# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Checks of single option values that several modules share. Pure.

Ansible's argument spec converts types but lets NaN, infinities, negative timeouts and names the
API server would refuse (or read as a list request) through. Each check here raises a
ParameterError naming the option, before anything is sent anywhere.
"""

from __future__ import annotations

import math
import re

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError

# RFC 1123 label (namespaces, Service names) and subdomain (most object names), as Kubernetes checks them.
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def check_number(value, param, minimum=None, maximum=None, above=None, below=None, integer=False):
    """A finite number within the bounds given (``minimum``/``maximum`` inclusive, ``above``/``below``
    exclusive); returns it. None is returned as None (an unset option)."""
    if value is None:
        return None
    kind = "an integer" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise ParameterError(param, "must be %s, got %r" % (kind, value))
    if not math.isfinite(value):
        raise ParameterError(param, "must be a finite number, got %r" % value)
    bounds = []
    if minimum is not None and value < minimum:
        bounds.append("at least %g" % minimum)
    if maximum is not None and value > maximum:
        bounds.append("at most %g" % maximum)
    if above is not None and value <= above:
        bounds.append("more than %g" % above)
    if below is not None and value >= below:
        bounds.append("less than %g" % below)
    if bounds:
        raise ParameterError(param, "must be %s, got %r" % (" and ".join(bounds), value))
    return value


def _check_name(value, param, what, pattern, limit, rule, example):
    if not isinstance(value, str) or not value:
        raise ParameterError(param, "give the %s (such as %s), got %r" % (what, example, value))
    if len(value) > limit or not pattern.match(value):
        raise ParameterError(param, "%r is not a valid %s: use at most %d %s, starting and ending with a letter "
                             "or digit%s" % (value, what, limit, rule,
                                             " (it has upper-case letters)" if value.lower() != value else ""))
    return value


def check_dns_label(value, param, what="name"):
    """A Kubernetes RFC 1123 label (a namespace, a Service): lower case, digits, '-', at most 63."""
    return _check_name(value, param, what, _DNS_LABEL, 63, "lower-case letters, digits and '-'", "my-app")


def check_dns_subdomain(value, param, what="name"):
    """A Kubernetes object name (RFC 1123 subdomain): DNS labels joined by '.', at most 253."""
    return _check_name(value, param, what, _DNS_SUBDOMAIN, 253, "lower-case letters, digits, '-' and '.'", "my-app")
