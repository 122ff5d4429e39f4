"""The mesh simulator's fixture for the tests in this folder (other folders import it: see fixtures.py)."""

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
