"""The release tests' fixtures (tests/integration/release/conftest.py), used as they are: loaded from
that file, not copied, so both suites lay out the same release."""

import importlib.util
import os

_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "release", "conftest.py")
_SPEC = importlib.util.spec_from_file_location("release_suite_conftest", _PATH)
_RELEASE = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(_RELEASE)

# Fixtures, used by name.
mesh_simulator = _RELEASE.mesh_simulator
release = _RELEASE.release
timed_audit = _RELEASE.timed_audit
