"""The presence scripts against a real Redis: joins and leaves keep counts, limits and the room's
event numbers exact; a tick's store never brings back a player who left; a dead node's players
can be found and removed."""

from __future__ import annotations

import pytest

from rooms import presence
from rooms.presence import Departure, JoinStatus, LeaveStatus
from signight.redis import get_sync

NODE = "node-a"


async def join(room_id: str, client_id: str, *, max_players: int = 16, state: bytes = b"{}"):
    return await presence.player_join(
        room_id=room_id, client_id=client_id, node_id=NODE, state=state, max_players=max_players
    )


async def leave(room_id: str, client_id: str) -> Departure:
    return await presence.player_leave(room_id=room_id, client_id=client_id, node_id=NODE)


async def test_a_join_numbers_its_event_and_returns_the_room_as_of_it(room_id) -> None:
    first = await join(room_id, "a", state=b'{"n":"a"}')
    second = await join(room_id, "b", state=b'{"n":"b"}')
    assert (first.status, first.seq, first.room_state) == (
        JoinStatus.JOINED,
        1,
        [("a", b'{"n":"a"}')],
    )
    assert second.status is JoinStatus.JOINED and second.seq == 2
    assert sorted(second.room_state) == [("a", b'{"n":"a"}'), ("b", b'{"n":"b"}')]
    assert second.chat is None, "no recent chat in Redis yet"


async def test_joining_again_is_a_rejoin_that_refreshes_the_state(room_id) -> None:
    await join(room_id, "a", state=b"1")
    again = await join(room_id, "a", state=b"2")
    assert again.status is JoinStatus.REJOINED
    assert again.room_state == [("a", b"2")]
    assert presence.room_counts().count((room_id, 1)) == 1


async def test_a_full_room_refuses_and_changes_nothing(room_id) -> None:
    await join(room_id, "a", max_players=1)
    full = await join(room_id, "b", max_players=1)
    assert (full.status, full.room_state) == (JoinStatus.FULL, [])
    assert (await join(room_id, "c", max_players=2)).seq == 2, "the refusal used no number"


async def test_leaving_tells_who_is_left_and_is_idempotent(room_id) -> None:
    await join(room_id, "a")
    await join(room_id, "b")
    assert await leave(room_id, "b") == Departure(LeaveStatus.LEFT, 3)
    assert await leave(room_id, "b") == Departure(LeaveStatus.ABSENT)
    assert await leave(room_id, "a") == Departure(LeaveStatus.EMPTIED)
    assert (room_id, 1) not in presence.room_counts()


async def test_a_store_after_a_leave_does_not_bring_the_player_back(room_id) -> None:
    await join(room_id, "a")
    await join(room_id, "b")
    await leave(room_id, "b")
    holders = await presence.states_store({room_id: {"a": b"A", "b": b"B"}})
    assert holders == {room_id: [NODE]}
    again = await join(room_id, "c")
    assert sorted(again.room_state) == [("a", b"A"), ("c", b"{}")]


async def test_chat_is_numbered_with_the_rooms_events_and_kept_for_the_welcome(room_id) -> None:
    await join(room_id, "a")
    assert await presence.chat_append(room_id, b'{"m":1}') == 2
    later = await join(room_id, "b")
    assert (later.seq, later.chat) == (3, [b'{"m":1}'])


@pytest.mark.usefixtures("clean_redis")
async def test_a_node_whose_heartbeat_expired_is_dead_and_its_players_are_listed(room_id) -> None:
    await presence.node_register(node_id=NODE, channel="chan-a", ttl=30)
    await join(room_id, "a")
    assert await presence.nodes_dead() == {}
    await presence.node_register(node_id="node-gone", channel="chan-gone", ttl=30)
    get_sync().delete("sn:node:node-gone")  # its heartbeat key expired
    assert await presence.nodes_dead() == {"node-gone": "chan-gone"}
    assert await presence.node_clients(NODE) == [("a", room_id)]
    assert await presence.node_claim_reap("node-gone", ttl=30) is True
    assert await presence.node_claim_reap("node-gone", ttl=30) is False, "one reaper wins"
