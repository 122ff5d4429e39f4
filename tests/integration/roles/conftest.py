"""Fixtures for the tests of the install_minikube and install_istio roles."""

import pytest

from support.roles import serve


@pytest.fixture
def http_dir(tmp_path):
    """A directory served over HTTP on 127.0.0.1 for the test's duration: (dir, base URL).

    The roles' "download with checksum" path is exercised against it, since nothing can be
    downloaded from release pages on these machines.
    """
    root = tmp_path / "www"
    root.mkdir()
    with serve(root) as url:
        yield root, url
