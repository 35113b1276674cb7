"""A token is not good for ever on an open socket (issue 15): 60 s before the socket's JWT
expires the server sends TokenExpiring, and at its expiry closes the socket with 4401, unless the
client sent a Refresh with a token of the same subject that expires later (answered Refreshed)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from django.test import override_settings

from rooms.sanctions import Row, sanctions
from signight.auth import client_id_for
from signight.text import iso_unix
from tests.security.sockets import SHORT_DEV_SECRET, hs256

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_hub"),
    SHORT_DEV_SECRET,
]


def expiring_in(seconds: float, **claims) -> tuple[str, int]:
    exp = int(time.time() + seconds)
    return hs256(exp=exp, **claims), exp


async def test_a_socket_is_warned_then_closed_4401_when_its_token_expires(room_id, players) -> None:
    token, exp = expiring_in(3)
    with override_settings(WS_AUTH_REQUIRED=True):
        alice = await players.connect(bearer=token)
        await alice.join(room_id)
        warning = await alice.recv_type("TokenExpiring", timeout=3)
        assert warning == {"type": "TokenExpiring", "at": iso_unix(exp)}
        assert datetime.fromisoformat(warning["at"]) == datetime.fromtimestamp(exp, UTC)
        assert await alice.closed(timeout=6) == {"code": 4401, "reason": "token expired"}


async def test_a_refresh_with_a_later_token_keeps_the_socket_open(room_id, players) -> None:
    token, _ = expiring_in(3)
    later, later_exp = expiring_in(600)
    with override_settings(WS_AUTH_REQUIRED=True):
        alice = await players.connect(bearer=token)
        await alice.join(room_id)
        await alice.recv_type("TokenExpiring", timeout=3)
        await alice.send({"type": "Refresh", "token": later})
        assert await alice.recv_type("Refreshed") == {
            "type": "Refreshed",
            "at": iso_unix(later_exp),
        }
        await asyncio.sleep(4)  # the old expiry passes
        await alice.ping()  # still open


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("another subject", lambda: hs256(sub="mallory", exp=int(time.time() + 600))),
        ("an earlier expiry", lambda: hs256(exp=int(time.time() + 60))),
        ("not a valid token", lambda: "not.a.token"),
        ("an expired token", lambda: hs256(exp=int(time.time() - 10))),
    ],
)
async def test_a_refresh_that_cannot_take_over_is_refused_and_changes_nothing(
    case, make, room_id, players
) -> None:
    token, _ = expiring_in(300)
    with override_settings(WS_AUTH_REQUIRED=True):
        alice = await players.connect(bearer=token)
        await alice.join(room_id)
        await alice.send({"type": "Refresh", "token": make(), "id": "r1"})
        refused = await alice.recv_type("Error")
    assert (refused["code"], refused["ref"]) == ("refresh_failed", "r1")
    await alice.ping()  # still open, still in its room


async def test_an_anonymous_socket_cannot_refresh_into_a_player(room_id, players) -> None:
    with override_settings(WS_AUTH_REQUIRED=False):
        anonymous = await players.connect()
        await anonymous.join(room_id)
        await anonymous.send({"type": "Refresh", "token": hs256(exp=int(time.time() + 600))})
        assert (await anonymous.recv_type("Error"))["code"] == "refresh_failed"


async def test_a_banned_subject_cannot_refresh(room_id, players) -> None:
    # Its ban closes its sockets; should that word not reach this one, no Refresh keeps it open.
    token, _ = expiring_in(300)
    with override_settings(WS_AUTH_REQUIRED=True):
        alice = await players.connect(bearer=token)
        await alice.join(room_id)
        sanctions.add(Row("ban", "alice", created=time.time()))
        try:
            await alice.send({"type": "Refresh", "token": hs256(exp=int(time.time() + 600))})
            refused = await alice.recv_type("Error")
        finally:  # this process's sanctions outlive the test: leave none behind
            sanctions.unban("alice")
            sanctions.kicks.pop(client_id_for("alice"), None)
    assert refused["code"] == "refresh_failed"
