import pytest
from pytest_channels_live import DaphneCluster


# A test whose Daphne processes log a traceback fails: pytest-channels-live checks every server's log.
@pytest.fixture
def cluster(daphne_cluster: DaphneCluster) -> DaphneCluster:
    """The shared two-process cluster (default limits)."""
    return daphne_cluster


@pytest.fixture
def load_cluster(unlimited_cluster: DaphneCluster) -> DaphneCluster:
    """The two-process cluster with limits off, for load and fuzz tests."""
    return unlimited_cluster
