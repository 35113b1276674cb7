"""GET /rooms: active rooms (at least one connected player) from live state, most players first."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync

from rooms import presence
from rooms.models import Room

pytestmark = pytest.mark.django_db(transaction=True)


def _join(room_id: str, client_id: str, max_players: int = 16) -> None:
    async_to_sync(presence.player_join)(
        room_id=room_id,
        client_id=client_id,
        owner="node-test/conn",
        state=b"{}",
        max_players=max_players,
    )


def test_no_rooms_is_an_empty_list(api, clean_redis) -> None:
    response = api.get("/rooms", HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    assert response.json() == []


def test_rooms_are_listed_most_players_first(api, clean_redis) -> None:
    small = Room.objects.create(room_id="small", max_players=4)
    big = Room.objects.create(room_id="big")
    Room.objects.create(room_id="empty")
    _join("small", "a")
    for cid in ("b", "c", "d"):
        _join("big", cid)
    big.refresh_from_db()  # MongoDB keeps milliseconds
    body = api.get("/rooms", HTTP_ACCEPT="application/json").json()
    assert [r["room_id"] for r in body] == ["big", "small"]
    assert body[0] == {
        "room_id": "big",
        "player_count": 3,
        "max_players": 16,
        "created_at": big.created_at.isoformat().replace("+00:00", "Z"),
    }
    assert body[1]["player_count"] == 1 and body[1]["max_players"] == small.max_players


def test_a_room_whose_players_all_left_is_not_active(api, clean_redis) -> None:
    Room.objects.create(room_id="gone")
    _join("gone", "a")
    async_to_sync(presence.player_leave)(room_id="gone", client_id="a", owner="node-test/conn")
    assert api.get("/rooms", HTTP_ACCEPT="application/json").json() == []
