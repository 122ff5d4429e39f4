#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright (c) rollouts.istio contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: can_prompt
short_description: Whether a prompt on the controller's terminal could be answered
version_added: 0.1.0
description:
  - Says whether M(ansible.builtin.pause) could ask someone on the terminal of this run, as Ansible decides it
    itself - the controller's stdin is a terminal and the run is in its foreground. Under AWX, in CI, with
    stdin redirected or with the run in the background, RV(can_prompt) is V(false) and a pause answers nothing.
  - Under ansible-runner (AWX and Automation Controller jobs, C(ansible-runner run)) it is always V(false),
    because runner gives the run a pseudo-terminal that no person types into.
  - Run it before anything that depends on an answer, so that a run nobody can answer is refused before it
    changes anything (the C(rollouts.istio.shift_traffic) role does so for C(shift_traffic_approval_mode=pause)).
  - An action plugin that runs on the controller; it has no options.
  - On an interactive terminal it asks for a prompt that waits 0 seconds, so an empty line is shown.
author:
  - rollouts.istio maintainers (@rollouts-istio)
options: {}
attributes:
  check_mode:
    support: full
    description: It only looks; check mode changes nothing.
  diff_mode:
    support: none
    description: Nothing changes, so there is no difference to show.
  action:
    support: full
    description: An action plugin, run on the controller.
  async:
    support: none
    description: Not with async.
  platform:
    support: full
    platforms: all
    description: It runs on the controller, whatever the target host.
seealso:
  - module: ansible.builtin.pause
"""

EXAMPLES = r"""
- name: Ask whether anyone can answer a prompt
  rollouts.istio.can_prompt:
  register: terminal

- name: Refuse to wait for an answer nobody can give
  ansible.builtin.assert:
    that: terminal.can_prompt
    fail_msg: no terminal to approve on; run this from a terminal, or approve with a second run
"""

RETURN = r"""
can_prompt:
  description: Whether a prompt of M(ansible.builtin.pause) reaches an interactive terminal.
  returned: always
  type: bool
  sample: false
"""
