"""Redis black-holed for 4 s, then every connection to it reset (tests.faults.redis_blackhole): the
commands held never run, and each client must notice its dead connections and use new ones."""

from __future__ import annotations

import pytest

from tests.faults.redis_blackhole import black_hole_then

pytestmark = pytest.mark.e2e


async def test_redis_black_holed_then_reset_everything_recovers(
    redis_server, live, cluster, room_id, live_players
) -> None:
    await black_hole_then("reset", redis_server, live, cluster, room_id, live_players)
