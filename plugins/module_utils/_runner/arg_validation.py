# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A module's arguments validated as AnsibleModule validates them, for the action plugins that run the
module's code in the controller's worker: the same parameters, warnings, deprecations and messages."""

from __future__ import annotations

from ansible.module_utils.errors import UnsupportedError


def validate_as_module(validator, args, name):
    """(params, no_log_values, warnings, deprecations, error message or None) of ``args`` under
    ``validator`` (an ArgumentSpecValidator of the module's spec), for module ``name``."""
    validation = validator.validate(args)
    params = dict(args)
    params.update(validation.validated_parameters)
    warnings = ["Both option {option} and its alias {alias} are set.".format(**w) for w in validation._warnings]
    deprecations = []
    for d in validation._deprecations:
        entry = dict(msg=d["msg"], collection_name=d.get("collection_name"))
        if d.get("date") is not None:
            entry["date"] = d["date"]
        else:
            entry["version"] = d.get("version")
        deprecations.append(entry)
    message = None
    if validation.error_messages:
        message = validation.errors.msg
        if isinstance(validation.errors[0], UnsupportedError):
            message = "Unsupported parameters for ({name}) {kind}: {msg}".format(name=name, kind="module", msg=message)
    return params, set(validation._no_log_values), warnings, deprecations, message
