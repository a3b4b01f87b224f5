from collections.abc import Iterator

import pytest

from tests.conftest import DaphneCluster


def watched(cluster: DaphneCluster) -> Iterator[DaphneCluster]:
    """Yield the cluster, then fail if any of its processes logged a traceback meanwhile."""
    before = len(cluster.tracebacks())
    yield cluster
    assert cluster.tracebacks()[before:] == [], "a Daphne process logged a traceback"


@pytest.fixture
def cluster(daphne_cluster: DaphneCluster) -> Iterator[DaphneCluster]:
    """The shared two-process cluster (default limits), checked afterwards for tracebacks."""
    yield from watched(daphne_cluster)


@pytest.fixture
def load_cluster(unlimited_cluster: DaphneCluster) -> Iterator[DaphneCluster]:
    """The two-process cluster with limits off, checked afterwards for tracebacks."""
    yield from watched(unlimited_cluster)
