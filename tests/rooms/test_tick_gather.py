"""The tick across processes: a room's StateUpdate carries the local players' states and those
another process sent for the same tick, in one frame; a process that went quiet is not waited for.

These drive a Tick's steps by hand (no timers, no Redis): `take(tick)`, `gather(tick)`,
`deliver()`, with other processes' batches handed to `on_batch` as the hub would, and the
tick's I/O (store, send, deliver) given as plain fakes.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from rooms.outbox import Wire
from rooms.tick import Batch, Tick

ROOM = "arena"
LOCAL = b'{"position":[1,0,0]}'
REMOTE = b'{"position":[2,0,0]}'


class Fakes:
    """What the tick writes: stores (to Redis), sends (to other processes), frames (to sockets)."""

    def __init__(self, holders: list[str] | None = None) -> None:
        self.holders = holders or ["this-node"]
        self.stored: list[Batch] = []
        self.sent: list[tuple[int, dict[str, Any]]] = []
        self.frames: list[dict[str, Any]] = []

    async def store(self, batch: Batch) -> dict[str, list[str]]:
        self.stored.append(batch)
        return {room_id: self.holders for room_id in batch}

    async def send(self, tick: int, outgoing: dict[str, Any]) -> None:
        self.sent.append((tick, outgoing))

    async def deliver(self, room_id: str, frame: str, wire: Wire) -> int:
        assert wire.payload == frame.encode()
        self.frames.append(json.loads(frame))
        return 1


def _tick_with_local_player(fakes: Fakes) -> Tick:
    tick = Tick(
        node_id="this-node",
        period=0.05,
        store=fakes.store,
        send=fakes.send,
        deliver=fakes.deliver,
    )
    tick.open_room(ROOM)
    tick.stage(ROOM, "local", LOCAL)
    return tick


def _players(frame: dict[str, Any]) -> list[str]:
    return sorted(p["client_id"] for p in frame["players"])


async def _settle() -> None:
    """Let the other tasks (a gather, the publisher) run until they block."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_with_no_other_process_a_tick_is_delivered_at_once() -> None:
    fakes = Fakes()
    tick = _tick_with_local_player(fakes)
    tick.take(100)
    await tick.gather(100)  # nobody to wait for: returns without waiting
    await tick.deliver()
    await tick.published()
    assert [_players(frame) for frame in fakes.frames] == [["local"]]
    assert fakes.stored == [{ROOM: {"local": LOCAL}}]
    assert fakes.sent == [], "no other process holds the room"


async def test_a_tick_waits_for_the_batch_of_a_process_that_sent_the_previous_tick() -> None:
    fakes = Fakes()
    tick = _tick_with_local_player(fakes)
    tick.on_batch("other-node", 99, {ROOM: [("remote", REMOTE)]})
    await tick.deliver()  # tick 99's frame
    fakes.frames.clear()

    tick.stage(ROOM, "local", LOCAL)
    tick.take(100)
    gather = asyncio.create_task(tick.gather(100))
    await _settle()
    assert not gather.done(), "tick 100 must wait for the other process's tick 100"

    tick.on_batch("other-node", 100, {ROOM: [("remote", REMOTE)]})
    await gather
    await tick.deliver()
    await tick.published()
    assert len(fakes.frames) == 1, "one StateUpdate per room per tick"
    assert _players(fakes.frames[0]) == ["local", "remote"]


async def test_a_process_that_skipped_a_tick_is_no_longer_waited_for() -> None:
    fakes = Fakes()
    tick = _tick_with_local_player(fakes)
    tick.on_batch("other-node", 98, {ROOM: [("remote", REMOTE)]})
    tick.take(100)
    gather = asyncio.create_task(tick.gather(100))
    await _settle()
    assert gather.done(), "its last batch was for tick 98: it sent nothing for 99"
    assert tick.peers == {}
    await tick.published()


async def test_the_wait_for_other_processes_is_bounded() -> None:
    fakes = Fakes()
    tick = _tick_with_local_player(fakes)
    tick.on_batch("other-node", 99, {ROOM: [("remote", REMOTE)]})
    tick.take(100)
    await tick.gather(100)  # the batch for 100 never comes: returns after GATHER_MAX_SECONDS
    await tick.deliver()
    await tick.published()
    assert _players(fakes.frames[0]) == ["local", "remote"]


async def test_a_shared_room_is_sent_once_to_each_other_holder() -> None:
    fakes = Fakes(holders=["this-node", "other-node"])
    tick = _tick_with_local_player(fakes)
    tick.take(100)
    await tick.published()
    assert fakes.sent == [(100, {"other-node": {ROOM: [("local", LOCAL)]}})]
    tick.stage(ROOM, "local", REMOTE)
    tick.take(101)
    await tick.published()
    assert fakes.sent[1] == (101, {"other-node": {ROOM: [("local", REMOTE)]}}), (
        "the holder the previous store named gets its batch beside this tick's store"
    )
    assert len(fakes.sent) == 2


async def test_a_player_who_left_is_in_no_later_frame() -> None:
    fakes = Fakes()
    tick = _tick_with_local_player(fakes)
    tick.on_batch("other-node", 99, {ROOM: [("remote", REMOTE)]})
    tick.forget(ROOM, "remote")
    tick.take(100)
    await tick.deliver()
    await tick.published()
    assert [_players(frame) for frame in fakes.frames] == [["local"]]
