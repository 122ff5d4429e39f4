"""Run collection modules and roles for real, through ansible-playbook, and return results.

Integration tests go through ansible-playbook rather than importing modules, so they see what
a user sees: argument-spec validation, check mode, diff, `changed`, and the collection as
Ansible loads it.
"""

import json
import os
import subprocess
import sys
import tempfile

import yaml


class PlaybookResult(object):
    def __init__(self, proc, data):
        self.rc = proc.returncode
        self.stderr = proc.stderr
        self.raw = data
        self.tasks = []
        for play in data.get("plays", []):
            for task in play.get("tasks", []):
                host_res = next(iter(task.get("hosts", {}).values()), {})
                host_res = dict(host_res)
                host_res["_task"] = task["task"]["name"]
                self.tasks.append(host_res)

    def __getitem__(self, i):
        return self.tasks[i]

    def by_name(self, name):
        for t in self.tasks:
            if t["_task"] == name:
                return t
        raise KeyError(name)

    def __repr__(self):
        return "<PlaybookResult rc=%s tasks=%s>" % (self.rc, json.dumps(self.tasks, default=str)[:4000])


def run_play(tasks, check=False, diff=False, extra_vars=None, env=None, module_defaults=None, roles=None,
             gather_facts=False, vars=None):
    """Run `tasks` (a list of task dicts) on localhost; return a PlaybookResult.

    A failing task does not raise: tests assert on `failed` and `msg` themselves.
    """
    play = {"hosts": "localhost", "connection": "local", "gather_facts": gather_facts, "tasks": tasks}
    if module_defaults:
        play["module_defaults"] = module_defaults
    if roles:
        play["roles"] = roles
    if vars:
        play["vars"] = vars
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "play.yml")
        with open(path, "w") as fh:
            yaml.safe_dump([play], fh, sort_keys=False)
        cmd = ["ansible-playbook", "-i", "localhost,", path]
        if check:
            cmd.append("--check")
        if diff:
            cmd.append("--diff")
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        run_env = dict(os.environ)
        run_env.update({
            "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json",
            "ANSIBLE_LOCALHOST_WARNING": "false",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "false",
            # The modules run with this Python: the one that has the kubernetes library.
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "ANSIBLE_RETRY_FILES_ENABLED": "false",
            "ANSIBLE_NOCOLOR": "1",
        })
        run_env.update(env or {})
        proc = subprocess.run(cmd, capture_output=True, text=True, env=run_env, cwd=tmp, check=False)
    try:
        data = json.loads(proc.stdout[proc.stdout.index("{"):])
    except ValueError:
        raise AssertionError("ansible-playbook printed no JSON (rc=%s)\nstdout:\n%s\nstderr:\n%s"
                             % (proc.returncode, proc.stdout[-4000:], proc.stderr[-4000:]))
    return PlaybookResult(proc, data)
