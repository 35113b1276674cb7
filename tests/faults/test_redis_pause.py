"""Redis stops answering for 3 s (CLIENT PAUSE 3000 ALL: every command waits, the connections stay
up; longer than the servers' 2 s socket timeout) while a room spans two processes, one player
joins and another chats. The Join gets its Welcome late or Error `unavailable`; either way,
once Redis answers again the room is whole: Redis, GET /rooms and every player list the same
players (a refused Join leaves no ghost), a chat crosses processes, no socket is closed."""

from __future__ import annotations

import time

import pytest

from tests.clients import STATE
from tests.faults.checks import answering, chats_kept, history, room_is
from tests.faults.cluster import SETTLED
from tests.faults.players import UNAVAILABLE, chat_crosses, connect
from tests.faults.timing import record

pytestmark = pytest.mark.e2e

PAUSE_MS = 3000


async def test_after_redis_paused_3_s_the_room_is_whole_and_chat_crosses_processes(
    redis_server, live, cluster, room_id, live_players
) -> None:
    one, two = cluster.start(2, REDIS_URL=redis_server.url)
    alice = await connect(live_players, one.ws_url)
    bob = await connect(live_players, two.ws_url)
    carol = await connect(live_players, one.ws_url)
    await alice.join(room_id, "Alice")
    await bob.join(room_id, "Bob")
    await alice.recv_type("PlayerJoined", client_id=bob.client_id)

    live.execute_command("CLIENT", "PAUSE", PAUSE_MS, "ALL")
    resumed_at = time.monotonic() + PAUSE_MS / 1000
    await carol.send_join(room_id, "Carol")
    await alice.send({"type": "Update", "state": STATE})
    await alice.ping("an Update does no I/O: accepted")
    # Alice's first chat goes into the pause: acknowledged late (then Bob gets it) or refused
    # (then retried).
    crossed = await chat_crosses(alice, bob, "into the pause")
    record("redis CLIENT PAUSE 3 s: pause over -> chat crosses processes", crossed - resumed_at)

    joined = await carol.answer_to_join()
    print(f"the Join in the pause got {joined['type']} {joined.get('code', '')}")
    if joined["type"] == "Welcome":
        assert joined["room_id"] == room_id
        in_room = [alice, bob, carol]
    else:
        assert joined == UNAVAILABLE
        in_room = [alice, bob]

    # A ghost of a refused or retried Join would be reconciled away within SETTLED s.
    await room_is(room_id, in_room, servers=[one, two], live=live, within=SETTLED)
    await chats_kept(one, room_id, in_room)

    dave = await connect(live_players, two.ws_url)
    welcome = await dave.join(room_id, "Dave")
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [p.client_id for p in in_room] + [dave.client_id]
    )
    stored = history(two, room_id)
    assert [m["id"] for m in welcome["chat_history"]] == [m["id"] for m in stored], (
        "the Welcome's history is the stored one, each message once"
    )
    await answering(alice, bob, carol, dave)
