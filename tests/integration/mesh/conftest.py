"""The mesh simulator's fixture for the tests in this folder (other folders import it: see fixtures.py)."""

from integration.mesh.fixtures import mesh_simulator  # noqa: F401  (a fixture, used by name)
