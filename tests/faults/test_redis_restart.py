"""Redis restarts and loses its data, under two live processes (issue 11, part): each process
notices (a new epoch at its next heartbeat) and puts its players back; events keep reaching the
clients that were connected (their numbers stay above what those clients saw), Welcome lists
every connected player with the chat history from MongoDB, and states cross processes again.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def servers(redis_server, cluster) -> tuple[ServerProcess, ServerProcess]:
    # PRESENCE_TTL_SECONDS: TTL (3): a heartbeat (and so the epoch check) every second
    one, two = cluster.start(2, REDIS_URL=redis_server.url)
    return one, two


async def next_of(client: LiveSocket, kind: str, **match: object) -> dict:
    """The next frame of `kind` (with these fields), skipping others; Errors fail the test."""
    while True:
        frame = await client.recv_first(kind, "Error")
        assert frame["type"] != "Error", frame
        if all(frame.get(k) == v for k, v in match.items()):
            return frame


async def test_after_redis_lost_its_data_rooms_heal_and_events_still_reach_everyone(
    redis_server, servers, room_id, live_players
) -> None:
    one, two = servers
    alice = await live_players.connect(one.ws_url)
    bob = await live_players.connect(two.ws_url)
    await alice.join(room_id, "Alice")
    await bob.join(room_id, "Bob")
    await next_of(alice, "PlayerJoined", client_id=bob.client_id)
    for client in (alice, bob):  # its Join has finished (broadcast included): no late Error
        await client.ping("joined")
    await bob.send({"type": "Chat", "message": "before the restart"})
    before = await next_of(alice, "Chat")

    redis_server.stop(kill=True)
    redis_server.restart()  # the same port, no data
    for _ in range(150):  # each process puts its player back at its next heartbeat
        if one.player_count(room_id) == 2:
            break
        await asyncio.sleep(0.1)
    assert one.player_count(room_id) == two.player_count(room_id) == 2

    await bob.send({"type": "Chat", "message": "after the restart"})
    after = await next_of(alice, "Chat", message="after the restart")
    assert after["client_id"] == bob.client_id, "an event numbered after the restart arrives"

    carol = await live_players.connect(one.ws_url)
    welcome = await carol.join(room_id, "Carol")
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [alice.client_id, bob.client_id, carol.client_id]
    )
    assert [m["id"] for m in welcome["chat_history"]] == [before["id"], after["id"]]
    status, history = one.get(f"/chat/history?room_id={room_id}")
    assert status == 200 and history["messages"] == welcome["chat_history"]

    await bob.send({"type": "Update", "state": {**STATE, "position": [5, 0, 0]}})
    while True:  # states cross processes again
        update = await next_of(alice, "StateUpdate")
        mine = [p for p in update["players"] if p["client_id"] == bob.client_id]
        if mine and mine[0]["state"]["position"] == [5.0, 0.0, 0.0]:
            break
