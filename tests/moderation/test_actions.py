"""Moderation actions end to end (issue 15): the moderator acts through the API on process one, the
target plays on process two; each action reaches it within 2 s and leaves one audit row."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from http import HTTPStatus

import pytest
import websockets

from tests.clients import STATE
from tests.moderation.live import Api, audit, create_user, shell, token

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def moderator(env, servers) -> Api:
    subject = create_user(env, "mod", moderator=True)
    return Api(servers[0], token(subject, "mod"))


async def closed_with(player, timeout: float = 2.0) -> tuple[int | None, str | None]:
    """Read until the server closes the socket; its close code and reason."""
    try:
        async with asyncio.timeout(timeout):
            async for _ in player.ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return player.ws.close_code, player.ws.close_reason


def latest_audit(env, action: str) -> dict:
    return next(row for row in audit(env) if row["action"] == action)


async def test_kick_closes_the_socket_on_the_other_process_and_voids_its_resume(
    env, servers, moderator, room_id, live_players
) -> None:
    one, two = servers
    alice = await live_players.connect(one.ws_url)
    bob = await live_players.connect(two.ws_url)
    await alice.join(room_id, "Alice")
    welcome = await bob.join(room_id, "Bob")

    status, body = moderator.post(
        "/moderation/kick", {"client_id": bob.client_id, "reason": "grief"}
    )

    assert status == HTTPStatus.OK and body["reached"] == 1
    assert await closed_with(bob) == (4403, "removed by an operator")
    left = await alice.recv_type("PlayerLeft")
    assert left["client_id"] == bob.client_id
    again = await live_players.connect(two.ws_url)
    await again.send({"type": "Resume", "resume_token": welcome["resume_token"], "last_seq": 0})
    refused = await again.recv_type("Error")
    assert refused["code"] == "resume_failed"
    assert (await again.join(room_id, "Bob"))["type"] == "Welcome"  # a kick is not a ban
    row = latest_audit(env, "kick")
    assert row | {"id": None} == {
        "id": None,
        "action": "kick",
        "actor": "mod",
        "room_id": "",
        "client_id": bob.client_id,
        "subject": "",
        "message_id": "",
        "reason": "grief",
        "parameters": {},
        "reached": 1,
    }
    assert row["id"] == body["action_id"]


async def test_ban_closes_live_sockets_refuses_new_ones_and_history_until_unbanned(
    env, servers, moderator, room_id, live_players
) -> None:
    one, two = servers
    carol = token("carol-subject", "Carol")
    player = await live_players.connect(
        two.ws_url, additional_headers={"Authorization": f"Bearer {carol}"}
    )
    await player.join(room_id, "Carol")
    until = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")

    status, body = moderator.post(
        "/moderation/ban", {"subject": "carol-subject", "until": until, "reason": "cheating"}
    )

    assert status == HTTPStatus.OK and body["reached"] == 1
    assert (await closed_with(player))[0] == 4403
    refused = await live_players.connect(
        one.ws_url, additional_headers={"Authorization": f"Bearer {carol}"}
    )
    assert await closed_with(refused) == (4403, "banned by an operator")
    history = Api(two, carol).get(f"/chat/history?room_id={room_id}")
    assert history[0] == HTTPStatus.FORBIDDEN

    status, _ = moderator.post("/moderation/unban", {"subject": "carol-subject"})
    assert status == HTTPStatus.OK
    back = await live_players.connect(
        one.ws_url, additional_headers={"Authorization": f"Bearer {carol}"}
    )
    assert (await back.join(room_id, "Carol"))["type"] == "Welcome"
    assert Api(two, carol).get(f"/chat/history?room_id={room_id}")[0] == HTTPStatus.OK
    ban = latest_audit(env, "ban")
    assert ban["subject"] == "carol-subject" and ban["reached"] == 1
    assert ban["parameters"]["until"].endswith("Z")
    assert latest_audit(env, "unban")["subject"] == "carol-subject"


async def test_mute_refuses_chats_with_its_end_and_survives_a_resume(
    env, servers, moderator, room_id, live_players
) -> None:
    one, two = servers
    dave = await live_players.connect(two.ws_url)
    welcome = await dave.join(room_id, "Dave")

    status, body = moderator.post(
        "/moderation/mute",
        {"client_id": dave.client_id, "room_id": room_id, "minutes": 5, "reason": "spam"},
    )

    assert status == HTTPStatus.OK and body["reached"] == 1
    await dave.send({"type": "Chat", "message": "spam", "id": "c1"})
    refused = await dave.recv_type("Error")
    assert refused["code"] == "muted" and refused["ref"] == "c1"
    until = datetime.fromisoformat(refused["until"])
    assert timedelta(minutes=4) < until - datetime.now(UTC) <= timedelta(minutes=5)
    await dave.send({"type": "Update", "state": STATE})  # everything else works
    await dave.ping()

    await dave.ws.close(code=4000)  # a drop: away, resumable
    back = await live_players.connect(one.ws_url)
    await back.send({"type": "Resume", "resume_token": welcome["resume_token"], "last_seq": 0})
    assert (await back.recv_type("Resumed"))["client_id"] == dave.client_id
    await back.send({"type": "Chat", "message": "still spam"})
    assert (await back.recv_type("Error"))["code"] == "muted"
    row = latest_audit(env, "mute")
    assert row["parameters"]["minutes"] == 5 and row["parameters"]["until"] == refused["until"]


async def test_close_room_now_takes_every_player_out_and_refuses_joins(
    env, servers, moderator, room_id, live_players
) -> None:
    one, two = servers
    erin = await live_players.connect(one.ws_url)
    frank = await live_players.connect(two.ws_url)
    await erin.join(room_id, "Erin")
    frank_welcome = await frank.join(room_id, "Frank")

    status, body = moderator.post(
        "/moderation/close-room", {"room_id": room_id, "reason": "event over"}
    )

    assert status == HTTPStatus.OK and body["reached"] == 2
    for player in (erin, frank):
        assert await player.recv_type("RoomClosed") == {
            "type": "RoomClosed",
            "room_id": room_id,
            "reason": "event over",
        }
    assert one.player_count(room_id) == 0
    await frank.send({"type": "Join", "room_id": room_id, "name": "Frank"})
    assert (await frank.recv_type("Error"))["code"] == "room_closed"  # the socket stayed open
    late = await live_players.connect(one.ws_url)
    await late.send(
        {"type": "Resume", "resume_token": frank_welcome["resume_token"], "last_seq": 0}
    )
    assert (await late.recv_type("Error"))["code"] == "room_closed"
    assert latest_audit(env, "close_room")["reached"] == 2


async def test_redact_tells_the_room_and_takes_the_message_out_of_every_history(
    env, servers, moderator, room_id, live_players
) -> None:
    one, two = servers
    gina = await live_players.connect(one.ws_url)
    hank = await live_players.connect(two.ws_url)
    await gina.join(room_id, "Gina")
    await hank.join(room_id, "Hank")
    await hank.send({"type": "Chat", "message": "something awful"})
    chat = await gina.recv_type("Chat")
    await hank.send({"type": "Chat", "message": "fine words"})
    await gina.recv_type("Chat")

    status, body = moderator.post(
        "/moderation/redact", {"message_id": chat["id"], "reason": "slur"}
    )

    assert status == HTTPStatus.OK and body["reached"] == 2
    expected = {"type": "ChatRedacted", "id": chat["id"], "room_id": room_id, "seq": chat["seq"]}
    assert await gina.recv_type("ChatRedacted") == expected
    assert await hank.recv_type("ChatRedacted") == expected
    history = moderator.get(f"/chat/history?room_id={room_id}")[1]
    assert [m["message"] for m in history["messages"]] == ["fine words"]
    newcomer = await live_players.connect(two.ws_url)
    welcome = await newcomer.join(room_id, "Ivy")
    assert [m["message"] for m in welcome["chat_history"]] == ["fine words"]
    row = latest_audit(env, "redact")
    assert (row["message_id"], row["room_id"], row["reason"]) == (chat["id"], room_id, "slur")


async def test_the_api_wants_a_moderators_token(env, servers, room_id) -> None:
    one, _ = servers
    body = {"client_id": "someone", "reason": ""}
    assert Api(one).post("/moderation/kick", body)[0] == HTTPStatus.UNAUTHORIZED
    player = Api(one, token(create_user(env, "plain", moderator=False), "plain"))
    assert player.post("/moderation/kick", body)[0] == HTTPStatus.FORBIDDEN
    stranger = Api(one, token("not-a-user", "x"))
    assert stranger.post("/moderation/close-room", {"room_id": room_id})[0] == HTTPStatus.FORBIDDEN


SOMEONE = "3f2c4a1e-9b7d-4c2a-8e1f-0a1b2c3d4e5f"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/moderation/ban", {"subject": "griefer", "reason": 1.5}),
        ("/moderation/unban", {"subject": 10798891081229122}),
        ("/moderation/mute", {"client_id": SOMEONE, "room_id": "r", "minutes": "5"}),
        ("/moderation/mute", {"client_id": SOMEONE, "room_id": "r", "minutes": True}),
    ],
)
def test_a_body_of_the_wrong_json_types_is_refused_and_does_nothing(
    env, moderator, path, body
) -> None:
    """The schema says string (or integer): DRF alone would turn 1.5 into "1.5" and act on it."""
    before = len(audit(env))
    status, answer = moderator.post(path, body)
    assert status == HTTPStatus.BAD_REQUEST, answer
    assert len(audit(env)) == before


def test_the_migrations_made_the_moderators_group(env) -> None:
    code = (
        "from django.contrib.auth.models import Group\n"
        "g = Group.objects.get(name='Moderators')\n"
        "print(sorted(g.permissions.values_list('codename', flat=True)))"
    )
    assert shell(env, code) == "['moderate', 'view_moderationaction']"
