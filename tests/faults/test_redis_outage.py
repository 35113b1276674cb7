"""A Redis outage, for real (issue 11, part): a server whose Redis is killed keeps its sockets
open; Updates are still accepted, a Join that cannot be served gets Error `unavailable` (never
close 1011), and once Redis is back a Join is served again. Only an outage longer than
BACKEND_OUTAGE_CLOSE_SECONDS closes the sockets, with 1013."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import ConnectionClosed

from tests import frames
from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(redis_server, cluster) -> ServerProcess:
    # BACKEND_OUTAGE_CLOSE_SECONDS: 30, longer than this test's outage
    (process,) = cluster.start(1, REDIS_URL=redis_server.url)
    return process


@pytest.fixture
def impatient_server(redis_server, cluster) -> ServerProcess:
    (process,) = cluster.start(1, REDIS_URL=redis_server.url, BACKEND_OUTAGE_CLOSE_SECONDS="2")
    return process


async def pong(client: LiveSocket, t: int) -> dict:
    """The next Error or Pong after a Ping: a socket that still answers."""
    await client.send({"type": "Ping", "t": t})
    return await client.recv_first("Pong", "Error")


async def test_while_redis_is_down_sockets_stay_open_and_a_join_gets_unavailable(
    redis_server, server, room_id, live_players
) -> None:
    player = await live_players.connect(server.ws_url)
    await player.join(room_id, "P")
    assert await pong(player, 0) == frames.pong(0)  # the Join has finished

    redis_server.stop(kill=True)
    await player.send({"type": "Update", "state": STATE})
    assert await pong(player, 1) == frames.pong(1), "an Update does no I/O: accepted"

    await player.send({"type": "Join", "room_id": room_id + "-b", "name": "P"})
    error = await player.recv_type("Error")
    assert error == {
        "type": "Error",
        "code": "unavailable",
        "message": "A backing service is unavailable; retry shortly.",
    }
    assert await pong(player, 2) == frames.pong(2), "still open: no 1011"

    redis_server.restart()
    for _attempt in range(20):
        await player.send({"type": "Join", "room_id": room_id + "-b", "name": "P"})
        frame = await player.recv_first("Welcome", "Error")
        if frame["type"] == "Welcome":
            break
        await asyncio.sleep(0.5)
    assert frame["type"] == "Welcome" and frame["room_id"] == room_id + "-b"


async def test_an_outage_longer_than_the_limit_closes_sockets_with_1013(
    redis_server, impatient_server, room_id, live_players
) -> None:
    player = await live_players.connect(impatient_server.ws_url)
    await player.join(room_id, "P")
    assert await pong(player, 0) == frames.pong(0)

    redis_server.stop(kill=True)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await player.recv(timeout=20)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "service unavailable")
