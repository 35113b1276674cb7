"""Resume, on one process (docs/protocol.md, "Reconnecting and resuming"): a socket that ends
without a Leave leaves its player away, not gone; a Resume on a new socket brings it back with
every event it missed, exactly once; a token that cannot resume is refused and the socket
stays open; past the grace the room is told once, and a late Resume starts over.

Across processes, drains and crashes: tests/faults/test_resume_across_processes.py.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any
from unittest import mock

import pytest

from rooms import presence, tokens
from rooms.hub import hub
from signight.redis import get_sync
from tests import frames
from tests.clients import STATE, Players, Socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


def resume(welcome: dict[str, Any], last_seq: int | None = None) -> dict[str, Any]:
    return {
        "type": "Resume",
        "resume_token": welcome["resume_token"],
        "last_seq": welcome["seq"] if last_seq is None else last_seq,
    }


def away_count() -> float:
    from signight import metrics

    return metrics.registry.get_sample_value("signight_players_away_total") or 0.0


def metrics_text() -> str:
    from prometheus_client import generate_latest

    from signight import metrics

    return generate_latest(metrics.registry).decode()


async def one_away(players: Players, room_id: str) -> tuple[Socket, dict[str, Any], dict[str, Any]]:
    """A and B in the room, B dropped (away): A's socket, A's Welcome and B's (its token)."""
    a, b = await players.connect(), await players.connect()
    welcome_a = await a.join(room_id, "A")
    welcome_b = await b.join(room_id, "B")
    await a.recv_type("PlayerJoined")
    await b.drop()
    return a, welcome_a, welcome_b


async def say(socket: Socket, text: str) -> dict[str, Any]:
    """A chat, and its echo (the stored Chat frame every member gets)."""
    await socket.send({"type": "Chat", "message": text})
    return await socket.recv_type("Chat")


def entry(client_id: str, name: str, position: list[float] | None = None) -> dict[str, Any]:
    return {
        "client_id": client_id,
        "state": {
            "name": name,
            "color": "#00FF00",
            "position": position or [0.0, 0.0, 0.0],
            "rotation": [1.0, 0.0, 0.0, 0.0],
        },
    }


async def test_a_dropped_player_stays_in_the_room_away_and_nobody_is_told(
    players: Players, room_id: str
) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, "A")
    welcome_b = await b.join(room_id, "B")
    await a.recv_type("PlayerJoined")

    away_before = away_count()
    await b.drop()

    assert await a.nothing_more(0.5), "no PlayerLeft for an away player"
    assert presence.room_counts().count((room_id, 2)) == 1, "it still counts"
    assert away_count() > away_before
    c = await players.connect()
    welcome_c = await c.join(room_id, "C")
    assert welcome_b["client_id"] in {p["client_id"] for p in welcome_c["room_state"]}


async def test_a_resume_brings_back_every_event_missed_in_order_and_nobody_sees_it_leave(
    players: Players, room_id: str
) -> None:
    a, welcome_a, welcome_b = await one_away(players, room_id)
    chat = await say(a, "while you were away")
    c = await players.connect()
    welcome_c = await c.join(room_id, "C")
    joined_c = await a.recv_type("PlayerJoined")
    await c.close()
    left_c = await a.recv_type("PlayerLeft")

    again = await players.connect()
    await again.send(resume(welcome_b))
    resumed = await again.recv_type("Resumed")

    room_state = [entry(welcome_a["client_id"], "A"), entry(welcome_b["client_id"], "B")]
    assert {**resumed, "room_state": sorted(resumed["room_state"], key=str)} == frames.resumed(
        welcome_b["client_id"],
        room_id,
        sorted(room_state, key=str),
        missed=[chat, joined_c, left_c],
        seq=left_c["seq"],
    )
    assert resumed["resume_token"] != welcome_b["resume_token"], "a new token for the new socket"
    assert 'signight_resumes_total{outcome="recovered"}' in metrics_text()
    assert welcome_c["client_id"] not in {p["client_id"] for p in resumed["room_state"]}
    assert await a.nothing_more(0.3), "no PlayerJoined: the room never saw it leave"

    await again.send({"type": "Update", "state": {**STATE, "position": [5, 5, 5]}})
    update = await a.recv_type("StateUpdate")
    assert update["players"] == [entry(welcome_b["client_id"], "B", [5.0, 5.0, 5.0])]


async def test_events_after_the_resume_arrive_live_exactly_once(
    players: Players, room_id: str
) -> None:
    a, _, welcome_b = await one_away(players, room_id)
    again = await players.connect()
    await again.send(resume(welcome_b))
    resumed = await again.recv_type("Resumed")
    assert resumed["missed"] == []

    chat = await say(a, "welcome back")
    assert await again.recv_type("Chat") == chat
    assert await again.nothing_more(0.3)


async def test_an_invalid_token_gets_resume_failed_and_the_socket_stays_open_for_a_join(
    players: Players, room_id: str
) -> None:
    socket = await players.connect()
    await socket.send({"type": "Resume", "resume_token": "forged.token:sig", "last_seq": 0})
    assert await socket.recv() == frames.error(
        "resume_failed", "the resume token is not valid; send a Join"
    )
    assert (await socket.join(room_id, "A"))["type"] == "Welcome"


async def test_a_token_older_than_a_day_gets_resume_failed(players: Players, room_id: str) -> None:
    claims = tokens.ResumeClaims(
        client_id="c", room_id=room_id, sid="s", epoch="1", name="A", color="#00FF00"
    )
    with mock.patch("time.time", return_value=time.time() - tokens.MAX_AGE_SECONDS - 60):
        old = tokens.resume_token_issue(claims)
    socket = await players.connect()
    await socket.send({"type": "Resume", "resume_token": old, "last_seq": 0})
    assert await socket.recv() == frames.error(
        "resume_failed", "the resume token is too old; send a Join"
    )


async def test_a_resume_from_a_socket_already_in_a_room_is_refused(
    players: Players, room_id: str
) -> None:
    socket = await players.connect()
    welcome = await socket.join(room_id, "A")
    await socket.send(resume(welcome))
    error = await socket.recv_type("Error")
    assert error["code"] == "resume_failed"


async def test_a_token_resumes_once_two_resumers_at_once_get_one_player(
    players: Players, room_id: str
) -> None:
    a, _, welcome_b = await one_away(players, room_id)
    first, second = await players.connect(), await players.connect()

    await asyncio.gather(first.send(resume(welcome_b)), second.send(resume(welcome_b)))
    answers = sorted([(await first.recv())["type"], (await second.recv())["type"]], key=lambda t: t)

    assert answers == ["Error", "Resumed"]
    assert presence.room_counts().count((room_id, 2)) == 1
    assert await a.nothing_more(0.3)


async def test_a_leave_spends_the_token(players: Players, room_id: str) -> None:
    socket = await players.connect()
    welcome = await socket.join(room_id, "A")
    await socket.send({"type": "Leave"})
    await socket.close()
    again = await players.connect()
    await again.send(resume(welcome))
    assert (await again.recv())["code"] == "resume_failed"


async def test_past_the_grace_the_room_gets_one_player_left_and_a_late_resume_starts_over(
    players: Players, room_id: str, settings: Any
) -> None:
    settings.RESUME_GRACE_SECONDS = 1
    a, welcome_a, welcome_b = await one_away(players, room_id)

    left = await a.recv_type("PlayerLeft", timeout=5)  # the hub's housekeeping, every second
    assert left == frames.left(room_id, welcome_b["client_id"])
    assert await hub.expire_away() == 0, "once"

    again = await players.connect()
    await again.send(resume(welcome_b))
    resumed = await again.recv_type("Resumed")
    assert resumed["recovered"] is False and resumed["missed"] == []
    assert "chat_history" in resumed
    assert sorted(p["client_id"] for p in resumed["room_state"]) == sorted(
        [welcome_a["client_id"], welcome_b["client_id"]]
    ), "one copy of the player, joined anew"
    rejoined = await a.recv_type("PlayerJoined")
    assert rejoined["client_id"] == welcome_b["client_id"]
    assert rejoined["seq"] == resumed["seq"]


async def test_a_gap_older_than_the_rooms_history_is_not_recovered(
    players: Players, room_id: str, settings: Any
) -> None:
    settings.RESUME_HISTORY = 10
    a, _, welcome_b = await one_away(players, room_id)
    for n in range(11):  # eleven events while it is away: the oldest one is no longer kept
        await presence.player_join(
            room_id=room_id,
            client_id=f"extra-{n}",
            owner=presence.owner("elsewhere", str(n)),
            state=b"{}",
            max_players=100,
        )

    again = await players.connect()
    await again.send(resume(welcome_b))
    resumed = await again.recv_type("Resumed")

    assert (resumed["recovered"], resumed["missed"]) == (False, [])
    assert isinstance(resumed["chat_history"], list), "the whole room instead, like a Welcome"
    assert len(resumed["room_state"]) == 13
    assert await a.nothing_more(0.3), "still the same player: nobody is told anything"


@pytest.mark.parametrize("lost", ["events", "all"])
async def test_a_room_whose_events_redis_lost_is_not_recovered_never_partially(
    players: Players, room_id: str, lost: str
) -> None:
    a, _, welcome_b = await one_away(players, room_id)
    parts = ["seq", "meta", "events"] if lost == "events" else ["seq", "meta", "events", "players"]
    get_sync().delete(*(f"sn:room:{room_id}:{part}" for part in parts))
    await say(a, "after the loss")  # numbered in a new epoch

    again = await players.connect()
    await again.send(resume(welcome_b))
    resumed = await again.recv_type("Resumed")

    assert (resumed["recovered"], resumed["missed"]) == (False, [])
    assert [item["message"] for item in resumed["chat_history"]][-1] == "after the loss"


async def test_a_resumed_player_that_leaves_is_seen_leaving_once(
    players: Players, room_id: str
) -> None:
    a, _, welcome_b = await one_away(players, room_id)
    again = await players.connect()
    await again.send(resume(welcome_b))
    await again.recv_type("Resumed")
    await again.send({"type": "Leave"})
    assert await a.recv_type("PlayerLeft") == frames.left(room_id, welcome_b["client_id"])
    assert await a.nothing_more(0.3)
