"""The game socket over Channels' WebsocketCommunicator, against real Redis and MongoDB."""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async

from chat.models import ChatMessage
from rooms.models import Room
from tests import frames
from tests.clients import STATE, Players, Socket

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


@dataclass(frozen=True)
class TwoPlayers:
    """A and B in the test's room, B joined second; `joined` is the PlayerJoined A got for B."""

    a: Socket
    b: Socket
    welcome_a: dict[str, Any]
    welcome_b: dict[str, Any]
    joined: dict[str, Any]


@pytest.fixture
async def two_players(players: Players, room_id: str) -> TwoPlayers:
    a = await players.connect()
    welcome_a = await a.join(room_id, name="A")
    b = await players.connect()
    welcome_b = await b.join(room_id, name="B")
    joined = await a.recv_type("PlayerJoined")
    return TwoPlayers(a, b, welcome_a, welcome_b, joined)


async def test_join_returns_welcome_with_the_joiner_and_chat_history(room_id, players) -> None:
    room = await database_sync_to_async(Room.objects.create)(room_id=room_id)
    await database_sync_to_async(ChatMessage.objects.create)(
        room=room, client_id="old", name="Old", message="hello"
    )
    a = await players.connect()
    welcome = await a.join(room_id, name="플레이어1", color="#FF0000")
    assert welcome == frames.welcome(
        welcome["client_id"],
        room_id,
        [
            {
                "client_id": welcome["client_id"],
                "state": {
                    "name": "플레이어1",
                    "color": "#FF0000",
                    "position": [0.0, 0.0, 0.0],
                    "rotation": [1.0, 0.0, 0.0, 0.0],
                },
            }
        ],
        [
            {
                "id": welcome["chat_history"][0]["id"],
                "room_id": room_id,
                "client_id": "old",
                "name": "Old",
                "message": "hello",
                "timestamp": welcome["chat_history"][0]["timestamp"],
            }
        ],
    )


async def test_second_player_sees_the_first_and_the_first_gets_player_joined(two_players) -> None:
    a, b = two_players.a, two_players.b
    welcome = two_players.welcome_b
    assert {p["client_id"] for p in welcome["room_state"]} == {a.client_id, b.client_id}
    joined = two_players.joined
    assert joined["client_id"] == b.client_id and joined["state"]["name"] == "B"
    assert await b.nothing_more(), await b.recv()


async def test_updates_are_coalesced_into_one_state_update_per_tick(two_players) -> None:
    a, b = two_players.a, two_players.b
    for x in range(5):
        await a.send({"type": "Update", "state": {**STATE, "position": [x, 0, 0]}})
    update = await b.recv_type("StateUpdate")
    latest = {p["client_id"]: p["state"] for p in update["players"]}
    # Sends and the tick race: the first StateUpdate carries the latest state so far,
    # and within one tick only that latest state of a player is ever sent.
    while latest[a.client_id]["position"][0] != 4:
        update = await b.recv_type("StateUpdate")
        latest = {p["client_id"]: p["state"] for p in update["players"]}
        assert len(update["players"]) == 1
    assert latest[a.client_id] == {
        **STATE,
        "name": "A",  # the joined name: an Update's "p" is ignored
        "position": [4.0, 0.0, 0.0],
        "rotation": [1.0, 0.0, 0.0, 0.0],
    }


async def test_chat_reaches_everyone_and_is_persisted_first(two_players, room_id) -> None:
    a, b = two_players.a, two_players.b
    await b.send({"type": "Chat", "message": "  안녕하세요!  "})
    to_a, to_b = await a.recv_type("Chat"), await b.recv_type("Chat")
    assert to_a == to_b
    assert to_a == {
        "type": "Chat",
        "id": to_a["id"],
        "room_id": room_id,
        "client_id": b.client_id,
        "name": "B",
        "message": "안녕하세요!",
        "timestamp": to_a["timestamp"],
        "seq": frames.SEQ,
    }
    stored = await database_sync_to_async(ChatMessage.objects.get)(pk=to_a["id"])
    assert stored.message == "안녕하세요!" and stored.client_id == b.client_id


async def test_chat_that_cannot_be_persisted_gets_chat_unavailable(
    room_id, monkeypatch, players
) -> None:
    a = await players.connect()
    await a.join(room_id)

    def broken(rows: object) -> None:
        raise ConnectionError("mongo is down")

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", broken)  # MongoDB refuses writes
    await a.send({"type": "Chat", "message": "lost?"})
    error = await a.recv_type("Error")
    assert error == {
        "type": "Error",
        "code": "chat_unavailable",
        "message": "chat is unavailable right now; the message was not sent",
    }


async def test_leave_tells_the_others_and_keeps_the_connection(two_players) -> None:
    a, b = two_players.a, two_players.b
    await b.send({"type": "Leave"})
    assert await a.recv_type("PlayerLeft") == frames.left(
        two_players.welcome_a["room_id"], b.client_id
    )
    await b.send({"type": "Leave"})
    assert (await b.recv_type("Error"))["code"] == "not_in_room"
    await b.send({"type": "Ping", "t": 1})
    assert await b.recv_type("Pong") == frames.pong(1)


async def test_disconnect_tells_the_others(two_players) -> None:
    a, b = two_players.a, two_players.b
    await b.close()
    assert await a.recv_type("PlayerLeft") == frames.left(
        two_players.welcome_a["room_id"], b.client_id
    )


async def test_joining_another_room_leaves_the_first(two_players, room_id) -> None:
    a, b = two_players.a, two_players.b
    welcome = await b.join(room_id + "-2")
    assert [p["client_id"] for p in welcome["room_state"]] == [b.client_id]
    assert (await a.recv_type("PlayerLeft"))["client_id"] == b.client_id


@pytest.fixture
def slow_chat_store(
    two_players: TwoPlayers, monkeypatch: pytest.MonkeyPatch
) -> Iterator[threading.Event]:
    """After the two players joined, the database holds the first chat until the event is set
    (a slow MongoDB); it is set at the end of the test in any case, so no thread is left waiting."""
    release = threading.Event()
    store = ChatMessage.objects.bulk_create
    calls = itertools.count()

    def slow(rows: list[object]) -> object:
        if next(calls) == 0:
            release.wait(10)
        return store(rows)

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", slow)
    yield release
    release.set()


async def test_a_slow_chat_store_does_not_hold_up_the_senders_updates(
    two_players, slow_chat_store
) -> None:
    a, b, release = two_players.a, two_players.b, slow_chat_store

    await b.send({"type": "Chat", "message": "stored slowly"})
    await b.send({"type": "Update", "state": {**STATE, "position": [7, 0, 0]}})
    update = await a.recv()
    assert update["type"] == "StateUpdate", "the Update behind the Chat went out first"
    assert update["players"][0]["state"]["position"] == [7.0, 0.0, 0.0]
    release.set()
    chat = await a.recv_type("Chat")
    assert chat["message"] == "stored slowly"


async def test_chats_of_one_socket_keep_their_order_and_a_leave_waits_for_them(
    two_players, slow_chat_store
) -> None:
    a, b, release = two_players.a, two_players.b, slow_chat_store

    await b.send({"type": "Chat", "message": "first (slow)"})
    await b.send({"type": "Chat", "message": "second"})
    await b.send({"type": "Leave"})
    await asyncio.sleep(0.2)
    assert await a.nothing_more(), "nothing passes the slow first chat, the Leave included"
    release.set()
    seen = [await a.recv_type("Chat"), await a.recv_type("Chat"), await a.recv_type("PlayerLeft")]
    assert [f.get("message") for f in seen] == ["first (slow)", "second", None]
    assert seen[2]["client_id"] == b.client_id


@pytest.mark.parametrize(
    "message",
    [{"type": "Update", "state": STATE}, {"type": "Chat", "message": "hi"}, {"type": "Leave"}],
)
async def test_room_messages_before_join_get_not_in_room(message, players) -> None:
    a = await players.connect()
    await a.send(message)
    assert (await a.recv())["code"] == "not_in_room"


async def test_a_full_room_refuses_the_next_player(room_id, players) -> None:
    await database_sync_to_async(Room.objects.create)(room_id=room_id, max_players=1)
    a = await players.connect()
    await a.join(room_id)
    b = await players.connect()
    await b.send({"type": "Join", "room_id": room_id, "name": "B"})
    error = await b.recv()
    assert error == {
        "type": "Error",
        "code": "room_full",
        "message": f"room {room_id} is full (1 players)",
    }


async def test_a_closed_room_refuses_joins(room_id, players) -> None:
    await database_sync_to_async(Room.objects.create)(room_id=room_id, is_closed=True)
    a = await players.connect()
    await a.send({"type": "Join", "room_id": room_id, "name": "A"})
    assert (await a.recv())["code"] == "room_closed"


async def test_without_room_auto_create_only_existing_rooms_can_be_joined(
    room_id, players, settings
) -> None:
    """ROOM_AUTO_CREATE off (issue 15): a Join of an unknown room creates no record."""
    settings.ROOM_AUTO_CREATE = False
    a = await players.connect()
    await a.send({"type": "Join", "room_id": room_id, "name": "A", "id": "j"})
    assert await a.recv() == frames.error(
        "room_not_found", f"room {room_id} does not exist", ref="j"
    )
    assert not await database_sync_to_async(Room.objects.filter(room_id=room_id).exists)()
    await database_sync_to_async(Room.objects.create)(room_id=room_id)  # in the admin, say
    assert (await a.join(room_id, "A"))["room_id"] == room_id


async def test_bad_messages_get_errors_and_the_next_good_message_works(room_id, players) -> None:
    a = await players.connect()
    await a.send_text("{not json")
    assert (await a.recv())["code"] == "invalid_json"
    await a.send({"type": "Dance"})
    assert (await a.recv())["code"] == "unknown_type"
    await a.send({"type": "Join", "room_id": room_id, "name": "A", "color": "blue"})
    error = await a.recv()
    assert error == frames.error("invalid_message", "color: #RRGGBB, six hex digits")
    await a.send_bytes(b"\x00\x01")
    assert (await a.recv())["code"] == "invalid_message"
    welcome = await a.join(room_id)
    assert welcome["room_id"] == room_id


async def test_ping_is_answered_with_the_same_t(players) -> None:
    a = await players.connect()
    await a.send({"type": "Ping", "t": {"sent": 123.5, "seq": [1, 2]}})
    assert await a.recv() == frames.pong({"sent": 123.5, "seq": [1, 2]})


@pytest.mark.parametrize("path", ["/", "/ws/", "/ws"])
async def test_socket_answers_on_every_path_the_mesh_routes(path, room_id, players) -> None:
    a = await players.connect(path)
    assert (await a.join(room_id))["type"] == "Welcome"


async def test_no_state_update_mentions_a_player_after_its_player_left(two_players) -> None:
    a, b = two_players.a, two_players.b
    await b.send({"type": "Update", "state": STATE})
    await b.send({"type": "Leave"})
    await asyncio.sleep(0.2)
    frames = []
    while not await a.nothing_more(0.2):
        frames.append(await a.recv())
    kinds = [f["type"] for f in frames]
    assert "PlayerLeft" in kinds
    after = frames[kinds.index("PlayerLeft") + 1 :]
    assert all(b.client_id not in [p["client_id"] for p in f.get("players", [])] for f in after)


async def test_database_access_still_closes_stale_connections_but_updates_skip_the_hop(
    room_id, monkeypatch, players
) -> None:
    """The consumer drops Channels' per-message aclose_old_connections() thread hop; the ORM is
    reached only through channels' database_sync_to_async, whose thread handler closes stale
    connections before and after each call (channels/db.py)."""
    import channels.db

    calls: list[str] = []
    handler = channels.db.DatabaseSyncToAsync.thread_handler

    def counting(self, *args, **kwargs):
        # An earlier test's refused chat may still be withdrawn in the background meanwhile.
        if self.func.__name__ != "_delete":
            calls.append(self.func.__name__)
        return handler(self, *args, **kwargs)

    monkeypatch.setattr(channels.db.DatabaseSyncToAsync, "thread_handler", counting)
    a = await players.connect()
    await a.join(room_id)
    assert calls == ["room_get_or_create", "chat_latest"]  # no recent chat in Redis yet
    for x in range(10):
        await a.send({"type": "Update", "state": {**STATE, "position": [x, 0, 0]}})
    await a.send({"type": "Ping", "t": 0})
    await a.recv_type("Pong")
    assert calls == ["room_get_or_create", "chat_latest"]  # no thread hop for Updates or Pings
    await a.send({"type": "Chat", "message": "persisted"})
    await a.recv_type("Chat")
    assert calls == ["room_get_or_create", "chat_latest", "chat_messages_store"]
