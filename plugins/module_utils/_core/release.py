# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A release: one app, its stable version and its candidate version, and what each module calls them. Pure.

The one mapping from the versions a playbook names to the identities the modules need: the
DestinationRule subset (traffic_split), the version label the app answers with (traffic_probe),
the workload (prometheus_check), the pod labels (deploy) and the Service host. A playbook names
the candidate once; every task reads its names from here, so they cannot disagree.

Defaults follow the tutorial this collection implements: a Service named after the app selects
``app=<app>``; each version runs as the Deployment ``<app>-<version>`` with the labels
``app=<app>, version=<version>``; its DestinationRule subset is named after the version, so
promoting the candidate points the route at the candidate's own subset at 100 %.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label
from ansible_collections.rollouts.istio.plugins.module_utils._core.split import TOTAL_WEIGHT, check_weight

DEFAULT_DOMAIN = "cluster.local"
DEFAULT_VERSION_LABEL = "version"
DEFAULT_WORKLOAD = "{app}-{version}"
DEFAULT_SUBSET = "{version}"
ROLES = ("stable", "candidate")


def _format(template, param, **values):
    try:
        return template.format(**values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ParameterError(param, "%r is not a template of {app} and {version}: %s" % (template, exc))


def version_names(app, version, namespace, role, version_label=DEFAULT_VERSION_LABEL,
                  workload=DEFAULT_WORKLOAD, subset=DEFAULT_SUBSET):
    """The identities of one version of the app."""
    if not isinstance(version, str) or not version:
        raise ParameterError(role, "give the %s version, such as v1, got %r" % (role, version))
    workload_name = _format(workload, "workload_format", app=app, version=version)
    subset_name = _format(subset, "subset_format", app=app, version=version)
    check_dns_label(workload_name, role, "workload name (%s)" % workload)
    check_dns_label(subset_name, role, "subset name (%s)" % subset)
    return {
        "role": role,
        "version": version,
        "subset": subset_name,
        "workload": workload_name,
        "labels": {"app": app, version_label: version},
    }


def release(app, stable, candidate, namespace, domain=DEFAULT_DOMAIN, version_label=DEFAULT_VERSION_LABEL,
            workload_format=DEFAULT_WORKLOAD, subset_format=DEFAULT_SUBSET):
    """Every name a release's tasks need, for the stable and the candidate version."""
    check_dns_label(app, "app", "app name")
    check_dns_label(namespace, "namespace", "namespace")
    out = {"app": app, "namespace": namespace, "service": app, "host": app,
           "fqdn": "%s.%s.svc.%s" % (app, namespace, domain), "version_label": version_label}
    for role, version in zip(ROLES, (stable, candidate)):
        out[role] = version_names(app, version, namespace, role, version_label, workload_format, subset_format)
    if out["stable"]["version"] == out["candidate"]["version"]:
        raise ParameterError("candidate", "the candidate version %r is the stable version; name a new version"
                             % candidate)
    return out


def release_split(names, candidate_weight, param="candidate_weight"):
    """The split that gives the candidate ``candidate_weight`` % and the stable version the rest.

    Returns the three forms the modules take: traffic_split's ``destinations`` (by subset),
    traffic_probe's ``expected_weights`` (by version label) and the weights by role.
    """
    check_weight(candidate_weight, param)
    weights = {"stable": TOTAL_WEIGHT - candidate_weight, "candidate": candidate_weight}
    return {
        "destinations": [{"subset": names[role]["subset"], "weight": weights[role]} for role in ROLES],
        "expected_weights": dict((names[role]["version"], weights[role]) for role in ROLES),
        "weights": weights,
    }
