"""A player reconnects with a Join (not a Resume: tests/faults/test_resume_across_processes.py) to
another process while its own drains (SIGTERM). A drain's 1001 says "resume" and leaves the player
away, not gone (issue 13), so the Join takes its place over: whether it comes back after its 1001
or already in the drain window (then its old socket is replaced, 4410), the others hear no
PlayerLeft and no second PlayerJoined, the other process's Welcome lists it, and after the drained
process exits Redis and GET /rooms list it exactly once, held by its new connection: no ghost
left by the old process, no phantom removal (or going away) of the new copy.

The grace is short, so a new copy wrongly left away would be seen leaving while Bob listens."""

from __future__ import annotations

import asyncio
import signal
import time
from http import HTTPStatus

import jwt
import pytest

from rooms.presence import NODES_KEY
from tests.faults.checks import answering, ready, room_is
from tests.faults.cluster import TTL
from tests.faults.players import RECOVERY, connect
from tests.faults.timing import record, since
from tests.security.sockets import JWT_SECRET, claims

pytestmark = pytest.mark.e2e

DRAIN = "server shutting down; resume"  # signight.lifecycle.DRAIN_REASON (protocol.md)
GRACE = 2  # RESUME_GRACE_SECONDS: an away player leaves (PlayerLeft) within it + 1 s
REAP = TTL + 5  # a dead node's players are reaped within it; B's reconcile runs every 5 s


def token(subject: str) -> str:
    return jwt.encode(claims(sub=subject, name=subject.title()), JWT_SECRET, algorithm="HS256")


async def room_on_two_processes(cluster, redis_server, room_id, live_players, *, drain: str):
    """Alice (a token's player) on process one, Bob on two, in one room."""
    one, two = cluster.start(
        2,
        REDIS_URL=redis_server.url,
        JWT_SECRET=JWT_SECRET,
        SHUTDOWN_DRAIN_SECONDS=drain,
        RESUME_GRACE_SECONDS=str(GRACE),
    )
    alice = await connect(live_players, f"{one.ws_url}?token={token('alice')}")
    bob = await connect(live_players, two.ws_url)
    await alice.join(room_id, "Alice")
    await bob.join(room_id, "Bob")
    await alice.recv_type("PlayerJoined", client_id=bob.client_id)
    return one, two, alice, bob


async def test_a_player_drained_off_one_process_rejoins_on_another_and_is_listed_once(
    redis_server, live, cluster, room_id, live_players
) -> None:
    one, two, alice, bob = await room_on_two_processes(
        cluster, redis_server, room_id, live_players, drain="1"
    )

    one.signal(signal.SIGTERM)
    assert await alice.closed() == (1001, DRAIN)
    closed_at = time.monotonic()
    again = await connect(live_players, f"{two.ws_url}?token={token('alice')}")
    welcome = await again.join(room_id, "Alice")
    record("drain: 1001 -> Welcome on another process", since(closed_at))
    assert again.client_id == alice.client_id, "the token's player, back"
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [alice.client_id, bob.client_id]
    )

    assert await asyncio.to_thread(one.proc.wait, RECOVERY) == 0
    heard = await bob.listen(REAP)  # whatever the old process or a reaper still does, Bob hears
    assert [f for f in heard if f["type"] in ("PlayerJoined", "PlayerLeft")] == [], (
        "Bob saw the same Alice all along: away, then taken over by her Join"
    )
    await room_is(room_id, [again, bob], servers=[two], live=live)
    assert live.hlen(NODES_KEY) == 1, "the drained process unregistered itself"
    await answering(again, bob)


async def test_a_player_reconnecting_elsewhere_in_the_drain_window_replaces_its_old_socket(
    redis_server, live, cluster, room_id, live_players
) -> None:
    # The drain closes Alice's socket at a random moment of its period; her reconnect lands a few
    # tens of ms into it. A 10 s period puts her moment after that in all but ~1 run in 300
    # (2 s lost about one in 30), and the process still exits well within RECOVERY.
    one, two, alice, bob = await room_on_two_processes(
        cluster, redis_server, room_id, live_players, drain="10"
    )

    one.signal(signal.SIGTERM)
    while await ready(one) != HTTPStatus.SERVICE_UNAVAILABLE:  # draining: it says so at once
        await asyncio.sleep(0.01)
    draining_at = time.monotonic()
    again = await connect(live_players, f"{two.ws_url}?token={token('alice')}")
    welcome = await again.join(room_id, "Alice")
    record("drain window: readiness 503 -> Welcome on another process", since(draining_at))
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [alice.client_id, bob.client_id]
    )
    code, _reason = await alice.closed()
    assert code == 4410, "replaced by the newer connection, before the drain's 1001"

    assert await asyncio.to_thread(one.proc.wait, RECOVERY) == 0
    heard = await bob.listen(REAP)
    assert [f for f in heard if f["type"] in ("PlayerJoined", "PlayerLeft")] == [], (
        "Bob saw the same Alice all along"
    )
    await room_is(room_id, [again, bob], servers=[two], live=live)
    assert live.hlen(NODES_KEY) == 1
    await answering(again, bob)
