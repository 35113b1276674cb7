"""Keyframes (docs/protocol.md, "Reconnecting and resuming"): cross-process batches ride
at-most-once pub/sub, so every KEYFRAME_SECONDS a tick takes every local player's latest state,
changed or not; its StateUpdate carries every present player and its batch heals a lost one.

The tick's steps by hand, with fake I/O, as in test_tick_gather.
"""

from __future__ import annotations

from rooms.tick import Tick
from tests.rooms.test_tick_gather import ROOM, Fakes

STILL = b'{"position":[0,0,0]}'
MOVING = b'{"position":[1,0,0]}'


def _tick(fakes: Fakes, every: int) -> Tick:
    tick = Tick(
        node_id="this-node",
        period=0.05,
        store=fakes.store,
        send=fakes.send,
        deliver=fakes.deliver,
        keyframe_every=every,
    )
    tick.open_room(ROOM)
    tick.remember(ROOM, "still", STILL)  # joined, never moved
    return tick


async def _run(tick: Tick, number: int) -> None:
    tick.take(number)
    await tick.published()
    await tick.deliver()


async def test_between_keyframes_a_tick_carries_only_what_changed() -> None:
    fakes = Fakes(holders=["this-node", "other-node"])
    tick = _tick(fakes, every=10)
    tick.stage(ROOM, "moving", MOVING)

    await _run(tick, 11)
    await _run(tick, 12)

    assert [[p["client_id"] for p in f["players"]] for f in fakes.frames] == [["moving"]]


async def test_a_keyframe_tick_carries_every_local_players_latest_state_to_sockets_and_peers() -> (
    None
):
    fakes = Fakes(holders=["this-node", "other-node"])
    tick = _tick(fakes, every=10)
    tick.stage(ROOM, "moving", MOVING)
    await _run(tick, 19)

    await _run(tick, 20)  # a keyframe: nothing was staged since tick 19

    keyframe = fakes.frames[-1]
    assert (keyframe["tick"], sorted(p["client_id"] for p in keyframe["players"])) == (
        20,
        ["moving", "still"],
    )
    assert fakes.stored[-1] == {ROOM: {"moving": MOVING, "still": STILL}}
    tick_number, outgoing = fakes.sent[-1]
    assert tick_number == 20
    assert dict(outgoing["other-node"][ROOM]) == {"moving": MOVING, "still": STILL}


async def test_a_player_that_left_is_in_no_keyframe() -> None:
    fakes = Fakes()
    tick = _tick(fakes, every=10)
    tick.forget(ROOM, "still")

    await _run(tick, 30)

    assert fakes.frames == []
