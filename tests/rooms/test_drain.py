"""A drain hands the sockets over (docs/protocol.md, "Reconnecting and resuming"): each gets
1001 "server shutting down; resume" at its own moment within SHUTDOWN_DRAIN_SECONDS, spread
evenly with jitter, so a pod's players do not all resume elsewhere at the same instant."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from rooms.hub import RoomHub, drain_schedule
from signight.lifecycle import DRAIN_REASON


@dataclass(eq=False)
class FakeConnection:
    hub: RoomHub
    closes: list[tuple[int, str]] = field(default_factory=list)

    async def close_with(self, code: int, reason: str = "") -> None:
        self.closes.append((code, reason))
        self.hub.unregister(self)  # type: ignore[arg-type]  # what its disconnect would do


def test_the_closes_of_a_drain_are_spread_evenly_over_it_with_jitter() -> None:
    moments = drain_schedule(40, 5.0, random.Random(7))

    assert all(5.0 * slot / 40 <= m < 5.0 * (slot + 1) / 40 for slot, m in enumerate(moments))
    offsets = {round(m - 5.0 * slot / 40, 6) for slot, m in enumerate(moments)}
    assert len(offsets) == 40, "jittered within each slot, not a fixed grid"


def test_a_drain_of_nothing_schedules_nothing() -> None:
    assert drain_schedule(0, 5.0) == []


async def test_a_drain_closes_every_socket_once_with_1001_resume() -> None:
    hub = RoomHub()
    connections = [FakeConnection(hub) for _ in range(10)]
    for connection in connections:
        hub.register(connection)  # type: ignore[arg-type]

    await hub.drain(0.2, 1001, DRAIN_REASON)

    assert [c.closes for c in connections] == [[(1001, "server shutting down; resume")]] * 10
    assert hub.connection_count == 0
