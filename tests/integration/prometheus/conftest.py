"""Fixtures of the Prometheus module tests: the mesh simulator (from tests/integration/mesh)."""

# A fixture, used by name.
from support.mesh import mesh_simulator  # noqa: F401 pylint: disable=unused-import
