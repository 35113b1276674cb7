"""Fixtures of the fault suite: its one migrated database, a private redis-server (or SecantusDB)
per test, and the test's servers (tests.faults.cluster). Every test here carries the `faults`
marker, which `make check` deselects."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devtools.services import Service, start_redis, start_secantus
from tests.faults.cluster import Cluster, migrated_database

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest's hook sees the whole session's items: mark only this directory's.
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.faults)


@pytest.fixture(scope="session")
def database() -> str:
    return migrated_database()


@pytest.fixture
def cluster(database: str) -> Iterator[Cluster]:
    """Start servers with `cluster.start(count, **env)`; all are stopped after the test."""
    servers = Cluster(database)
    yield servers
    servers.stop()


@pytest.fixture
def redis_server() -> Iterator[Service]:
    """A redis-server of this test alone (its faults touch nobody else)."""
    service = start_redis()
    yield service
    service.stop()


@pytest.fixture
def live(redis_server: Service) -> Iterator[redis.Redis]:
    """A client straight to the test's Redis (past any proxy): what Redis really holds."""
    client = redis.Redis.from_url(redis_server.url, socket_timeout=5)
    yield client
    client.close()


@pytest.fixture
def mongodb() -> Iterator[Service]:
    """A SecantusDB of this test alone (to pause: SIGSTOP), resumed and stopped after it."""
    service = start_secantus()
    yield service
    service.proc.send_signal(signal.SIGCONT)  # a test that failed while it was paused
    service.stop()
