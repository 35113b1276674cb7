"""A MongoDB that hangs, for real (issue 11, part): the database process is paused (SIGSTOP). A
Chat gets `chat_unavailable` within MONGODB_TIMEOUT_MS instead of waiting for ever, the socket
stays open, and once the database answers again chat works without a restart."""

from __future__ import annotations

import signal
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from devtools.services import Service
from tests import frames
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 1000


@pytest.fixture
def server(mongodb: Service, cluster) -> ServerProcess:
    name = unique_db()  # on this test's own SecantusDB
    migrate(server_env(MONGODB_URL=mongodb.url, MONGODB_DB_NAME=name))
    (process,) = cluster.start(
        1, MONGODB_URL=mongodb.url, MONGODB_DB_NAME=name, MONGODB_TIMEOUT_MS=str(TIMEOUT_MS)
    )
    return process


async def test_a_chat_while_mongodb_hangs_is_refused_in_time_and_chat_recovers(
    mongodb, server, room_id, live_players
) -> None:
    player = await live_players.connect(server.ws_url)
    await player.join(room_id, "P")

    mongodb.proc.send_signal(signal.SIGSTOP)
    await player.send({"type": "Chat", "message": "into the void"})
    # Without a deadline the insert would wait for ever: no answer within recv_first's 10 s.
    refused = await player.recv_first("Chat", "Error")
    assert refused == {
        "type": "Error",
        "code": "chat_unavailable",
        "message": "chat is unavailable right now; the message was not sent",
    }
    await player.send({"type": "Ping", "t": 1})
    assert await player.recv_first("Pong") == frames.pong(1)

    mongodb.proc.send_signal(signal.SIGCONT)
    await player.send({"type": "Chat", "message": "back"})
    echo = await player.recv_first("Chat", "Error")
    assert echo["type"] == "Chat" and echo["message"] == "back"


@pytest.fixture
def impatient_server(mongodb: Service) -> Iterator[ServerProcess]:
    env = server_env(
        MONGODB_URL=mongodb.url,
        MONGODB_DB_NAME=unique_db(),
        MONGODB_TIMEOUT_MS=str(TIMEOUT_MS),
        BACKEND_OUTAGE_CLOSE_SECONDS="3",
    )
    migrate(env)
    process = ServerProcess(env).start()
    yield process
    process.stop()


async def test_a_mongodb_outage_longer_than_the_limit_closes_sockets_with_1013(
    mongodb, impatient_server, room_id, live_players
) -> None:
    player = await live_players.connect(impatient_server.ws_url)
    await player.join(room_id, "P")

    mongodb.proc.send_signal(signal.SIGSTOP)
    for t in range(3):  # an outage shorter than the limit keeps the socket open
        await player.send({"type": "Ping", "t": t})
        assert await player.recv_first("Pong") == frames.pong(t)
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await player.recv(timeout=20)
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (1013, "service unavailable")
