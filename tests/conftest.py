"""Tests that touch the store run on both backends: `store_url` is a fresh SQLite file or a
fresh database in a PostgreSQL cluster this test session starts (and stops), once for every
test directory. When PostgreSQL cannot start the PostgreSQL cases fail with why, never skip:
CI has it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.store.pg_cluster import Cluster, ClusterError


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        cluster.start()
    except ClusterError as e:
        cluster.stop()
        pytest.fail(f"PostgreSQL for the store tests did not start: {e}", pytrace=False)
    yield cluster
    cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: Cluster) -> str:
    return pg_cluster.database()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where a test's store lives, once per backend."""
    if request.param == "sqlite":
        return str(tmp_path / "var" / "voicebot.db")
    return request.getfixturevalue("pg_url")
