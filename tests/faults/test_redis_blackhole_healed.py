"""Redis black-holed for 4 s, then healed (tests.faults.redis_blackhole): the commands held in the
black hole run late, so a Join or chat that a server timed out and retried runs twice; the room
must still come out whole."""

from __future__ import annotations

import pytest

from tests.faults.redis_blackhole import black_hole_then

pytestmark = pytest.mark.e2e


async def test_redis_black_holed_then_healed_everything_recovers(
    redis_server, live, cluster, room_id, live_players
) -> None:
    await black_hole_then("heal", redis_server, live, cluster, room_id, live_players)
