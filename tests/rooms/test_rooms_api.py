"""GET /rooms: active rooms (at least one connected player) from live state, most players first;
who may list them (ROOMS_LIST_ACCESS); POST /rooms: staff create rooms."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import override_settings

from rooms import presence
from rooms.models import Room
from tests.security.sockets import SHORT_DEV_SECRET, hs256

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


# --- who may list and create rooms (issue 15) ---------------------------------------------------


def _bearer(subject: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {hs256(sub=subject)}", "HTTP_ACCEPT": "application/json"}


@SHORT_DEV_SECRET
@override_settings(ROOMS_LIST_ACCESS="authenticated")
def test_an_authenticated_room_list_wants_a_token(api, clean_redis) -> None:
    assert api.get("/rooms", HTTP_ACCEPT="application/json").status_code == HTTPStatus.UNAUTHORIZED
    assert api.get("/rooms", **_bearer("alice")).status_code == HTTPStatus.OK


@override_settings(ROOMS_LIST_ACCESS="public")
def test_a_public_room_list_ignores_a_stale_token(api, clean_redis) -> None:
    response = api.get("/rooms", HTTP_ACCEPT="application/json", HTTP_AUTHORIZATION="Bearer x.y.z")
    assert response.status_code == HTTPStatus.OK


@SHORT_DEV_SECRET
def test_staff_create_rooms(api) -> None:
    staff = get_user_model().objects.create_user("ops", password="x", is_staff=True)
    created = api.post(
        "/rooms", {"room_id": "arena-1", "max_players": 8}, format="json", **_bearer(str(staff.pk))
    )
    assert created.status_code == HTTPStatus.CREATED
    body = created.json()
    assert body == {
        "room_id": "arena-1",
        "max_players": 8,
        "is_closed": False,
        "created_at": body["created_at"],
    }
    assert Room.objects.get(room_id="arena-1").max_players == 8
    again = api.post("/rooms", {"room_id": "arena-1"}, format="json", **_bearer(str(staff.pk)))
    assert again.status_code == HTTPStatus.CONFLICT
    assert again.json()["code"] == "room_exists"


@SHORT_DEV_SECRET
def test_only_staff_create_rooms(api) -> None:
    player = get_user_model().objects.create_user("player", password="x")
    body = {"room_id": "arena-2"}
    assert api.post("/rooms", body, format="json").status_code == HTTPStatus.UNAUTHORIZED
    forbidden = api.post("/rooms", body, format="json", **_bearer(str(player.pk)))
    assert forbidden.status_code == HTTPStatus.FORBIDDEN
    assert not Room.objects.filter(room_id="arena-2").exists()
