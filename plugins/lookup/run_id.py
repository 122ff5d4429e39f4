# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: run_id
short_description: An id of this ansible-playbook run, for the lock of a rollout
version_added: 0.1.0
author:
  - rollouts.istio maintainers (@rollouts-istio)
description:
  - Returns C([awx-job-<id>/]<user>@<host>:<pid>:<epoch>) for the ansible-playbook process that
    evaluates it, where C(pid) and C(epoch) are that process's id and its start time.
  - The M(rollouts.istio.rollout) module writes it into the rollout's record as the holder of the lock.
    A later run on the same controller host that finds a holder whose process no longer exists (a run
    that was killed) takes the lock over at once; a holder elsewhere is refused until its lock is stale.
  - Under AWX or Automation Controller the job id (environment variable E(JOB_ID) or E(AWX_JOB_ID)) is
    put in front, so the record names the job.
  - Evaluate it once per run, for example with M(ansible.builtin.set_fact), and pass the value on.
options: {}
"""

EXAMPLES = r"""
- name: Name this run once
  ansible.builtin.set_fact:
    shift_traffic_run_id: "{{ lookup('rollouts.istio.run_id') }}"
"""

RETURN = r"""
_raw:
  description: One string, the run id.
  type: list
  elements: str
"""

import getpass
import os
import socket
import time

from ansible.plugins.lookup import LookupBase

from ansible_collections.rollouts.istio.plugins.module_utils._core.run_id import make_run_id


def _process_start(pid):
    """The start time (epoch seconds) of process ``pid``, from /proc where there is one."""
    try:
        with open("/proc/%d/stat" % pid) as handle:
            fields = handle.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        with open("/proc/stat") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
        return boot + int(fields[19]) // ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return int(time.time())


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        # Lookups are evaluated in a worker forked from the ansible-playbook process: its parent.
        pid = os.getppid() if os.getppid() > 1 else os.getpid()
        job = os.environ.get("JOB_ID") or os.environ.get("AWX_JOB_ID")
        try:
            user = getpass.getuser()
        except (KeyError, OSError):
            user = "unknown"
        return [make_run_id(user, socket.gethostname(), pid, _process_start(pid),
                            job="awx-job-%s" % job if job else None)]
