# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    """Attributes shared by the modules of this collection (see each module for its own support)."""

    DOCUMENTATION = r"""
options: {}
attributes:
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
    details: The module runs where the C(kubernetes) or HTTP client runs, usually the controller (C(localhost)).
"""

    # Modules that talk to the Kubernetes API and share its connection options.
    ACTIONGROUP_ISTIO = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/rollouts.istio.istio) in C(module_defaults) to set the connection options once per play.
    support: full
    membership:
      - rollouts.istio.istio
"""

    # Modules that talk to Prometheus and share its connection options.
    ACTIONGROUP_PROMETHEUS = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/rollouts.istio.prometheus) in C(module_defaults) to set the Prometheus URL and credentials once per play.
    support: full
    membership:
      - rollouts.istio.prometheus
"""

    # Modules that change an object.
    WRITES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The change is sent to the API server as a server-side dry run, so admission and defaulting run as for real.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
"""

    # Modules that only read.
    READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: This module never changes anything, so check mode runs it as usual.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: N/A
    details: This module never changes anything.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
"""
