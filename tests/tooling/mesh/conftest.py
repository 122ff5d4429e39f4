"""The mesh simulator's fixture for the tests in this folder (it lives in tests/support/mesh.py, where
the collection's integration tests import it too)."""

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
