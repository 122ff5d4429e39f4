#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: rollout
short_description: Move a release through its phases, with its record and weights in one guarded write
version_added: 0.1.0
description:
  - One action of a rollout of a candidate version beside a stable one (start, a weight step, approval,
    promotion, rollback, abort, retry, or recording a gate's decision), over the state machine of
    U(https://github.com/rollouts-istio/rollouts.istio/blob/main/docs/rollout.md). An action the
    rollout's phase does not allow is refused, naming the phase and the actions it allows, and changes
    nothing.
  - The rollout's record (phase, step, weights, stable and candidate, the run that holds it, every
    decision) is kept in annotations of the first VirtualService of O(virtual_services), and in the same
    JSON patch as that VirtualService's weights, guarded by the resourceVersion that was read. A run
    killed at any point leaves the record and the weights both as before the patch or both as after.
    C(kubectl get virtualservice -L rollouts.istio/phase) shows the phase.
  - All VirtualServices of O(virtual_services) move together; the others are written before the record
    carrier, so the record never claims a step the others have not reached.
  - Only the controlled HTTP route's destinations, the rollout's own route C(<name>-candidate) (with
    O(match)) and a mirror to the candidate (with O(mirror_percent)) are changed; every other route and
    field stays byte-for-byte.
  - One run at a time. While the rollout is active, another O(run_id) is refused with
    C(rollout X is Progressing at step 2, started by <run> at <time>). A holder on this same host whose
    process no longer exists (a killed run) is taken over at once; a holder elsewhere only when its last
    write is older than O(stale_after) and O(take_over) is set. O(action=rollback) and O(action=abort)
    always go through.
  - Weights someone else set are never silently undone. While the rollout is C(Progressing),
    C(WaitingApproval), C(Promoting) or C(Finalising), the first VirtualService's controlled route must have
    the weights the rollout last wrote (they are written with the record, so only another writer can change
    them). If not, every action but O(action=rollback) and O(action=abort) fails, writes nothing, and
    returns C(weights_changed) with the live and the recorded weights.
author:
  - rollouts.istio maintainers (@rollouts-istio)
requirements:
  - kubernetes >= 24.2.0 (the Python client)
options:
  name:
    description: Name of the rollout, a DNS-1123 label; usually the app's name.
    type: str
    required: true
  namespace:
    description: Namespace of the VirtualServices (the default of each entry of O(virtual_services)).
    type: str
    required: true
  virtual_services:
    description:
      - The VirtualServices whose route the rollout controls; the first one carries the record.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the VirtualService.
        type: str
        required: true
      namespace:
        description: Its namespace; O(namespace) when not given.
        type: str
      route:
        description:
          - Name of the HTTP route to control; when not given the only route, or the one without C(match).
        type: str
  service:
    description: The host the routes send to (the app's Service, a short name or an FQDN).
    type: str
    required: true
  stable:
    description: The stable version's DestinationRule subset.
    type: str
    required: true
  candidate:
    description: The candidate version's DestinationRule subset.
    type: str
    required: true
  action:
    description:
      - V(start) records a new rollout (or, for an active one of this same release, takes it up again);
        for a release already promoted, or rolled back with the same candidate, it changes nothing and
        RV(rerun) says so.
      - V(step) sends O(weight) % to the candidate (stable the rest) on every VirtualService.
      - V(wait_approval) and V(approve) stop at and pass the approval point.
      - V(promote) points the routes at the candidate alone; V(finalise) and V(succeed) record the old
        version's scale-down and the end.
      - V(rollback) and V(abort) point the routes at the stable version alone and remove the rollout's
        own route and mirror; the phase becomes C(Failed) or C(Aborted).
      - V(retry) starts a failed or aborted rollout of the same candidate again.
      - V(record) appends O(decision) (and O(failed_checks)) without changing the phase.
    type: str
    required: true
    choices: [start, step, wait_approval, approve, promote, finalise, succeed, rollback, abort, retry, record]
  weight:
    description: With O(action=step), the candidate's weight, an integer from 0 to 100.
    type: int
  step:
    description: With O(action=step), the number of the step, from 1.
    type: int
  match:
    description:
      - With O(action=step), Istio C(HTTPMatchRequest)s; requests matching them go to the candidate alone,
        through a route C(<name>-candidate) the rollout adds at the top of C(spec.http). A step without
        O(match), promotion, rollback and abort remove that route.
    type: list
    elements: dict
  mirror_percent:
    description:
      - With O(action=step), mirror this share (0 to 100) of the controlled route's traffic to the
        candidate; 0 or not given removes the rollout's mirror.
    type: float
  decision:
    description:
      - A gate's decision to append to the record, a dictionary with C(gate), C(verdict) and C(reason) (and any
        values). Its C(time) (now, UTC) and C(step) are added when missing. The record keeps the last 50.
      - A C(checks) list (the result of M(rollouts.istio.prometheus_check)) is kept compactly as C(analysis)
        (each metric and its query once, then one row per check, the last 40 checks of the decision), so the
        report (M(rollouts.istio.rollout_report)) can show every value behind the verdict.
    type: dict
  failed_checks:
    description: The failed Prometheus checks of the whole rollout so far, kept in the record.
    type: int
  reason:
    description: Why, for example the failing gate's reason for V(rollback); kept as the record's C(message).
    type: str
  strategy:
    description: With O(action=start), the strategy, kept in the record for status.
    type: str
  steps:
    description: With O(action=start), the candidate weights of the plan's steps, kept in the record.
    type: list
    elements: int
  candidate_workload:
    description:
      - The candidate's workload. With it, V(start) and V(retry) read its revision (a hash of its pod
        template's spec and of the data of every ConfigMap and Secret that spec references) and keep it
        in the record; V(succeed) keeps it as the promoted revision.
      - V(start) then restarts an active rollout whose candidate is a new revision (weights back to
        100 % stable, step 0, failed checks 0, RV(restarted)), starts a new rollout after a failure or an
        abort when the revision is new, changes nothing for the revision already promoted (RV(msg) says
        when), and refuses a promoted version changed in place.
      - Secrets are hashed; their data is never kept or returned.
    type: dict
    suboptions:
      kind:
        description: The workload's kind.
        type: str
        choices: [Deployment, DaemonSet]
        default: Deployment
      name:
        description: Its name, for example C(podinfo-v2).
        type: str
        required: true
      namespace:
        description: Its namespace; O(namespace) when not given.
        type: str
  run_id:
    description:
      - Who acts, written in the record as the holder of the lock; see the P(rollouts.istio.run_id#lookup)
        lookup, which names the ansible-playbook process.
    type: str
    required: true
  take_over:
    description: Take over the lock of another run whose last write is older than O(stale_after).
    type: bool
    default: false
  stale_after:
    description: Seconds after its last write that another run's lock counts as stale.
    type: int
    default: 900
  validate_destinations:
    description: Check that the service and both subsets exist (a DestinationRule defines them) before writing.
    type: bool
    default: true
  cluster_domain:
    description: DNS domain of the cluster, used to expand short host names.
    type: str
    default: cluster.local
  max_conflict_retries:
    description: How many times to read again and retry when a VirtualService changed between read and write.
    type: int
    default: 5
extends_documentation_fragment:
  - rollouts.istio.k8s_auth
  - rollouts.istio.attributes
  - rollouts.istio.attributes.ACTIONGROUP_ISTIO
  - rollouts.istio.attributes.WRITES
notes:
  - Needs the verbs C(get) and C(patch) on C(virtualservices), and C(list) on C(destinationrules) with
    O(validate_destinations); with O(candidate_workload), C(get) on its kind and on the C(configmaps) and
    C(secrets) it references.
seealso:
  - module: rollouts.istio.rollout_info
  - module: rollouts.istio.traffic_split
"""

EXAMPLES = r"""
- name: Start the rollout of v2 beside v1
  rollouts.istio.rollout:
    name: podinfo
    namespace: demo
    virtual_services: [{name: podinfo}]
    service: podinfo
    stable: v1
    candidate: v2
    action: start
    strategy: canary
    steps: [10, 50, 100]
    run_id: "{{ lookup('rollouts.istio.run_id') }}"

- name: Send 10 % to the candidate
  rollouts.istio.rollout:
    name: podinfo
    namespace: demo
    virtual_services: [{name: podinfo}]
    service: podinfo
    stable: v1
    candidate: v2
    action: step
    step: 1
    weight: 10
    run_id: "{{ run_id }}"

- name: Roll back (the first task of a rescue)
  rollouts.istio.rollout:
    name: podinfo
    namespace: demo
    virtual_services: [{name: podinfo}]
    service: podinfo
    stable: v1
    candidate: v2
    action: rollback
    reason: "step 1 (10 %): request-success-rate 95.2 < min 99"
    run_id: "{{ run_id }}"
"""

RETURN = r"""
rollout:
  description:
    - The record after the action (in check mode, what it would be); empty when there is none.
    - C(phase), C(step), C(weight) (the candidate's), C(stable), C(candidate), C(strategy), C(steps), C(run),
      C(started), C(updated), C(failed_checks), C(message), C(virtual_services), C(decisions) and C(history).
  returned: success
  type: dict
  sample: {phase: Progressing, step: 1, weight: 10, stable: v1, candidate: v2, failed_checks: 0}
phase_before:
  description: The phase found before the action; null when there was no record.
  returned: success
  type: str
  sample: Initialized
rerun:
  description: What a run that finds the rollout in RV(phase_before) does, C({action, why}), as docs/rollout.md says.
  returned: success
  type: dict
  sample: {action: continue, why: "continue from the recorded step, with its gate run again"}
lock:
  description: C(free), C(own) or C(taken_over).
  returned: success
  type: str
  sample: own
holder_before:
  description: The run that held the rollout before this action (from the record); null when there was no record.
  returned: success
  type: str
  sample: ops@controller-1:4242:1764633600
weights:
  description: The controlled route's weights after the action, by VirtualService (C(namespace/name)).
  returned: success
  type: dict
  sample: {demo/podinfo: {stable: 90, candidate: 10}}
virtual_services:
  description: For each VirtualService, its route, weights, the rollout's own route and mirror after the action.
  returned: success
  type: dict
weights_changed:
  description:
    - When the action was refused because the first VirtualService's controlled route does not have the
      weights the rollout last wrote; it holds the VirtualService, the route, the C(live) and the C(recorded) weights.
  returned: failure
  type: dict
  sample: {virtual_service: demo/podinfo, route: primary, live: {stable: 70, candidate: 30},
           recorded: {stable: 50, candidate: 50}}
attempts:
  description: How many times the VirtualServices were read (more than one after a conflict).
  returned: success
  type: int
  sample: 1
restarted:
  description: Whether V(start) restarted an active rollout because the candidate is a new revision.
  returned: success
  type: bool
  sample: false
revision:
  description: The candidate's revision read by V(start) or V(retry) with O(candidate_workload); null otherwise.
  returned: success
  type: str
  sample: 3f9a1c0d5e7b2a48
reason:
  description: Why the rollout restarted, for example C(revision changed from 3f9a1c0d5e7b2a48 to 0c1d...).
  returned: when RV(restarted)
  type: str
msg:
  description: What happened, when a start restarted the rollout or found its revision already promoted.
  returned: sometimes
  type: str
  sample: "rollout podinfo: revision 3f9a1c0d5e7b2a48 already promoted at 2026-12-02T10:00:00.000000Z"
"""

import datetime
import time

from ansible_collections.rollouts.istio.plugins.module_utils._core.errors import ParameterError
from ansible_collections.rollouts.istio.plugins.module_utils._core.params import check_dns_label, check_number
from ansible_collections.rollouts.istio.plugins.module_utils._core.rollout_record import Request
from ansible_collections.rollouts.istio.plugins.module_utils._edges.local_process import holder_alive
from ansible_collections.rollouts.istio.plugins.module_utils._edges.workloads import WorkloadReader
from ansible_collections.rollouts.istio.plugins.module_utils._flows.revision import check_workload
from ansible_collections.rollouts.istio.plugins.module_utils._flows.rollout import act
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import (
    connect_istio,
    kubernetes_module,
    run,
)

MODULE_SPEC = dict(
    name=dict(type="str", required=True),
    namespace=dict(type="str", required=True),
    virtual_services=dict(type="list", elements="dict", required=True, options=dict(
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
        route=dict(type="str"),
    )),
    service=dict(type="str", required=True),
    stable=dict(type="str", required=True),
    candidate=dict(type="str", required=True),
    action=dict(type="str", required=True, choices=["start", "step", "wait_approval", "approve", "promote", "finalise",
                                                    "succeed", "rollback", "abort", "retry", "record"]),
    weight=dict(type="int"),
    step=dict(type="int"),
    match=dict(type="list", elements="dict"),
    mirror_percent=dict(type="float"),
    decision=dict(type="dict"),
    failed_checks=dict(type="int"),
    reason=dict(type="str"),
    strategy=dict(type="str"),
    steps=dict(type="list", elements="int"),
    candidate_workload=dict(type="dict", options=dict(
        kind=dict(type="str", default="Deployment", choices=["Deployment", "DaemonSet"]),
        name=dict(type="str", required=True),
        namespace=dict(type="str"),
    )),
    run_id=dict(type="str", required=True),
    take_over=dict(type="bool", default=False),
    stale_after=dict(type="int", default=900),
    validate_destinations=dict(type="bool", default=True),
    cluster_domain=dict(type="str", default="cluster.local"),
    max_conflict_retries=dict(type="int", default=5),
)


def _now_iso():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entries_of(params):
    """The VirtualServices of the rollout, each with its namespace, checked."""
    out = []
    for i, entry in enumerate(params["virtual_services"] or []):
        namespace = entry.get("namespace") or params["namespace"]
        check_dns_label(namespace, "virtual_services[%d].namespace" % i, "namespace")
        if not entry.get("name"):
            raise ParameterError("virtual_services[%d].name" % i, "every VirtualService needs a name")
        out.append({"name": entry["name"], "namespace": namespace, "route": entry.get("route")})
    if not out:
        raise ParameterError("virtual_services", "name at least one VirtualService")
    return out


def move(module):
    p = module.params
    check_dns_label(p["name"], "name", "rollout name")
    check_dns_label(p["namespace"], "namespace", "namespace")
    check_number(p["stale_after"], "stale_after", minimum=1, integer=True)
    check_number(p["max_conflict_retries"], "max_conflict_retries", minimum=0, integer=True)
    entries = entries_of(p)
    req = Request(name=p["name"], action=p["action"], stable=p["stable"], candidate=p["candidate"], step=p["step"],
                  weight=p["weight"], decision=p["decision"], failed_checks=p["failed_checks"], message=p["reason"],
                  strategy=p["strategy"], steps=p["steps"], run_id=p["run_id"], match=p["match"],
                  mirror_percent=p["mirror_percent"], service=p["service"], virtual_services=entries)
    workload = check_workload(p["candidate_workload"], p["namespace"]) if p["candidate_workload"] else None
    api = connect_istio(module)
    result, diff = act(api, req, entries, p["service"], time.time, _now_iso,
                       check_mode=module.check_mode, stale_after=p["stale_after"], take_over=p["take_over"],
                       holder_alive=holder_alive, validate_destinations=p["validate_destinations"],
                       domain=p["cluster_domain"], max_retries=p["max_conflict_retries"],
                       workloads=WorkloadReader(api.client), workload=workload)
    if module._diff:
        result["diff"] = diff
    return result


def main():
    run(kubernetes_module(MODULE_SPEC, supports_check_mode=True), move)


if __name__ == "__main__":
    main()
