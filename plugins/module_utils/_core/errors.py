# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The one error root of the collection. Pure.

Every failure a module reports is a RolloutsError (or a subclass from the layer that found it),
raised anywhere and turned into ``fail_json`` in one place, the runner. It carries the option at
fault (``param``, put in front of the message and into the result) and any extra result fields.
"""

from __future__ import annotations


class RolloutsError(Exception):
    """A failure with a message for people; ``param`` names the option at fault, if one is."""

    def __init__(self, msg, param=None, **result):
        super(RolloutsError, self).__init__("%s: %s" % (param, msg) if param else msg)
        self.msg = msg
        self.param = param
        self.result = result

    def result_fields(self):
        """What the runner adds to the failed task's result."""
        out = dict(self.result)
        if self.param:
            out["param"] = self.param
        return out


class ParameterError(RolloutsError, ValueError):
    """An option (or a combination of options) that cannot work; nothing was sent anywhere."""

    def __init__(self, param, msg, **result):
        super(ParameterError, self).__init__(msg, param=param, **result)
