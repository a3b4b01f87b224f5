from collections.abc import Iterator

import pytest

from tests.conftest import DaphneCluster


@pytest.fixture
def cluster(daphne_cluster: DaphneCluster) -> Iterator[DaphneCluster]:
    """The shared two-process cluster, checked afterwards for tracebacks in its logs."""
    before = len(daphne_cluster.tracebacks())
    yield daphne_cluster
    assert daphne_cluster.tracebacks()[before:] == [], "a Daphne process logged a traceback"
