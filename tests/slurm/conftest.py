"""A one-node Slurm cluster for the whole session, started here from Debian's packages, or a skip with the reason."""

from __future__ import annotations

import pytest

from tests.slurm.cluster import Cluster, start_cluster, why_not


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory) -> Cluster:
    """munged, slurmctld and slurmd on localhost (2 CPUs), stopped at the end of the session."""
    reason = why_not()
    if reason:
        pytest.skip(f"no Slurm cluster: {reason}")
    try:
        cluster = start_cluster(tmp_path_factory.mktemp("slurm"))
    except RuntimeError as exc:
        pytest.skip(f"the one-node Slurm cluster did not start: {exc}")
    yield cluster
    cluster.stop()


@pytest.fixture
def slurm(slurm_cluster, monkeypatch) -> Cluster:
    """The cluster, found by this test's Slurm clients through SLURM_CONF."""
    for key, value in slurm_cluster.env.items():
        monkeypatch.setenv(key, value)
    return slurm_cluster
