"""Rate limits per connection: Updates (WS_UPDATE_RATE a second, a bucket of 2 s of them that
starts full; the excess dropped, told once per 10 s), Chat (WS_CHAT_BURST, refilling WS_CHAT_RATE
per WS_CHAT_PERIOD), Joins and Leaves (WS_JOIN_BURST, WS_JOIN_RATE a second), and the flood
close (4429) for over twice WS_UPDATE_RATE without a quiet second for WS_FLOOD_CLOSE_SECONDS.

Boundaries are tested on a frozen clock (`clock`: only the consumer's and the buckets' time
stands still), so a slow machine cannot refill a bucket between two sends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import override_settings

from chat.models import ChatMessage
from tests import frames
from tests.clients import STATE, Socket, strict_json

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


def limited(rate: int) -> dict[str, str]:
    return {
        "type": "Error",
        "code": "rate_limited",
        "message": f"more than {rate} Updates per second: the extra ones are dropped",
    }


CHAT_LIMITED = {"type": "Error", "code": "rate_limited", "message": "chat rate limit reached"}


def update(x: float) -> dict[str, Any]:
    return {"type": "Update", "state": {**STATE, "position": [x, 0, 0]}}


async def frames_until(
    socket: Socket, done: Callable[[dict[str, Any]], bool]
) -> list[dict[str, Any]]:
    """Frames up to and including the first for which done(frame) is true."""
    frames = []
    while True:
        frames.append(await socket.recv())
        if done(frames[-1]):
            return frames


async def answers_until_pong(socket: Socket, t: str) -> list[dict[str, Any]]:
    """Send a Ping; the frames other than StateUpdates up to its Pong."""
    await socket.send({"type": "Ping", "t": t})
    frames = await frames_until(socket, lambda f: f["type"] == "Pong")
    return [frame for frame in frames if frame["type"] != "StateUpdate"]


def x_of(frame: dict[str, Any], client_id: str | None) -> float | None:
    for player in frame.get("players", []):
        if player["client_id"] == client_id:
            return player["state"]["position"][0]
    return None


@override_settings(WS_UPDATE_RATE=5)
async def test_update_bucket_passes_two_seconds_of_updates_then_drops_with_one_error(
    clock, room_id, players
) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="A")
    await b.join(room_id, name="B")
    await a.recv_type("PlayerJoined")

    for x in range(1, 11):  # the bucket starts full with 2 s of the rate: 10 pass at once
        await a.send(update(x))
    await frames_until(b, lambda f: x_of(f, a.client_id) == 10)
    for x in range(11, 20):  # the excess: dropped, and said so once
        await a.send(update(x))
    assert await answers_until_pong(a, "after the excess") == [
        limited(5),
        frames.pong("after the excess"),
    ]
    assert await b.nothing_more(0.5)  # none of 11..19 reached the room

    clock.advance(1.0)  # the bucket refills
    await a.send(update(100))
    assert x_of(await b.recv_type("StateUpdate"), a.client_id) == 100


@override_settings(WS_UPDATE_RATE=1, WS_FLOOD_CLOSE_SECONDS=60)
async def test_update_errors_come_at_most_once_per_10_s(clock, room_id, players) -> None:
    a = await players.connect()
    await a.join(room_id)
    for second in range(12):  # each second: 4 Updates, over the rate of 1 (after the burst)
        for _ in range(4):
            await a.send(update(second))
        told = [limited(1)] if second in (0, 10) else []
        assert await answers_until_pong(a, f"second {second}") == [
            *told,
            frames.pong(f"second {second}"),
        ]
        clock.advance(1.0)


@override_settings(WS_CHAT_BURST=3, WS_CHAT_RATE=5, WS_CHAT_PERIOD=10)
async def test_chat_burst_passes_then_each_refused_message_gets_an_error(
    clock, room_id, players
) -> None:
    a = await players.connect()
    await a.join(room_id)
    for i in range(3):
        await a.send({"type": "Chat", "message": f"m{i}"})
        assert (await a.recv_type("Chat"))["message"] == f"m{i}"
    for i in (3, 4):
        await a.send({"type": "Chat", "message": f"m{i}"})
        assert await a.recv_type("Error") == CHAT_LIMITED
    clock.advance(2.0)  # 5 per 10 s: one message back
    await a.send({"type": "Chat", "message": "m5"})
    assert (await a.recv_type("Chat"))["message"] == "m5"
    await a.send({"type": "Chat", "message": "m6"})
    assert await a.recv_type("Error") == CHAT_LIMITED

    def stored() -> list[str]:
        rows = ChatMessage.objects.filter(room__room_id=room_id)
        return sorted(rows.values_list("message", flat=True))

    assert await database_sync_to_async(stored)() == ["m0", "m1", "m2", "m5"]


@override_settings(WS_UPDATE_RATE=2, WS_FLOOD_CLOSE_SECONDS=1)
async def test_over_twice_the_rate_for_flood_close_seconds_without_a_quiet_second_closes_4429(
    clock, room_id, players
) -> None:
    """WS_UPDATE_RATE=2: 4 Updates pass at once; the flood bucket holds 2 s of 4 a second."""
    a = await players.connect()
    await a.join(room_id)
    for _ in range(9):  # t=0: 4 pass, 8 fit the flood bucket, the 9th floods
        await a.send(update(1))
    assert await a.recv_type("Error") == limited(2)
    clock.advance(0.6)  # t=0.6: 2.4 flood tokens back; the 3rd Update floods, 0.6 s in
    for _ in range(3):
        await a.send(update(2))
    await a.ping("0.6 s: still open")
    clock.advance(0.6)  # t=1.2: flooding again, 1.2 s into the flood
    for _ in range(3):
        await a.send(update(3))
    assert await a.closed() == {"code": 4429, "reason": "flooding"}


@override_settings(WS_UPDATE_RATE=1, WS_FLOOD_CLOSE_SECONDS=1)
async def test_a_quiet_second_restarts_the_flood_timer(clock, room_id, players) -> None:
    """WS_UPDATE_RATE=1: 2 Updates pass at once; the flood bucket holds 4, refilled 2 a second."""
    a = await players.connect()
    await a.join(room_id)
    for x in range(5):  # t=0: the 5th floods; a flood begins
        await a.send(update(x))
    assert await answers_until_pong(a, "t=0") == [limited(1), frames.pong("t=0")]
    clock.advance(1.5)  # more than a second without flooding; 3 flood tokens back
    for x in range(4):  # t=1.5: the 4th floods; a new flood begins (not told: once per 10 s)
        await a.send(update(x))
    assert await answers_until_pong(a, "t=1.5") == [frames.pong("t=1.5")]
    clock.advance(0.6)  # 1.2 flood tokens back
    for x in range(2):  # t=2.1: 0.6 s into the new flood, 2.1 s after the first began
        await a.send(update(x))
    assert await answers_until_pong(a, "t=2.1") == [frames.pong("t=2.1")]


@override_settings(WS_JOIN_BURST=2, WS_JOIN_RATE=2)
async def test_joins_over_their_bucket_are_refused_and_not_acted_on(clock, players) -> None:
    a, watcher = await players.connect(), await players.connect()
    await watcher.join("join-flood-b")
    await a.join("join-flood-a")
    await a.join("join-flood-b")
    assert (await watcher.recv_type("PlayerJoined"))["client_id"] == a.client_id
    await a.send({"type": "Join", "room_id": "join-flood-a", "name": "p", "id": "third"})
    assert await a.recv_type("Error") == frames.error(
        "rate_limited", "too many Joins and Leaves", ref="third"
    )
    await a.send({"type": "Leave", "id": "leave"})
    assert (await a.recv_type("Error"))["ref"] == "leave"
    assert await watcher.nothing_more(0.3)  # no PlayerLeft: a is still in join-flood-b
    clock.advance(0.5)  # one token back
    await a.send({"type": "Leave"})
    assert (await watcher.recv_type("PlayerLeft"))["client_id"] == a.client_id


@pytest.mark.parametrize("kind", ["Update", "Chat"])
@override_settings(
    WS_UPDATE_RATE=2, WS_CHAT_BURST=2, WS_CHAT_RATE=2, WS_CHAT_PERIOD=1, WS_FLOOD_CLOSE_SECONDS=1
)
async def test_a_client_that_keeps_flooding_is_closed_with_4429(room_id, kind, players) -> None:
    """On the real clock: a message every 10 ms against a limit of 2 a second."""
    a = await players.connect()
    await a.join(room_id)
    message = update(1) if kind == "Update" else {"type": "Chat", "message": "spam"}
    frames: list[dict[str, Any]] = []

    async def flood() -> dict[str, Any]:
        while True:
            await a.send(message)
            await asyncio.sleep(0.01)
            while not await a.nothing_more(0):
                event = await a.event()
                if event["type"] == "websocket.close":
                    return {"code": event["code"], "reason": event["reason"]}
                frames.append(strict_json(event["text"]))

    assert await asyncio.wait_for(flood(), 30) == {"code": 4429, "reason": "flooding"}
    assert {frame["type"] for frame in frames} <= {"StateUpdate", "Chat", "Error"}
    assert {frame["code"] for frame in frames if frame["type"] == "Error"} == {"rate_limited"}


@override_settings(WS_ROOMS_PER_MINUTE=2, WS_JOIN_BURST=10)
async def test_a_socket_joins_at_most_so_many_distinct_rooms_a_minute(clock, players) -> None:
    """One socket cannot walk through rooms (issue 15): beyond WS_ROOMS_PER_MINUTE distinct
    rooms in a minute a Join is refused, not acted on; a room joined within the minute is free."""
    a = await players.connect()
    await a.join("walk-a")
    await a.join("walk-b")
    await a.send({"type": "Join", "room_id": "walk-c", "name": "p", "id": "third"})
    assert await a.recv_type("Error") == frames.error(
        "rate_limited", "more than 2 rooms joined in a minute", ref="third"
    )
    welcome = await a.join("walk-a")
    assert welcome["room_id"] == "walk-a", "a room of the last minute is free"
    clock.advance(60)
    assert (await a.join("walk-c"))["room_id"] == "walk-c"
