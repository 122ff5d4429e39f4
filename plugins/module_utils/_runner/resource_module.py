# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The whole ``main()`` of a module that makes one Istio object present or absent.

gateway, destination_rule and virtual_service differ only in their kind, their plain options and
how those become a spec; everything else (the whole-spec option, mutual exclusion, the ensure
flow, check and diff mode) is this one function.
"""

from __future__ import annotations

from ansible_collections.rollouts.istio.plugins.module_utils._core.specs import check_object_names
from ansible_collections.rollouts.istio.plugins.module_utils._flows.ensure_object import desired_object, ensure
from ansible_collections.rollouts.istio.plugins.module_utils._runner.runner import connect_istio, kubernetes_module, run


def run_resource_module(kind, module_spec, plain, required, build_spec):
    """Run a resource module: ``build_spec(params)`` turns its options into the object's spec.

    ``plain`` lists the plain options, each exclusive with ``spec``; with state=present ``spec``
    or the plain option ``required`` must be given.
    """
    module = kubernetes_module(module_spec, supports_check_mode=True,
                               mutually_exclusive=[["spec", p] for p in plain],
                               required_if=[["state", "present", ["spec", required], True]])

    def action(mod):
        p = mod.params
        check_object_names(p)
        spec = build_spec(p)
        desired = desired_object(kind, p["name"], p["namespace"], spec, p["labels"], p["annotations"])
        return ensure(connect_istio(mod), desired, p["state"], mod.check_mode, mod._diff)

    run(module, action)
