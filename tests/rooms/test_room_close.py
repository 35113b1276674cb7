"""Closing a room now (issue 15), on one process: every player gets RoomClosed and is out of the
room with its socket open, and a Join whose Welcome was not out yet when the word came is told
after its Welcome, never before."""

from __future__ import annotations

import pytest

from rooms import chatting, services

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_hub")]


async def test_players_get_room_closed_and_stay_connected(room_id, players) -> None:
    ada, bob = await players.connect(), await players.connect()
    await ada.join(room_id, "Ada")
    await bob.join(room_id, "Bob")
    await bob.ping()  # its Join is over (a Pong comes after it)
    assert await services.room_close(room_id=room_id, reason="over") == 2
    for player in (ada, bob):
        assert await player.recv_type("RoomClosed") == {
            "type": "RoomClosed",
            "room_id": room_id,
            "reason": "over",
        }
        await player.send({"type": "Chat", "message": "anyone?"})
        assert (await player.recv_type("Error"))["code"] == "not_in_room"


async def test_a_join_under_way_is_told_after_its_welcome(room_id, players, monkeypatch) -> None:
    history = chatting.chat_history

    async def closed_while_joining(room: str, recent):  # between entering and the Welcome
        await services.room_close(room_id=room, reason="closing")
        return await history(room, recent)

    monkeypatch.setattr(chatting, "chat_history", closed_while_joining)
    ada = await players.connect()
    await ada.send({"type": "Join", "room_id": room_id, "name": "Ada"})
    first = await ada.recv_first("Welcome", "RoomClosed")
    assert first["type"] == "Welcome"
    assert (await ada.recv_type("RoomClosed"))["reason"] == "closing"
    await ada.send({"type": "Leave"})
    assert (await ada.recv_type("Error"))["code"] == "not_in_room"
