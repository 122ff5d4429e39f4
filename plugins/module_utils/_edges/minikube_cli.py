# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The minikube command line and the host's size: the I/O of minikube_cluster, nothing decided here."""

from __future__ import annotations

import os

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import RolloutsError


class MinikubeCli(object):
    """Runs minikube through the module's ``run_command`` (passed in) with MINIKUBE_HOME/KUBECONFIG set."""

    def __init__(self, run_command, get_bin_path, minikube, minikube_home=None, kubeconfig=None):
        self.run_command = run_command
        self.minikube = minikube
        self.binary = minikube if os.path.sep in minikube else get_bin_path(minikube)
        self.env = {}
        if minikube_home:
            self.env["MINIKUBE_HOME"] = minikube_home
        if kubeconfig:
            self.env["KUBECONFIG"] = kubeconfig

    @property
    def installed(self):
        return bool(self.binary) and os.access(self.binary, os.X_OK)

    def run(self, argv):
        """(rc, stdout, stderr) of one minikube command line."""
        if not self.installed:
            raise RolloutsError("cannot run %s: no such executable" % self.minikube, param="minikube")
        return self.run_command([self.binary] + list(argv[1:]), environ_update=self.env)


def host_memory_mb():
    """This host's memory in MB, or None when /proc/meminfo cannot tell."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def host_cpus():
    return os.cpu_count()
