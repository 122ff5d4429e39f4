# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""One computation of "what differs", feeding both ``changed`` and ``diff``.

After community.docker's DifferenceTracker: a module never decides ``changed`` in one place and
builds its diff in another, so the two cannot drift apart.
"""

from __future__ import annotations

import copy

# Fields the API server writes on every object; they never make a difference the user caused.
SERVER_METADATA = ("resourceVersion", "generation", "uid", "creationTimestamp", "managedFields",
                   "selfLink", "deletionTimestamp", "deletionGracePeriodSeconds")


def comparable(obj):
    """An object without status and server-written metadata: what a user can change."""
    if not obj:
        return {}
    out = copy.deepcopy(obj)
    out.pop("status", None)
    meta = out.get("metadata") or {}
    for key in SERVER_METADATA:
        meta.pop(key, None)
    annotations = meta.get("annotations")
    if annotations is not None:
        # kubectl's client-side bookkeeping, not part of what the object does.
        annotations.pop("kubectl.kubernetes.io/last-applied-configuration", None)
        if not annotations:
            meta.pop("annotations")
    return out


def differences(before, after, path=""):
    """[(path, before, after)] for every leaf that differs; lists compare element by element."""
    if isinstance(before, dict) and isinstance(after, dict):
        out = []
        for key in sorted(set(before) | set(after), key=str):
            sub = "%s.%s" % (path, key) if path else str(key)
            if key not in before:
                out.append((sub, None, after[key]))
            elif key not in after:
                out.append((sub, before[key], None))
            else:
                out.extend(differences(before[key], after[key], sub))
        return out
    if isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        out = []
        for i, (b, a) in enumerate(zip(before, after)):
            out.extend(differences(b, a, "%s[%d]" % (path, i)))
        return out
    if before != after or type(before) is not type(after):
        return [(path, before, after)]
    return []


def is_subset(wanted, live):
    """True when everything in ``wanted`` is in ``live`` with the same value.

    Dictionaries may have more keys in ``live`` (server defaults, fields of other managers);
    lists must match in length and order, element by element.
    """
    if isinstance(wanted, dict):
        return isinstance(live, dict) and all(k in live and is_subset(v, live[k]) for k, v in wanted.items())
    if isinstance(wanted, list):
        return isinstance(live, list) and len(wanted) == len(live) and all(
            is_subset(w, v) for w, v in zip(wanted, live))
    return wanted == live and type(wanted) is type(live)


class DifferenceTracker(object):
    """Before and after of one object (or part of it); ``changed`` and ``diff`` come from here."""

    def __init__(self, before, after, header=None):
        self.before = before
        self.after = after
        self.header = header
        self._differences = differences(before, after)

    @property
    def changed(self):
        return bool(self._differences)

    @property
    def changes(self):
        """The differing fields, for a result users can read without --diff."""
        return [{"path": p, "before": b, "after": a} for p, b, a in self._differences]

    def diff(self):
        """The dict Ansible prints with --diff."""
        out = {"before": self.before if self.before is not None else {},
               "after": self.after if self.after is not None else {}}
        if self.header:
            out["before_header"] = self.header
            out["after_header"] = self.header
        return out
