"""The tick across processes: a room's StateUpdate carries the local players' states and those
another process sent for the same tick, in one frame; a process that went quiet is not waited for.

These drive one RoomHub's tick steps by hand (no timers, no Redis): `_take_outboxes(tick)`,
`_gather(tick)`, `_deliver()`, with other processes' batches handed to `_on_message` as the
channel layer would.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from rooms import broadcast
from rooms.hub import LocalRoom, RoomHub
from rooms.outbox import Outbox
from rooms.session import PlayerSession

ROOM = "arena"


_hubs: list[RoomHub] = []


@pytest.fixture(autouse=True)
async def _publishers_finish() -> Any:
    """A tick also writes its states to Redis in the background; let that end with the test."""
    yield
    for hub in _hubs:
        if hub._publisher is not None:
            await hub._publisher
    _hubs.clear()


def _hub_with_local_player() -> tuple[RoomHub, list[dict[str, Any]]]:
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(json.loads(message["text"]))

    hub = RoomHub()
    _hubs.append(hub)
    session = PlayerSession(client_id="local", outbox=Outbox(send, limit=8, on_overflow=list))
    hub.rooms[ROOM] = LocalRoom(members={"local": session})
    hub.stage_state(ROOM, "local", b'{"position":[1,0,0]}')
    return hub, sent


def _batch(node: str, tick: int, client_id: str) -> dict[str, Any]:
    state = b'{"position":[2,0,0]}'
    rooms = {ROOM: [(client_id, state)]}
    return {"type": broadcast.STATES, "node": node, "tick": tick, "rooms": rooms}


async def _settle() -> None:
    """Let the other tasks (a gather, an outbox's drain) run until they block."""
    for _ in range(5):
        await asyncio.sleep(0)


async def test_with_no_other_process_a_tick_is_delivered_at_once() -> None:
    hub, sent = _hub_with_local_player()
    hub._take_outboxes(100)
    await hub._gather(100)  # nobody to wait for: returns without waiting
    await hub._deliver()
    await _settle()
    assert [[p["client_id"] for p in frame["players"]] for frame in sent] == [["local"]]


async def test_a_tick_waits_for_the_batch_of_a_process_that_sent_the_previous_tick() -> None:
    hub, sent = _hub_with_local_player()
    await hub._on_message(_batch("other-node", 99, "remote"))
    await hub._deliver()  # tick 99's frame
    await _settle()
    sent.clear()

    hub.stage_state(ROOM, "local", b'{"position":[1,0,0]}')
    hub._take_outboxes(100)
    gather = asyncio.create_task(hub._gather(100))
    await _settle()
    assert not gather.done(), "tick 100 must wait for the other process's tick 100"

    await hub._on_message(_batch("other-node", 100, "remote"))
    await gather
    await hub._deliver()
    await _settle()
    assert len(sent) == 1, "one StateUpdate per room per tick"
    assert sorted(p["client_id"] for p in sent[0]["players"]) == ["local", "remote"]


async def test_a_process_that_skipped_a_tick_is_no_longer_waited_for() -> None:
    hub, _ = _hub_with_local_player()
    await hub._on_message(_batch("other-node", 98, "remote"))
    hub._take_outboxes(100)
    gather = asyncio.create_task(hub._gather(100))
    await _settle()
    assert gather.done(), "its last batch was for tick 98: it sent nothing for 99"
    assert hub._peer_ticks == {}


async def test_the_wait_for_other_processes_is_bounded() -> None:
    hub, sent = _hub_with_local_player()
    await hub._on_message(_batch("other-node", 99, "remote"))
    hub._take_outboxes(100)
    await hub._gather(100)  # the batch for 100 never comes: returns after GATHER_MAX_SECONDS
    await hub._deliver()
    await _settle()
    assert sorted(p["client_id"] for p in sent[0]["players"]) == ["local", "remote"]
