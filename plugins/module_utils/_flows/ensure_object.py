# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""state=present / absent for one Istio object, shared by gateway, destination_rule, virtual_service.

present is a server-side apply with this collection's field manager, so fields other managers own
(a traffic_split's weights aside, which the apply then takes back) are left alone. ``changed`` is
decided by comparing the live object with what the server returns for the apply (a dry run when
the live object already holds everything asked for), so server-side defaults never count as a
change and an object already as asked is not written at all.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.difference import (
    DifferenceTracker,
    comparable,
    is_subset,
)

COMMON_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    state=dict(type="str", default="present", choices=["present", "absent"]),
    spec=dict(type="dict"),
    labels=dict(type="dict"),
    annotations=dict(type="dict"),
)


def desired_object(kind, name, namespace, spec, labels=None, annotations=None):
    meta = {"name": name, "namespace": namespace}
    if labels:
        meta["labels"] = dict((k, str(v)) for k, v in labels.items())
    if annotations:
        meta["annotations"] = dict((k, str(v)) for k, v in annotations.items())
    return {"kind": kind, "metadata": meta, "spec": spec}


def _result(tracker, obj, api, want_diff):
    result = {"changed": tracker.changed, "result": obj or {}, "api_version": api.api_version,
              "changes": tracker.changes}
    if want_diff:
        result["diff"] = tracker.diff()
    return result


def ensure(api, desired, state="present", check_mode=False, want_diff=False):
    """Make one object present as ``desired`` (or absent); returns the module result."""
    kind = desired["kind"]
    name = desired["metadata"]["name"]
    namespace = desired["metadata"]["namespace"]
    header = "%s %s/%s" % (kind, namespace, name)
    live = api.get(kind, namespace, name)

    if state == "absent":
        if live is None:
            return _result(DifferenceTracker({}, {}, header), {}, api, want_diff)
        api.delete(kind, namespace, name, dry_run=check_mode)
        return _result(DifferenceTracker(comparable(live), {}, header), {}, api, want_diff)

    body = dict(desired, apiVersion=api.api_version)
    if live is not None and is_subset(body, live):
        # Everything asked for is there already; only the server knows whether applying would
        # still remove a field this manager set before. Ask it, without writing.
        would_be = api.apply(kind, namespace, name, body, dry_run=True)
        tracker = DifferenceTracker(comparable(live), comparable(would_be), header)
        if not tracker.changed or check_mode:
            return _result(tracker, would_be if tracker.changed else live, api, want_diff)
    result = api.apply(kind, namespace, name, body, dry_run=check_mode)
    return _result(DifferenceTracker(comparable(live) if live else {}, comparable(result), header), result, api, want_diff)
