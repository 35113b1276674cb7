"""Idle sockets: nothing received for WS_IDLE_TIMEOUT seconds closes with 4408 "idle timeout"
(a code of its own: a client that reconnected on it, as after a drain's 1001, would loop).

The hub's housekeeping loop checks about once a second, so a silent socket is closed between
WS_IDLE_TIMEOUT and WS_IDLE_TIMEOUT + ~1 s after its last message; any message (Ping included)
counts. The waits below are hang guards, not latency requirements.
"""

from __future__ import annotations

import asyncio

import pytest
from django.test import override_settings

from tests import frames

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


@override_settings(WS_IDLE_TIMEOUT=2)
async def test_pings_keep_a_socket_open_past_the_idle_timeout(room_id, players) -> None:
    a = await players.connect()
    await a.join(room_id)
    for i in range(12):  # 3.6 s of Pings, 0.3 s apart: longer than the timeout
        await a.ping(i)
        await asyncio.sleep(0.3)
    await a.ping("still open")


@override_settings(WS_IDLE_TIMEOUT=2)
async def test_a_silent_socket_is_closed_with_4408(room_id, players) -> None:
    a = await players.connect()
    await a.join(room_id)
    await a.ping()
    assert await a.closed(timeout=20) == {"code": 4408, "reason": "idle timeout"}


@override_settings(WS_IDLE_TIMEOUT=2)
async def test_a_socket_that_never_sends_is_closed_with_4408(players) -> None:
    a = await players.connect()
    assert await a.closed(timeout=20) == {"code": 4408, "reason": "idle timeout"}


@override_settings(WS_IDLE_TIMEOUT=2)
async def test_after_the_idle_close_the_room_is_told_the_player_left(room_id, players) -> None:
    quiet, talker = await players.connect(), await players.connect()
    await quiet.join(room_id, name="quiet")
    await talker.join(room_id, name="talker")
    await quiet.recv_type("PlayerJoined")

    async def keep_talking() -> None:
        while True:
            await talker.send({"type": "Ping", "t": 0})
            await asyncio.sleep(0.3)

    pinger = asyncio.create_task(keep_talking())
    try:
        assert await quiet.closed(timeout=20) == {"code": 4408, "reason": "idle timeout"}
        await quiet.close()  # the client's side of the close: its leave runs
        while True:
            frame = await talker.recv(timeout=20)
            if frame["type"] == "PlayerLeft":
                break
            assert frame["type"] in ("Pong", "StateUpdate", "PlayerJoined"), frame
        assert frame == frames.left(room_id, quiet.client_id)
    finally:
        pinger.cancel()
