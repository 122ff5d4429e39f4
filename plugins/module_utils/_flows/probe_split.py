# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""traffic_probe's flow: send the requests through the HTTP probe, let the core judge them.

``send`` is the edge (``_edges.http_probe.run_probe`` unless a test passes another), so the flow
itself holds no I/O and no decision: it raises a RolloutsError carrying the whole result when the
task is to fail, and returns the result otherwise.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.probe import judge, task_failure
from ansible_collections.rollouts.istio.plugins.module_utils._core.split_stats import summarize
from ansible_collections.rollouts.istio.plugins.module_utils._edges.http_probe import Target, VersionReader, run_probe


def probe_split(options, send=run_probe):
    """Probe with checked ProbeOptions; the module's result, or a RolloutsError with it."""
    target = Target(options.url, host=options.host, path=options.path, method=options.method,
                    headers=options.headers, body=options.body, timeout=options.timeout,
                    validate_certs=options.validate_certs)
    reader = VersionReader(header=options.version_header, regex=options.version_regex)
    result = judge(summarize(send(target, reader, options.requests, options.concurrency)), options)
    problem = task_failure(result, options)
    if problem:
        raise RolloutsError(problem, **dict((k, v) for k, v in result.items() if k != "msg"))
    return result
