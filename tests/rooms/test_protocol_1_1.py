"""What protocol 1.1 adds (docs/protocol.md, "Changes since 1.0"), over Channels' communicator
against real Redis and MongoDB: self-describing frames, `id` and `ref`, the server's name, the
spawn state, idempotent chats."""

from __future__ import annotations

import time

import pytest
from channels.db import database_sync_to_async

from chat.models import ChatMessage
from tests import frames
from tests.clients import STATE

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


async def test_room_events_carry_their_room_and_consecutive_seqs(room_id, players) -> None:
    a = await players.connect()
    welcome = await a.join(room_id, name="A")
    b = await players.connect()
    await b.join(room_id, name="B")
    joined = await a.recv_type("PlayerJoined")
    await b.send({"type": "Chat", "message": "hi"})
    chat = await a.recv_type("Chat")
    await b.send({"type": "Leave"})
    left = await a.recv_type("PlayerLeft")
    assert [f["room_id"] for f in (joined, chat, left)] == [room_id] * 3
    assert [joined["seq"], chat["seq"], left["seq"]] == [
        welcome["seq"] + 1,
        welcome["seq"] + 2,
        welcome["seq"] + 3,
    ]
    assert left == frames.left(room_id, b.client_id, welcome["seq"] + 3)


async def test_a_state_update_names_its_room_tick_and_server_time(room_id, players) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="A")
    await b.join(room_id, name="B")
    await a.send({"type": "Update", "state": STATE})
    first = await b.recv_type("StateUpdate")
    await a.send({"type": "Update", "state": {**STATE, "position": [9, 9, 9]}})
    second = await b.recv_type("StateUpdate")
    assert first == {
        "type": "StateUpdate",
        "room_id": room_id,
        "tick": first["tick"],
        "server_time": frames.SERVER_TIME,
        "players": first["players"],
    }
    # The tick is the wall-clock tick number: the same in every process.
    assert abs(first["tick"] - time.time() * 20) < 40
    assert second["tick"] > first["tick"] and second["server_time"] >= first["server_time"]


async def test_an_error_echoes_the_id_of_the_message_that_caused_it(room_id, players) -> None:
    a = await players.connect()
    await a.send({"type": "Update", "state": STATE, "id": "u-1"})
    assert await a.recv_type("Error") == frames.error(
        "not_in_room", "join a room before sending updates", ref="u-1"
    )
    await a.send({"type": "Join", "room_id": "bad room", "name": "A", "id": "j-1"})
    assert await a.recv_type("Error") == frames.error(
        "invalid_message",
        "room_id: 1–64 of A–Z a–z 0–9 _ -",  # noqa: RUF001
        ref="j-1",
    )
    await a.send({"type": "Teleport", "id": "t-1"})
    assert await a.recv_type("Error") == frames.error(
        "unknown_type", "unknown message type 'Teleport'", ref="t-1"
    )
    await a.send({"type": "Ping", "t": 1, "id": "x" * 65})  # too long to be an id: no ref
    error = await a.recv_type("Error")
    assert error["code"] == "invalid_message" and "ref" not in error


async def test_the_name_is_the_joined_one_and_the_colour_may_change(room_id, players) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="Alice", color="#FF0000")
    await b.join(room_id, name="B")
    bare = {"position": [1, 2, 3], "rotation": [1, 0, 0, 0]}
    await a.send({"type": "Update", "state": {**bare, "name": "Admin"}})
    update = await b.recv_type("StateUpdate")
    assert update["players"] == [
        {
            "client_id": a.client_id,
            "state": {"name": "Alice", "color": "#FF0000", **frames.floats(bare)},
        }
    ]
    await a.send({"type": "Update", "state": {**bare, "color": "#0000FF"}})
    await b.recv_type("StateUpdate")
    await a.send({"type": "Update", "state": bare})  # no colour: the latest one stays
    latest = (await b.recv_type("StateUpdate"))["players"][0]["state"]
    assert (latest["name"], latest["color"]) == ("Alice", "#0000FF")


async def test_a_join_with_a_state_spawns_the_player_there(room_id, players) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="A")
    spawn = {"position": [5, 0, -3], "rotation": [0, 0, 1, 0], "animation": "idle"}
    await b.send({"type": "Join", "room_id": room_id, "name": "B", "state": spawn})
    welcome = await b.recv_type("Welcome")
    b.client_id = welcome["client_id"]
    joined = await a.recv_type("PlayerJoined")
    expected = {"name": "B", "color": "#FFFFFF", **frames.floats(spawn)}
    assert joined == {
        "type": "PlayerJoined",
        "room_id": room_id,
        "seq": welcome["seq"],
        "client_id": b.client_id,
        "state": expected,
    }
    assert {"client_id": b.client_id, "state": expected} in welcome["room_state"]


async def test_a_chat_retried_with_the_same_id_is_stored_once(room_id, players) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="A")
    await b.join(room_id, name="B")
    await a.recv_type("PlayerJoined")
    await a.send({"type": "Chat", "message": "gg\r\nwp", "id": "c-1"})
    first = await a.recv_type("Chat")
    assert first == await b.recv_type("Chat")
    assert (first["message"], first["ref"]) == ("gg\nwp", "c-1")
    await a.send({"type": "Chat", "message": "gg\r\nwp", "id": "c-1"})  # its retry
    assert await a.recv_type("Chat") == first  # answered again, to the sender only
    assert await b.nothing_more(0.5)
    await a.send({"type": "Chat", "message": "gg\r\nwp", "id": "c-2"})  # a new message
    assert (await b.recv_type("Chat"))["seq"] == first["seq"] + 1

    def stored() -> int:
        return ChatMessage.objects.filter(room__room_id=room_id).count()

    assert await database_sync_to_async(stored)() == 2


async def test_the_same_chat_id_from_another_player_is_another_message(room_id, players) -> None:
    a, b = await players.connect(), await players.connect()
    await a.join(room_id, name="A")
    await b.join(room_id, name="B")
    await a.recv_type("PlayerJoined")
    await a.send({"type": "Chat", "message": "one", "id": "same"})
    await a.recv_type("Chat")
    await b.recv_type("Chat")
    await b.send({"type": "Chat", "message": "two", "id": "same"})
    chat = await a.recv_type("Chat")
    assert (chat["message"], chat["ref"], chat["client_id"]) == ("two", "same", b.client_id)


async def test_a_refused_chat_may_be_retried_with_the_same_id(room_id, monkeypatch, players):
    a = await players.connect()
    await a.join(room_id, name="A")
    store = ChatMessage.objects.bulk_create

    def broken(rows: object) -> None:
        raise ConnectionError("mongo is down")

    monkeypatch.setattr(ChatMessage.objects, "bulk_create", broken)  # MongoDB refuses writes
    await a.send({"type": "Chat", "message": "again", "id": "c-9"})
    assert await a.recv_type("Error") == frames.error(
        "chat_unavailable", "chat is unavailable right now; the message was not sent", ref="c-9"
    )
    monkeypatch.setattr(ChatMessage.objects, "bulk_create", store)
    await a.send({"type": "Chat", "message": "again", "id": "c-9"})  # the id is free again
    chat = await a.recv_type("Chat")
    assert (chat["message"], chat["ref"]) == ("again", "c-9")
