# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Filters ``release`` and ``release_split``: a playbook names the candidate once (docs in release.yml, release_split.yml)."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.release import release, release_split

_OPTIONS = ("app", "stable", "candidate", "namespace", "domain", "version_label", "workload_format", "subset_format")


def release_filter(value):
    """The names of a release from a dict of app, stable, candidate and namespace (and optional formats)."""
    if not isinstance(value, dict):
        raise AnsibleFilterError("rollouts.istio.release: give a dict with app, stable, candidate and namespace, "
                                 "got %r" % (value,))
    unknown = sorted(set(value) - set(_OPTIONS))
    if unknown:
        raise AnsibleFilterError("rollouts.istio.release: unknown keys %s; it takes %s"
                                 % (", ".join(unknown), ", ".join(_OPTIONS)))
    try:
        return release(value.get("app"), value.get("stable"), value.get("candidate"), value.get("namespace"),
                       **dict((k, value[k]) for k in _OPTIONS[4:] if value.get(k) is not None))
    except RolloutsError as exc:
        raise AnsibleFilterError("rollouts.istio.release: %s" % exc)


def release_split_filter(names, candidate_weight):
    """traffic_split destinations and traffic_probe expected_weights giving the candidate this share."""
    if not isinstance(names, dict) or "stable" not in names or "candidate" not in names:
        raise AnsibleFilterError("rollouts.istio.release_split: its input is the result of rollouts.istio.release")
    try:
        return release_split(names, candidate_weight)
    except RolloutsError as exc:
        raise AnsibleFilterError("rollouts.istio.release_split: %s" % exc)


class FilterModule(object):
    def filters(self):
        return {"release": release_filter, "release_split": release_split_filter}
