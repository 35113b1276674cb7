"""/chat/history: newest page first, messages oldest first, cursors that never overlap or skip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest

from chat.models import ChatMessage
from rooms.models import Room

pytestmark = pytest.mark.django_db(transaction=True)


def _post_messages(room_id: str, count: int, *, same_millisecond: bool = False) -> list[str]:
    room = Room.objects.create(room_id=room_id)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    ids = []
    for i in range(count):
        msg = ChatMessage.objects.create(
            room=room, client_id=f"c{i}", name=f"n{i}", message=f"m{i}"
        )
        at = start if same_millisecond else start + timedelta(seconds=i)
        ChatMessage.objects.filter(pk=msg.pk).update(created_at=at)
        ids.append(str(msg.pk))
    return ids


def test_history_returns_messages_oldest_first_with_the_documented_fields(api, room_id) -> None:
    _post_messages(room_id, 2)
    response = api.get("/chat/history", {"room_id": room_id}, HTTP_ACCEPT="application/json")
    assert response.status_code == HTTPStatus.OK
    body = response.json()
    assert body["room_id"] == room_id
    assert body["next_before"] is None
    first, second = body["messages"]
    assert first == {
        "id": first["id"],
        "room_id": room_id,
        "client_id": "c0",
        "name": "n0",
        "message": "m0",
        "timestamp": "2026-01-01T00:00:00.000Z",
    }
    assert second["message"] == "m1" and second["timestamp"] == "2026-01-01T00:00:01.000Z"


def test_post_and_get_answer_the_same(api, room_id) -> None:
    _post_messages(room_id, 3)
    via_get = api.get(
        "/chat/history", {"room_id": room_id, "limit": 2}, HTTP_ACCEPT="application/json"
    )
    via_post = api.post("/chat/history", {"room_id": room_id, "limit": 2}, format="json")
    assert via_get.status_code == via_post.status_code == HTTPStatus.OK
    assert via_get.json() == via_post.json()


@pytest.mark.parametrize("same_millisecond", [False, True])
def test_pages_never_overlap_or_skip(api, room_id, same_millisecond) -> None:
    ids = _post_messages(room_id, 7, same_millisecond=same_millisecond)
    seen: list[str] = []
    before = None
    pages = 0
    while True:
        body = {"room_id": room_id, "limit": 3}
        if before:
            body["before"] = before
        page = api.post("/chat/history", body, format="json").json()
        seen = [m["id"] for m in page["messages"]] + seen
        pages += 1
        before = page["next_before"]
        if before is None:
            break
    assert pages == 3
    assert len(seen) == len(set(seen)) == 7
    if not same_millisecond:
        assert seen == ids


def test_unknown_room_has_an_empty_history(api, room_id) -> None:
    response = api.post("/chat/history", {"room_id": room_id}, format="json")
    assert response.json() == {"room_id": room_id, "messages": [], "next_before": None}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "room_id"),
        ({"room_id": "has space"}, "room_id"),
        ({"room_id": "x" * 65}, "room_id"),
        ({"room_id": " ok"}, "room_id"),
        ({"room_id": "ok\n"}, "room_id"),
        ({"room_id": "ok", "limit": 0}, "limit"),
        ({"room_id": "ok", "limit": 201}, "limit"),
        ({"room_id": "ok", "limit": "many"}, "limit"),
        ({"room_id": "ok", "before": "not-a-cursor"}, "before"),
        ({"room_id": "ok", "before": "123-zzz"}, "before"),
        # A body is JSON: its types are the schema's, not text that DRF would coerce.
        ({"room_id": 12345}, "room_id"),
        ({"room_id": "ok", "limit": "5"}, "limit"),
        ({"room_id": "ok", "limit": True}, "limit"),
        ({"room_id": "ok", "before": 12}, "before"),
    ],
)
def test_bad_input_is_400_with_field_errors(api, body, field) -> None:
    response = api.post("/chat/history", body, format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert field in response.json()


@pytest.mark.parametrize(("limit", "status"), [("2", HTTPStatus.OK), ("many", 400), ("0", 400)])
def test_a_query_strings_limit_is_a_number_in_text(api, room_id, limit, status) -> None:
    response = api.get("/chat/history", {"room_id": room_id, "limit": limit})
    assert response.status_code == status, response.content


def test_malformed_json_body_is_400_not_500(api) -> None:
    response = api.post("/chat/history", "{nope", content_type="application/json")
    assert response.status_code == HTTPStatus.BAD_REQUEST


def test_non_object_json_body_is_400(api) -> None:
    response = api.post("/chat/history", [1, 2], format="json")
    assert response.status_code == HTTPStatus.BAD_REQUEST
    assert "room_id" in response.json()
