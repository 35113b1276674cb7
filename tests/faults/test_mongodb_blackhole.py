"""MongoDB black-holed between a server and SecantusDB (tests.faults.proxy), MONGODB_TIMEOUT_MS
1500: a Chat is refused with `chat_unavailable` in time and the socket stays open, Updates still
flow, readiness is 503; after the heal chat works again without a restart, and the refused
message is not in the history."""

from __future__ import annotations

import os
import time
from http import HTTPStatus
from urllib.parse import urlsplit

import pytest

from tests.e2e.servers import ServerProcess
from tests.faults.checks import answering, chats_kept, history, ready, ready_again
from tests.faults.players import CHAT_UNAVAILABLE, Player, chat_crosses, connect, state_crosses
from tests.faults.timing import record

pytestmark = pytest.mark.e2e

TIMEOUT_MS = 1500
REFUSED = "into the black hole"


async def chat_refused_then_healed(
    cluster, room_id: str, live_players
) -> tuple[ServerProcess, Player, Player]:
    """Alice and Bob in a room on one server whose MongoDB is black-holed while Alice chats,
    then healed; returns (server, alice, bob) once a chat is stored and delivered again."""
    mongodb_port = urlsplit(os.environ["MONGODB_URL"]).port  # the suite's SecantusDB
    assert mongodb_port is not None
    proxy = cluster.proxy(mongodb_port)
    (server,) = cluster.start(
        1,
        MONGODB_URL=f"mongodb://127.0.0.1:{proxy.port}/?directConnection=true",
        MONGODB_TIMEOUT_MS=str(TIMEOUT_MS),
    )
    alice = await connect(live_players, server.ws_url)
    bob = await connect(live_players, server.ws_url)
    await alice.join(room_id, "Alice")
    await bob.join(room_id, "Bob")
    before = await alice.say("before the black hole")
    await bob.recv_type("Chat", id=before["id"])

    proxy.blackhole()
    # Without a deadline the insert would wait for ever: no answer within RECOVERY s.
    assert await alice.say(REFUSED) == CHAT_UNAVAILABLE
    await alice.ping("still open")
    await state_crosses(alice, bob, 4)  # states need no MongoDB
    assert await ready(server) == HTTPStatus.SERVICE_UNAVAILABLE

    proxy.heal()
    healed_at = time.monotonic()
    crossed = await chat_crosses(alice, bob, "after the heal")
    record("mongodb black-holed, then heal: -> chat stored and delivered", crossed - healed_at)
    record(
        "mongodb black-holed, then heal: -> /health/ready 200",
        await ready_again(server) - healed_at,
    )
    return server, alice, bob


async def test_a_chat_while_mongodb_is_black_holed_gets_chat_unavailable_and_chat_recovers(
    cluster, room_id, live_players
) -> None:
    server, alice, bob = await chat_refused_then_healed(cluster, room_id, live_players)
    await chats_kept(server, room_id, [alice, bob])
    delivered = [chat["message"] for p in (alice, bob) for chat in p.chats.values()]
    assert REFUSED not in delivered, "nobody got it"
    await answering(alice, bob)


async def test_a_chat_refused_while_mongodb_was_black_holed_is_not_in_the_history(
    cluster, room_id, live_players
) -> None:
    server, _alice, _bob = await chat_refused_then_healed(cluster, room_id, live_players)
    stored = [m["message"] for m in history(server, room_id)]
    assert REFUSED not in stored, "chat_unavailable: the message was not sent (protocol.md)"
