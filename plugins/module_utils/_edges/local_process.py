# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Whether the run that holds a rollout's lock is still alive, where this host can tell."""

from __future__ import annotations

import errno
import os
import socket

from ansible_collections.rollouts.istio.plugins.module_utils._core.run_id import parse_run_id


def holder_alive(run_id):
    """False when ``run_id`` names this host and a process that no longer exists; True when it exists;
    None when it cannot be known here (another host, a run id made by hand, an AWX job elsewhere)."""
    parsed = parse_run_id(run_id)
    if parsed is None or parsed["host"] != socket.gethostname():
        return None
    try:
        os.kill(parsed["pid"], 0)
    except OSError as exc:
        if exc.errno == errno.ESRCH:
            return False
        return True  # EPERM: it exists, owned by someone else
    return True
