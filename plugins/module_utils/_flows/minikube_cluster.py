# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""minikube_cluster as a flow: read the profiles through the CLI, let the plan decide, run its commands."""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError
from ansible_collections.rollouts.istio.plugins.module_utils._core.minikube_plan import (
    check_resources,
    command_line,
    desired_settings,
    explain_failure,
    find_profile,
    parse_memory_mb,
    parse_profile_list,
    plan,
)


def ensure_cluster(p, cli, check_mode, warn, host_memory_mb, host_cpus):
    """Bring profile ``p["profile"]`` to ``p["state"]``; returns the module result."""
    desired = desired_settings(p["memory"], p["cpus"], p["kubernetes_version"], p["driver"],
                               p["container_runtime"], p["extra_config"])
    need_memory = parse_memory_mb(p["min_memory"], "min_memory")
    if not cli.installed and check_mode:
        # Check mode on a fresh host: plan as if there were no cluster.
        warn("%s is not installed yet; planning as if there were no cluster" % p["minikube"])
        profiles = None
    else:
        rc, out, err = cli.run([p["minikube"], "profile", "list", "-o", "json"])
        profiles = parse_profile_list(rc, out, err, p["minikube"])
    entry = find_profile(profiles, p["profile"])
    decided = plan(p["state"], p["profile"], desired, entry, minikube=p["minikube"], recreate=p["recreate"],
                   start_args=p["start_args"], wait_timeout=p["wait_timeout"])
    lines = [command_line(argv) for argv in decided["commands"]]
    result = dict(changed=bool(lines), action=decided["action"], commands=lines,
                  differences=decided["differences"], drift=decided["drift"], status=decided["status"],
                  profile=entry or {})
    for warning in decided["warnings"]:
        warn(warning)
    if decided["action"] in ("create", "recreate"):
        problems = check_resources(desired, host_memory_mb, host_cpus, need_memory, p["min_cpus"], p["workload"])
        if problems:
            raise RolloutsError("not enough resources for profile %r: %s" % (p["profile"], "; ".join(problems)),
                                **result)
    if check_mode:
        return result
    for argv, line in zip(decided["commands"], lines):
        rc, out, err = cli.run(argv)
        if rc != 0:
            raise RolloutsError("`%s` failed: %s" % (line, explain_failure(err + "\n" + out)),
                                rc=rc, stdout=out, stderr=err, failed_command=line, **result)
    return result
