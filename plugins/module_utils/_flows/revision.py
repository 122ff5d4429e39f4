# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The candidate's revision: read its workload and what it references, let the core hash it.

``reader`` has workload(kind, namespace, name), configmap(namespace, name) and secret(namespace,
name), each None for what does not exist (see _edges/workloads.py). A reference that does not
exist counts as absent, so creating it later is a new revision.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core import revision as REV
from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._edges.workloads import WORKLOAD_KINDS


def check_workload(workload, namespace):
    """The candidate_workload option, checked and with its namespace: {kind, name, namespace}."""
    kind = workload.get("kind") or "Deployment"
    if kind not in WORKLOAD_KINDS:
        kinds = ", ".join(sorted(WORKLOAD_KINDS))
        raise ParameterError("candidate_workload.kind", "must be one of %s, got %r" % (kinds, kind))
    if not workload.get("name"):
        raise ParameterError("candidate_workload.name", "name the candidate's %s" % kind)
    return {"kind": kind, "name": workload["name"], "namespace": workload.get("namespace") or namespace}


def candidate_revision(reader, workload, missing_ok=False):
    """What the record keeps of the candidate's workload (REV.describe), or None when it does not exist
    and ``missing_ok`` (check mode before it is deployed). Secrets' data is hashed here and dropped."""
    kind, namespace, name = workload["kind"], workload["namespace"], workload["name"]
    obj = reader.workload(kind, namespace, name)
    if obj is None:
        if missing_ok:
            return None
        raise ParameterError("candidate_workload", "the candidate's %s %s does not exist in namespace %s: deploy it "
                             "before its rollout starts" % (kind, name, namespace))
    template = (obj.get("spec") or {}).get("template") or {}
    configmap_names, secret_names = REV.references(template.get("spec"))
    configmaps = dict((n, reader.configmap(namespace, n)) for n in configmap_names)
    secrets = dict((n, reader.secret(namespace, n)) for n in secret_names)
    rev = REV.revision(template, configmaps, secrets)
    return REV.describe(kind, namespace, name, rev, configmap_names, secret_names)
