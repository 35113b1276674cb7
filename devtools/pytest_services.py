"""pytest plugin: start a private redis-server and SecantusDB before Django settings load.

Loaded with `-p devtools.pytest_services` (pyproject.toml), so it runs before pytest-django reads
REDIS_URL / MONGODB_URL. Where those are already set, it starts nothing and uses them. The
servers are stopped by their own pids when the session ends.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

import pytest

from devtools.services import Service, start_redis, start_secantus

_started: list[Service] = []
_handles: dict[str, Service | None] = {"redis": None, "mongodb": None}


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(
    early_config: pytest.Config, parser: Any, args: list[str]
) -> None:
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ.setdefault("MONGODB_DB_NAME", f"signight_test_{uuid.uuid4().hex[:8]}")
    os.environ.setdefault("WS_AUTH_REQUIRED", "0")
    os.environ.setdefault("LOG_LEVEL", "warning")
    if "REDIS_URL" not in os.environ:
        redis = start_redis()
        _started.append(redis)
        _handles["redis"] = redis
        os.environ["REDIS_URL"] = redis.url
    if "MONGODB_URL" not in os.environ:
        log = Path(tempfile.gettempdir()) / f"signight-test-secantus-{os.getpid()}.log"
        mongo = start_secantus(log_path=log)
        _started.append(mongo)
        _handles["mongodb"] = mongo
        os.environ["MONGODB_URL"] = mongo.url


def pytest_unconfigure(config: pytest.Config) -> None:
    while _started:
        _started.pop().stop()


@pytest.fixture(scope="session")
def services() -> dict[str, Service | None]:
    """The private servers this session started (None where REDIS_URL/MONGODB_URL were given)."""
    return _handles
