# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""A test connection: it runs everything on this machine, as the local connection does, under another
name, so that an action plugin takes the host for one it reaches over a connection (a delegated task)."""

from __future__ import annotations

from ansible.plugins.connection.local import Connection as LocalConnection

DOCUMENTATION = """
    name: elsewhere
    short_description: the local connection under another name (tests only)
    description:
        - Runs modules on the controller as the local connection does, but is not it.
    author: rollouts.istio maintainers (@rollouts-istio)
    options:
        become_success_timeout:
            type: int
            default: 10
            description: As the local connection's.
            vars:
                - name: ansible_local_become_success_timeout
        become_strip_preamble:
            type: bool
            default: true
            description: As the local connection's.
            vars:
                - name: ansible_local_become_strip_preamble
    extends_documentation_fragment:
        - connection_pipelining
"""


class Connection(LocalConnection):
    transport = "elsewhere"
