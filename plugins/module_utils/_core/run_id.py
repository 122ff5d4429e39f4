# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Who runs a rollout: the run id written in its record, and reading it back. Pure.

``[awx-job-<id>/]<user>@<host>:<pid>:<epoch>``: the user and controller host say who to ask; the pid
of the ansible-playbook process lets a later run on the same host see that the holder of a lock
was killed (no such process), and take the lock over at once instead of waiting for it to go
stale; the epoch keeps two runs with a reused pid apart.
"""

from __future__ import annotations

import re

_RUN_ID = re.compile(r"^(?:(?P<job>[^/@]+)/)?(?P<user>[^@/]*)@(?P<host>[^:@/]+):(?P<pid>[0-9]+):(?P<epoch>[0-9]+)$")


def make_run_id(user, host, pid, epoch, job=None):
    run = "%s@%s:%d:%d" % (user or "unknown", host, int(pid), int(epoch))
    return "%s/%s" % (job, run) if job else run


def parse_run_id(run_id):
    """{job, user, host, pid, epoch} of a run id made by make_run_id, or None for any other string."""
    match = _RUN_ID.match(run_id or "")
    if not match:
        return None
    out = match.groupdict()
    out["pid"], out["epoch"] = int(out["pid"]), int(out["epoch"])
    return out
