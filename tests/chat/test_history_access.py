"""Who may read a room's /chat/history (issue 15): CHAT_HISTORY_ACCESS `member` lets in the room's
players (now, away included, or within the last hour) and moderators, and nobody else (403);
`authenticated` any valid token; `public` anyone where no token is required. A banned subject's
token is refused whatever the setting."""

from __future__ import annotations

from http import HTTPStatus

import pytest
from asgiref.sync import async_to_sync
from django.contrib.auth import get_user_model
from django.test import override_settings

from rooms import presence
from rooms.models import Room, Sanction
from signight.auth import client_id_for
from tests.security.sockets import SHORT_DEV_SECRET, hs256

pytestmark = [pytest.mark.django_db(transaction=True), SHORT_DEV_SECRET]

OWNER = "node-test/conn"


def join(room_id: str, subject: str) -> None:
    async_to_sync(presence.player_join)(
        room_id=room_id,
        client_id=client_id_for(subject),
        owner=OWNER,
        state=b'{"name":"p"}',
        max_players=16,
    )


def leave(room_id: str, subject: str) -> None:
    async_to_sync(presence.player_leave)(
        room_id=room_id, client_id=client_id_for(subject), owner=OWNER
    )


def history(api, subject: str | None) -> int:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {hs256(sub=subject)}"} if subject else {}
    return api.get(
        "/chat/history", {"room_id": "lobby"}, HTTP_ACCEPT="application/json", **headers
    ).status_code


@pytest.fixture
def lobby(clean_redis) -> str:
    Room.objects.create(room_id="lobby")
    join("lobby", "stays")  # keeps the room's keys alive when the others leave
    return "lobby"


@override_settings(CHAT_HISTORY_ACCESS="member", WS_AUTH_REQUIRED=True)
def test_member_access_lets_in_players_of_the_room_and_no_one_else(api, lobby) -> None:
    join(lobby, "alice")
    assert history(api, "alice") == HTTPStatus.OK
    assert history(api, "mallory") == HTTPStatus.FORBIDDEN
    assert history(api, None) == HTTPStatus.UNAUTHORIZED


@override_settings(CHAT_HISTORY_ACCESS="member", WS_AUTH_REQUIRED=True)
def test_member_access_lasts_an_hour_after_leaving(api, lobby) -> None:
    join(lobby, "bob")
    leave(lobby, "bob")
    assert history(api, "bob") == HTTPStatus.OK
    left = f"{presence.PREFIX}room:{lobby}:left"
    presence.get_sync().zadd(left, {client_id_for("bob"): 1.0})  # as if it left long ago
    assert history(api, "bob") == HTTPStatus.FORBIDDEN


@override_settings(CHAT_HISTORY_ACCESS="member", WS_AUTH_REQUIRED=True)
def test_member_access_lets_in_a_moderator(api, lobby, moderators_group) -> None:
    user = get_user_model().objects.create_user("mod", password="x")
    user.groups.add(moderators_group)
    assert history(api, str(user.pk)) == HTTPStatus.OK
    assert history(api, "mod") == HTTPStatus.OK  # an issuer's subject naming the username


@override_settings(CHAT_HISTORY_ACCESS="authenticated", WS_AUTH_REQUIRED=False)
def test_authenticated_access_wants_any_valid_token(api, lobby) -> None:
    assert history(api, "mallory") == HTTPStatus.OK
    assert history(api, None) == HTTPStatus.UNAUTHORIZED


@override_settings(CHAT_HISTORY_ACCESS="public", WS_AUTH_REQUIRED=False)
def test_public_access_wants_no_token(api, lobby) -> None:
    assert history(api, None) == HTTPStatus.OK


@override_settings(CHAT_HISTORY_ACCESS="public", WS_AUTH_REQUIRED=False)
def test_a_banned_subject_is_refused_until_unbanned(api, lobby) -> None:
    ban = Sanction.objects.create(kind=Sanction.Kind.BAN, subject="carol")
    response = api.get(
        "/chat/history",
        {"room_id": lobby},
        HTTP_ACCEPT="application/json",
        HTTP_AUTHORIZATION=f"Bearer {hs256(sub='carol')}",
    )
    assert response.status_code == HTTPStatus.FORBIDDEN
    assert response.json() == {"detail": "This token's subject is banned by an operator."}
    Sanction.objects.filter(pk=ban.pk).update(lifted_at=ban.created_at)
    assert history(api, "carol") == HTTPStatus.OK
