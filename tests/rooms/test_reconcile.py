"""Redis and the sockets agree within the reconcile interval (issue 11): a player that Redis
lists for this process with no socket behind it (a join or leave cut short by a Redis error or
stall) is removed, and its room is told; a player connected here that Redis lost (its process
was reaped while it stalled) is put back, and its room is told; the players that are here stay."""

from __future__ import annotations

import pytest

from rooms import broadcast, presence, protocol
from rooms.hub import hub
from tests import frames

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


async def test_a_player_listed_for_this_process_with_no_socket_is_removed(room_id, players) -> None:
    watcher = await players.connect()
    await watcher.join(room_id, "Watcher")
    await presence.player_join(
        room_id=room_id,
        client_id="ghost",
        owner=presence.owner(hub.node_id, "a-socket-that-is-gone"),
        state=b"{}",
        max_players=16,
    )
    assert await hub.reconcile() == (1, 0)
    # Its PlayerJoined was logged, never published (the join was cut short): the PlayerLeft
    # leaves a gap, which the room's log fills, so the watcher hears of it before it leaves.
    joined = await watcher.recv_type("PlayerJoined")
    assert joined == {
        "type": "PlayerJoined",
        "room_id": room_id,
        "client_id": "ghost",
        "state": {},
        "seq": frames.SEQ,
    }
    assert await watcher.recv_type("PlayerLeft") == frames.left(room_id, "ghost")
    assert presence.room_counts().count((room_id, 1)) == 1, "the watcher stays"
    assert await hub.reconcile() == (0, 0)


async def reap_behind_its_back(room_id: str, client_id: str) -> None:
    """What a reaper on another process does to a player of a process it presumed dead."""
    departure = await presence.player_leave(
        room_id=room_id, client_id=client_id, owner=None, node_id=hub.node_id
    )
    assert departure.removed


async def test_a_player_connected_here_that_redis_lost_is_put_back(room_id, players) -> None:
    watcher, player = await players.connect(), await players.connect()
    await watcher.join(room_id, "Watcher")
    welcome = await player.join(room_id, "Player")
    await watcher.recv_type("PlayerJoined")
    await reap_behind_its_back(room_id, welcome["client_id"])

    assert await hub.reconcile() == (0, 1)
    # The reaper logged its PlayerLeft (here never published): the room's log brings it first.
    assert await watcher.recv_type("PlayerLeft") == frames.left(room_id, welcome["client_id"])
    joined = await watcher.recv_type("PlayerJoined")
    assert joined["client_id"] == welcome["client_id"]
    assert presence.room_counts().count((room_id, 2)) == 1
    assert await hub.reconcile() == (0, 0)


async def test_a_player_told_to_have_left_while_here_is_put_back_at_once(room_id, players) -> None:
    watcher, player = await players.connect(), await players.connect()
    await watcher.join(room_id, "Watcher")
    welcome = await player.join(room_id, "Player")
    await watcher.recv_type("PlayerJoined")
    client_id = welcome["client_id"]
    departure = await presence.player_leave(
        room_id=room_id, client_id=client_id, owner=None, node_id=hub.node_id
    )
    await broadcast.event(
        room_id,
        protocol.player_left(room_id, departure.seq, client_id),
        seq=departure.seq,
        left=client_id,
    )

    assert await watcher.recv_type("PlayerLeft") == frames.left(room_id, client_id)
    assert (await watcher.recv_type("PlayerJoined"))["client_id"] == client_id
    assert presence.room_counts().count((room_id, 2)) == 1
    await player.send({"type": "Ping", "t": 1})
    assert await player.recv_first("Pong", "PlayerLeft") == frames.pong(1), (
        "nobody is told of its own leaving"
    )


async def test_a_lost_player_claimed_by_a_newer_connection_is_not_put_back(
    room_id, players
) -> None:
    watcher, player = await players.connect(), await players.connect()
    await watcher.join(room_id, "Watcher")
    welcome = await player.join(room_id, "Player")
    await watcher.recv_type("PlayerJoined")
    client_id = welcome["client_id"]
    await reap_behind_its_back(room_id, client_id)
    await presence.player_claim(client_id, presence.owner("another-node", "newer"))

    assert await hub.reconcile() == (0, 0)
    assert presence.room_counts().count((room_id, 1)) == 1
