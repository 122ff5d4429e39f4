"""The layer rule of plugins/module_utils, enforced (docs/architecture.md).

_core is pure: it imports nothing that does I/O and no other layer. _edges may use _core;
_flows may use _core and _edges; _runner may use all three. Only the runner calls fail_json or
exit_json. The rule is read from the source with ast, so a forbidden import anywhere in a file
(even inside a function) fails this test.
"""

import ast
import os

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
MODULE_UTILS = os.path.join(REPO, "plugins", "module_utils")
PLUGINS = os.path.join(REPO, "plugins")
PREFIX = "ansible_collections.rollouts.istio.plugins.module_utils."

LAYERS = ("_core", "_edges", "_flows", "_runner")
# What each layer may import of the others.
ALLOWED = {
    "_core": {"_core"},
    "_edges": {"_core", "_edges"},
    "_flows": {"_core", "_edges", "_flows"},
    "_runner": set(LAYERS),
}
# Modules that do I/O, or that tie code to a running Ansible module: never in the pure core.
IO_MODULES = ("socket", "ssl", "http", "urllib", "urllib3", "subprocess", "kubernetes", "requests",
              "ansible.module_utils.basic", "threading", "concurrent", "os", "time")


def imported_names(path):
    """Every module name a file imports, at any depth of its code."""
    tree = ast.parse(open(path).read(), path)
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
            if node.module == PREFIX.rstrip("."):
                # from ...module_utils import _core: the names are the layers
                names.extend(PREFIX + alias.name for alias in node.names)
    return names


def layer_of(name):
    if name.startswith(PREFIX):
        return name[len(PREFIX):].split(".")[0]
    return None


def files_of(layer):
    folder = os.path.join(MODULE_UTILS, layer)
    return sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py"))


def forbidden_imports(path, layer):
    """The imports of ``path`` that break the layer rule for ``layer``, as readable strings."""
    out = []
    for name in imported_names(path):
        other = layer_of(name)
        if other is not None and other not in ALLOWED[layer]:
            out.append("%s imports %s" % (layer, name))
        if layer == "_core" and any(name == m or name.startswith(m + ".") for m in IO_MODULES):
            out.append("the pure core imports %s" % name)
    return out


def test_every_module_utils_file_is_in_a_layer():
    loose = [f for f in os.listdir(MODULE_UTILS) if f.endswith(".py")]
    assert loose == [], "module_utils files outside a layer folder: %s" % loose
    assert sorted(d for d in os.listdir(MODULE_UTILS) if not d.startswith("__")) == sorted(LAYERS)


@pytest.mark.parametrize("layer", LAYERS)
def test_layer_imports_only_what_it_may(layer):
    problems = []
    for path in files_of(layer):
        problems.extend("%s: %s" % (os.path.relpath(path, REPO), p) for p in forbidden_imports(path, layer))
    assert problems == []


def test_the_rule_catches_a_forbidden_import(tmp_path):
    # The checker itself, on files that break the rule: a socket in the core, an edge in the core,
    # the runner in a flow.
    cases = {
        "_core": "import socket\n",
        "_core ": "from ansible_collections.rollouts.istio.plugins.module_utils._edges.k8s_client import K8sError\n",
        "_flows": "def f():\n    from ansible_collections.rollouts.istio.plugins.module_utils._runner import runner\n",
    }
    for layer, source in cases.items():
        path = tmp_path / "bad.py"
        path.write_text(source)
        assert forbidden_imports(str(path), layer.strip()), layer


def test_only_the_runner_ends_a_module():
    offenders = []
    for root, _dirs, files in os.walk(PLUGINS):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(root, name)
            if path == os.path.join(MODULE_UTILS, "_runner", "runner.py"):
                continue
            tree = ast.parse(open(path).read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Attribute) and node.attr in ("fail_json", "exit_json"):
                    offenders.append("%s:%d %s" % (os.path.relpath(path, REPO), node.lineno, node.attr))
    assert offenders == []


def test_modules_build_their_module_through_the_runner():
    folder = os.path.join(PLUGINS, "modules")
    direct = []
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py"):
            continue
        tree = ast.parse(open(os.path.join(folder, name)).read())
        for node in ast.walk(tree):
            if isinstance(node, ast.Name) and node.id == "AnsibleModule":
                direct.append(name)
    assert direct == []
