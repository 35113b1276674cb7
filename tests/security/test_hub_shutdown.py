"""Stopping the hub (SIGTERM's drain, each socket test's teardown) ends its tasks.

A task left blocked in the channel layer's receive holds a Redis connection for good, makes
hub.stop() wait its full 5 s, and keeps an event loop from closing (at the end of a test session
the loop waits on it until pytest-timeout fails the last test).
"""

from __future__ import annotations

import asyncio

import pytest

from rooms.hub import hub
from tests.security.sockets import Socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]

LOOPS = ["hub.housekeeping", "hub.receive", "hub.tick"]


def hub_tasks() -> list[str]:
    return sorted(t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("hub."))


async def test_stopping_the_hub_ends_its_loops(room_id) -> None:
    for cycle in range(6):  # the receive loop escapes its cancellation often, not always
        a = Socket()
        await a.open()
        await a.join(room_id)
        await a.close()
        assert hub_tasks() == LOOPS
        await hub.stop()  # cancels the loops and waits up to 5 s for them
        await asyncio.sleep(0.5)
        assert hub_tasks() == [], f"start/stop cycle {cycle}"
