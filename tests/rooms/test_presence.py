"""The presence scripts against a real Redis: joins and leaves keep counts, limits and the room's
event numbers exact; a tick's store never brings back a player who left; a player is held by one
connection (its owner) cluster-wide, and only that owner, or the reaper of its node, removes it;
a dead node's players can be found."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from rooms import presence, protocol
from rooms.presence import Departure, JoinStatus, LeaveStatus
from signight.redis import get_sync

NODE = "node-a"
OWNER = presence.owner(NODE, "conn-1")


async def join(
    room_id: str,
    client_id: str,
    *,
    max_players: int = 16,
    state: bytes = b"{}",
    owner: str = OWNER,
):
    return await presence.player_join(
        room_id=room_id, client_id=client_id, owner=owner, state=state, max_players=max_players
    )


async def leave(room_id: str, client_id: str, owner: str = OWNER) -> Departure:
    return await presence.player_leave(room_id=room_id, client_id=client_id, owner=owner)


async def append(room_id: str, item_id: str, item: bytes, *, deadline: float) -> int:
    """A chat appended as chatting does, its frame drafted from a stand-in item."""
    draft = protocol.Draft("Chat", '{"type":"Chat","item":' + item.decode() + ',"seq":')
    return await presence.chat_append(room_id, item_id, item, draft=draft, deadline=deadline)


async def clients_in(room_id: str, node_id: str) -> list[str]:
    """The players of this room that a node holds, as its reaper would find them."""
    return sorted(c for c, room in await presence.node_clients(node_id) if room == room_id)


async def test_a_join_numbers_its_event_and_returns_the_room_as_of_it(room_id) -> None:
    first = await join(room_id, "a", state=b'{"n":"a"}')
    second = await join(room_id, "b", state=b'{"n":"b"}')
    assert (first.status, first.room_state) == (JoinStatus.JOINED, [("a", b'{"n":"a"}')])
    assert first.seq > 10**15, "numbered from Redis' clock (microseconds), not from 1"
    assert second.status is JoinStatus.JOINED and second.seq == first.seq + 1
    assert sorted(second.room_state) == [("a", b'{"n":"a"}'), ("b", b'{"n":"b"}')]
    assert second.chat is None, "no recent chat in Redis yet"


async def test_joining_again_from_a_newer_connection_is_a_rejoin_that_refreshes_the_state(
    room_id,
) -> None:
    await join(room_id, "a", state=b"1")
    again = await join(room_id, "a", state=b"2", owner=presence.owner("node", "newer"))
    assert again.status is JoinStatus.REJOINED
    assert again.room_state == [("a", b"2")]
    assert presence.room_counts().count((room_id, 1)) == 1


async def test_a_full_room_refuses_and_changes_nothing(room_id) -> None:
    first = await join(room_id, "a", max_players=1)
    full = await join(room_id, "b", max_players=1)
    assert (full.status, full.room_state) == (JoinStatus.FULL, [])
    assert (await join(room_id, "c", max_players=2)).seq == first.seq + 1, "the refusal used none"


async def test_leaving_tells_who_is_left_and_is_idempotent(room_id) -> None:
    await join(room_id, "a")
    second = await join(room_id, "b")
    assert await leave(room_id, "b") == Departure(LeaveStatus.LEFT, second.seq + 1)
    assert await leave(room_id, "b") == Departure(LeaveStatus.ABSENT)
    assert await leave(room_id, "a") == Departure(LeaveStatus.EMPTIED)
    assert (room_id, 1) not in presence.room_counts()


async def test_a_store_after_a_leave_does_not_bring_the_player_back(room_id) -> None:
    await join(room_id, "a")
    await join(room_id, "b")
    await leave(room_id, "b")
    holders = await presence.states_store(NODE, {room_id: {"a": b"A", "b": b"B"}})
    assert holders == {room_id: [NODE]}
    again = await join(room_id, "c")
    assert sorted(again.room_state) == [("a", b"A"), ("c", b"{}")]


async def test_chat_is_numbered_with_the_rooms_events_and_kept_for_the_welcome(room_id) -> None:
    first = await join(room_id, "a")
    await presence.chat_fill(room_id, [])  # the first Welcome seeded the history from MongoDB
    assert (
        await append(room_id, uuid.uuid4().hex, b'{"m":1}', deadline=time.time() + 5)
        == first.seq + 1
    )
    later = await join(room_id, "b")
    assert (later.seq, later.chat) == (first.seq + 2, [b'{"m":1}'])


async def test_a_chat_is_not_kept_in_a_history_that_redis_lost(room_id) -> None:
    """The next Welcome finds no history and fills it from MongoDB, the record (which has the
    chat): a history restarted by the chat would hide every older message."""
    first = await join(room_id, "a")
    assert (
        await append(room_id, uuid.uuid4().hex, b'{"m":1}', deadline=time.time() + 5)
        == first.seq + 1
    )
    assert (await join(room_id, "b")).chat is None


async def test_a_chat_appended_after_its_deadline_is_not_kept_nor_numbered(room_id) -> None:
    """A command held up in a partition runs late: its sender was told the chat failed."""
    first = await join(room_id, "a")
    await presence.chat_fill(room_id, [])
    assert await append(room_id, uuid.uuid4().hex, b'{"m":1}', deadline=time.time() - 1) == 0
    later = await join(room_id, "b")
    assert (later.seq, later.chat) == (first.seq + 1, [])


async def test_event_numbers_after_redis_lost_its_data_are_above_every_earlier_one(
    room_id,
) -> None:
    before = await join(room_id, "a")
    get_sync().delete(f"sn:room:{room_id}:seq")  # what a restart without persistence does
    after = await join(room_id, "b")
    assert after.seq > before.seq


@pytest.mark.usefixtures("clean_redis")
async def test_a_node_whose_heartbeat_expired_is_dead_and_its_players_are_listed(room_id) -> None:
    await presence.node_register(node_id=NODE, channel="chan-a", ttl=30, epoch="e1")
    await join(room_id, "a")
    assert await presence.nodes_dead() == {}
    await presence.node_register(node_id="node-gone", channel="chan-gone", ttl=30, epoch="e2")
    get_sync().delete("sn:node:node-gone")  # its heartbeat key expired
    assert await presence.nodes_dead() == {"node-gone": "chan-gone"}
    assert await presence.node_clients(NODE) == [("a", room_id)]
    assert await presence.node_claim_reap("node-gone", ttl=30) is True
    assert await presence.node_claim_reap("node-gone", ttl=30) is False, "one reaper wins"


async def test_a_newer_connection_takes_the_player_over_and_the_old_ones_leave_removes_nothing(
    room_id,
) -> None:
    newer = presence.owner("node-b", "conn-2")
    first = await join(room_id, "p", state=b"old")
    await join(room_id, "watcher")
    takeover = await join(room_id, "p", state=b"new", owner=newer)
    assert takeover.status is JoinStatus.REJOINED, "the room already shows this player"
    assert await leave(room_id, "p") == Departure(LeaveStatus.ABSENT), "the old copy's leave"
    assert await clients_in(room_id, NODE) == ["watcher"], "p moved to node-b"
    assert await clients_in(room_id, "node-b") == ["p"]
    assert await leave(room_id, "p", owner=newer) == Departure(LeaveStatus.LEFT, first.seq + 2)


async def test_the_reaper_removes_by_node_and_spares_a_player_taken_over_elsewhere(room_id) -> None:
    await join(room_id, "stays")
    await join(room_id, "moved")
    await join(room_id, "moved", owner=presence.owner("node-b", "conn-2"))
    reap = presence.player_leave
    assert (await reap(room_id=room_id, client_id="moved", node_id=NODE)).status is (
        LeaveStatus.ABSENT
    )
    assert (await reap(room_id=room_id, client_id="stays", node_id=NODE)).status is (
        LeaveStatus.LEFT
    )


async def test_a_store_from_another_node_does_not_overwrite_the_owners_state(room_id) -> None:
    await join(room_id, "p", state=b"mine")
    await presence.states_store("node-b", {room_id: {"p": b"stale copy"}})
    assert (await join(room_id, "q")).room_state[0] == ("p", b"mine")


async def test_a_claim_answers_the_previous_owner_and_ends_only_with_its_own_connection() -> None:
    first, second = presence.owner(NODE, "c1"), presence.owner("node-b", "c2")
    client = f"claim-{id(first)}"
    assert await presence.player_claim(client, first) is None
    assert await presence.player_claim(client, second) == first
    await presence.player_unclaim(client, first)  # the older connection ends: not its claim
    assert await presence.player_claim(client, first) == second
    await presence.player_unclaim(client, first)
    assert await presence.player_claim(client, second) is None
    await presence.player_unclaim(client, second)


@pytest.mark.usefixtures("clean_redis")
async def test_the_epoch_is_set_once_per_dataset_and_a_new_one_after_data_loss() -> None:
    register = presence.node_register
    assert await register(node_id="n1", channel="c1", ttl=30, epoch="first") == "first"
    assert await register(node_id="n2", channel="c2", ttl=30, epoch="second") == "first"
    get_sync().flushdb()  # a restart without persistence
    assert await register(node_id="n2", channel="c2", ttl=30, epoch="third") == "third"


async def test_a_join_run_again_after_its_answer_was_lost_is_logged_once(room_id) -> None:
    """redis-py retries a script whose answer timed out; both runs may reach Redis. The first
    logs the PlayerJoined (which then reaches the others from the room's log: rooms.ordering),
    the second finds the player held by the same owner and logs nothing."""
    await join(room_id, "a")
    first = await join(room_id, "b", owner=OWNER)
    again = await join(room_id, "b", owner=OWNER)
    assert (first.status, again.status) == (JoinStatus.JOINED, JoinStatus.REJOINED)
    assert again.seq == first.seq, "nothing numbered"
    logged = await presence.events_after(room_id, first.seq - 1)
    assert [(seq, json.loads(frame)["client_id"]) for seq, frame in logged] == [(first.seq, "b")]
    assert presence.room_counts().count((room_id, 2)) == 1


async def test_a_chat_appended_twice_is_kept_once_under_one_number(room_id) -> None:
    await join(room_id, "a")
    await presence.chat_fill(room_id, [])
    item_id = uuid.uuid4().hex
    seq = await append(room_id, item_id, b'{"m":1}', deadline=time.time() + 5)
    assert await append(room_id, item_id, b'{"m":1}', deadline=time.time() + 5) == seq
    assert (await join(room_id, "b")).chat == [b'{"m":1}']
