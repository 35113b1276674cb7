"""A client that sends Update from its render loop (60 Hz, the default WS_UPDATE_RATE) for 30 s,
against a real server process: it never gets an Error or a close, and the room sees its state
at the tick rate (coalesced: one state per tick, the latest), not at 60 Hz.

The counts are bounded loosely (a loaded CI machine runs late ticks at once rather than skipping
them, docs/operations.md): the point is no refusal, and coalescing, not a latency figure.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e

SECONDS = 30
RENDER_RATE = 60
TICK_RATE = 20


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    environment = server_env(MONGODB_DB_NAME=unique_db(), SHUTDOWN_DRAIN_SECONDS="0")
    migrate(environment)
    process = ServerProcess(environment).start()
    yield process
    process.stop()


async def collect(client: LiveSocket, into: list[dict[str, Any]], stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            into.append(await client.recv(timeout=0.5))
        except TimeoutError:
            continue


async def test_a_60_hz_client_for_30_s_gets_no_error_and_reaches_the_room_per_tick(
    server, room_id, live_players
) -> None:
    player = await live_players.connect(server.ws_url)
    watcher = await live_players.connect(server.ws_url)
    await watcher.join(room_id, "Watcher")
    await player.join(room_id, "Player")
    await watcher.recv_type("PlayerJoined")
    to_player: list[dict[str, Any]] = []
    to_watcher: list[dict[str, Any]] = []
    stop = asyncio.Event()
    readers = [
        asyncio.create_task(collect(player, to_player, stop)),
        asyncio.create_task(collect(watcher, to_watcher, stop)),
    ]
    loop = asyncio.get_running_loop()
    start = loop.time()
    frames_sent = SECONDS * RENDER_RATE
    for frame in range(1, frames_sent + 1):  # a render loop: one Update per frame, on time
        await player.send({"type": "Update", "state": {**STATE, "position": [frame, 0, 0]}})
        await asyncio.sleep(max(0.0, start + frame / RENDER_RATE - loop.time()))
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*readers)

    assert [f for f in to_player if f["type"] != "StateUpdate"] == []  # no Error, nothing else
    await player.ping("still open after 30 s at 60 Hz")
    seen = [
        p["state"]["position"][0]
        for f in to_watcher
        if f["type"] == "StateUpdate"
        for p in f["players"]
        if p["client_id"] == player.client_id
    ]
    ticks = SECONDS * TICK_RATE
    assert seen[-1] == frames_sent  # the latest state arrived
    assert seen == sorted(seen), "states arrive in order"
    assert 0.8 * ticks <= len(seen) <= 1.1 * ticks, f"{len(seen)} states in {ticks} ticks"
