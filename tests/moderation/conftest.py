"""Fixtures of the moderation tests: a migrated database of the module's own (`env`) and two real
server processes on it (`servers`); the moderator's users are made by each module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.moderation.live import SECRET


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    env = server_env(MONGODB_DB_NAME=unique_db(), JWT_SECRET=SECRET)
    migrate(env)
    return env


@pytest.fixture(scope="module")
def servers(env) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    one, two = ServerProcess(env).start(), ServerProcess(env).start()
    yield one, two
    one.stop()
    two.stop()
