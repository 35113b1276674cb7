"""Who may use the game socket and /chat/history: JWTs refused and accepted, on every carrier.

A refused socket is accepted and then closed with 4401 before any room data; the API answers 401.
"""

from __future__ import annotations

import time
import unicodedata
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import jwt
import pytest
from channels.db import database_sync_to_async
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import get_user_model
from django.test import override_settings
from rest_framework.test import APIClient

from signight.auth import client_id_for
from tests import frames
from tests.clients import Players, Socket, strict_json
from tests.security.sockets import SHORT_DEV_SECRET, claims, hand_made, hs256, jwt_settings

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_hub"),
    SHORT_DEV_SECRET,
]

AUDIENCE = "signight-game"
PASSWORD = "correct horse battery staple"


@dataclass(frozen=True)
class Keys:
    private_pem: bytes
    public_pem: str


def _rsa_keys() -> Keys:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return Keys(
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
        public_pem=key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode(),
    )


SERVER_KEYS = _rsa_keys()  # JWT_PUBLIC_KEY of the RS256 cases
OTHER_KEYS = _rsa_keys()  # an attacker's


def rs256(keys: Keys = SERVER_KEYS, **changes: Any) -> str:
    return jwt.encode(claims(**changes), keys.private_pem, algorithm="RS256")


@dataclass(frozen=True)
class Case:
    make: Callable[[], str]
    settings: dict[str, Any] = field(default_factory=dict)


RS256 = {"JWT_PUBLIC_KEY": SERVER_KEYS.public_pem}
WITH_AUDIENCE = {"JWT_AUDIENCE": AUDIENCE}

REFUSED = {
    "expired": Case(lambda: hs256(exp=int(time.time()) - 60)),
    "not yet valid (nbf in the future)": Case(lambda: hs256(nbf=int(time.time()) + 600)),
    "signed with another secret": Case(lambda: hs256(key="an-attacker-secret-of-32-bytes!!")),
    "alg none": Case(lambda: hand_made({"alg": "none", "typ": "JWT"}, claims(), hmac_key=None)),
    "alg None": Case(lambda: hand_made({"alg": "None", "typ": "JWT"}, claims(), hmac_key=None)),
    "HS256 keyed with the RS256 public key": Case(
        lambda: hand_made(
            {"alg": "HS256", "typ": "JWT"}, claims(), hmac_key=SERVER_KEYS.public_pem.encode()
        ),
        RS256,
    ),
    "RS256 signed by another key": Case(lambda: rs256(OTHER_KEYS), RS256),
    "HS256 when the server verifies RS256": Case(lambda: hs256(), RS256),
    "wrong issuer": Case(lambda: hs256(iss="https://auth.evil.example")),
    "no issuer": Case(lambda: hs256(iss=None)),
    "wrong audience": Case(lambda: hs256(aud="another-game"), WITH_AUDIENCE),
    "no audience where one is required": Case(lambda: hs256(), WITH_AUDIENCE),
    "no expiry": Case(lambda: hs256(exp=None)),
    "no subject": Case(lambda: hs256(sub=None)),
    "empty subject": Case(lambda: hs256(sub="")),
    "numeric subject": Case(
        lambda: hand_made(
            {"alg": "HS256", "typ": "JWT"}, claims(sub=42), hmac_key=settings.JWT_SECRET.encode()
        )
    ),
    "not a JWT": Case(lambda: "not-a-jwt"),
}

ACCEPTED = {
    "HS256": Case(lambda: hs256()),
    "RS256": Case(lambda: rs256(), RS256),
    "HS256 with the required audience": Case(lambda: hs256(aud=AUDIENCE), WITH_AUDIENCE),
    "HS256 with the audience in a list": Case(lambda: hs256(aud=["x", AUDIENCE]), WITH_AUDIENCE),
}


async def socket_for(players: Players, carrier: str, token: str) -> Socket:
    """An open socket that carries the token in the given way."""
    if carrier == "Authorization header":
        return await players.connect(bearer=token)
    if carrier == "subprotocol":
        return await players.connect(subprotocols=["bearer", token])
    return await players.connect(f"/ws/?token={token}")


CARRIERS = ["Authorization header", "subprotocol", "query string"]


def own_state(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "color": "#00FF00",
        "position": [0.0, 0.0, 0.0],
        "rotation": [1.0, 0.0, 0.0, 0.0],
    }


# --- the socket refuses ------------------------------------------------------------------------


async def test_no_token_is_closed_with_4401_when_auth_is_required(players) -> None:
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await players.connect()
        assert a.subprotocol is None
        assert await a.closed() == {"code": 4401, "reason": "a token is required"}


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_bad_token_is_closed_with_4401_before_any_room_data(case, carrier, players) -> None:
    with jwt_settings(WS_AUTH_REQUIRED=True, **case.settings):
        a = await socket_for(players, carrier, case.make())
        # A browser that offered `bearer` must see it selected, or it fails the handshake (1006)
        # and never learns the 4401.
        assert a.subprotocol == ("bearer" if carrier == "subprotocol" else None)
        closed = await a.closed()
    assert closed["code"] == 4401 and closed["reason"].startswith("invalid token")


async def test_bearer_offered_without_a_token_is_closed_with_4401_and_bearer_selected(
    players,
) -> None:
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await players.connect(subprotocols=["bearer"])
        assert a.subprotocol == "bearer"
        assert await a.closed() == {"code": 4401, "reason": "a token is required"}


async def test_the_first_carrier_present_decides(room_id, players) -> None:
    """Authorization header, then the subprotocol pair, then ?token=: a bad header is not
    rescued by a good query string."""
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await players.connect(f"/ws/?token={hs256()}", bearer="garbage")
        assert (await a.closed())["code"] == 4401
        await a.close()
        b = await players.connect("/ws/?token=garbage", subprotocols=["bearer", hs256()])
        assert b.subprotocol == "bearer"
        assert (await b.join(room_id))["client_id"] == client_id_for("alice")


@pytest.mark.parametrize("name", ["expired", "signed with another secret", "alg none"])
async def test_a_bad_token_is_refused_even_when_auth_is_not_required(name, players) -> None:
    with override_settings(WS_AUTH_REQUIRED=False):
        a = await players.connect(bearer=REFUSED[name].make())
        assert (await a.closed())["code"] == 4401


async def test_a_refresh_token_is_not_an_access_token(api, players) -> None:
    """A refresh token (a day long, meant for /api/token/refresh/ only) must not open sockets."""
    user = await _user()
    tokens = (await _post(api, "/api/token/", {"username": user, "password": PASSWORD})).json()
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await players.connect(bearer=tokens["refresh"])
        assert (await a.closed())["code"] == 4401


# --- the socket accepts ------------------------------------------------------------------------


@pytest.mark.parametrize("carrier", CARRIERS)
async def test_a_valid_token_is_accepted_on_every_carrier(carrier, room_id, players) -> None:
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await socket_for(players, carrier, hs256(sub="alice", name="Alice"))
        assert a.subprotocol == ("bearer" if carrier == "subprotocol" else None)
        welcome = await a.join(room_id, name="the Join name is ignored")
    alice = client_id_for("alice")
    assert welcome == frames.welcome(
        alice, room_id, [{"client_id": alice, "state": own_state("Alice")}], []
    )


@pytest.mark.parametrize("case", ACCEPTED.values(), ids=ACCEPTED.keys())
async def test_a_token_signed_as_configured_is_accepted(case, room_id, players) -> None:
    with jwt_settings(WS_AUTH_REQUIRED=True, **case.settings):
        a = await players.connect(bearer=case.make())
        welcome = await a.join(room_id)
    assert welcome["client_id"] == client_id_for("alice")


async def test_the_same_subject_plays_as_the_same_client_id_on_every_connection(
    room_id, players
) -> None:
    with override_settings(WS_AUTH_REQUIRED=True):
        ids = []
        for carrier in CARRIERS:
            a = await socket_for(players, carrier, hs256(sub="bob", name="Bob"))
            ids.append((await a.join(room_id))["client_id"])
            await a.close()
    assert ids == [client_id_for("bob")] * 3


async def test_without_a_name_claim_the_join_name_is_used(room_id, players) -> None:
    a = await players.connect(bearer=hs256(name=None))
    welcome = await a.join(room_id, name="Joiner")
    assert welcome["room_state"] == [
        {"client_id": client_id_for("alice"), "state": own_state("Joiner")}
    ]


async def test_a_token_name_obeys_the_rules_of_a_join_name(room_id, players) -> None:
    """Other players see the token's name as they see a Join name: no control characters, NFC.
    Cleaning it, falling back to the Join name or refusing the token (4401) all keep that."""
    a = await players.connect(bearer=hs256(name="Eve\x1b[2J\u0007e\u0301"))
    if not await a.nothing_more(0.3):  # refused at once
        assert (await a.closed())["code"] == 4401
    else:
        await a.send({"type": "Join", "room_id": room_id, "name": "Eve"})
        event = await a.event()
        assert event["type"] == "websocket.send", f"the server crashed on the Join: {event}"
        welcome = strict_json(event["text"])
        name = welcome["room_state"][0]["state"]["name"]
        assert not any(unicodedata.category(char) == "Cc" for char in name), name
        assert name == unicodedata.normalize("NFC", name), name


# --- HTTP: tokens, /chat/history, the public endpoints -------------------------------------------


async def _user(password: str = PASSWORD) -> str:
    username = f"u{uuid.uuid4().hex[:10]}"
    await database_sync_to_async(get_user_model().objects.create_user)(
        username=username, password=password
    )
    return username


async def _post(api: APIClient, path: str, body: dict[str, Any]) -> Any:
    return await database_sync_to_async(api.post)(path, body, format="json")


async def test_api_token_for_a_django_user_opens_the_socket(api, room_id, players) -> None:
    username = await _user()
    response = await _post(api, "/api/token/", {"username": username, "password": PASSWORD})
    assert response.status_code == HTTPStatus.OK
    assert set(response.json()) == {"access", "refresh"}
    access = response.json()["access"]
    subject = jwt.decode(access, options={"verify_signature": False})["sub"]
    with override_settings(WS_AUTH_REQUIRED=True):
        a = await players.connect(bearer=access)
        welcome = await a.join(room_id, name="ignored")
    assert welcome["client_id"] == client_id_for(subject)
    assert welcome["room_state"][0]["state"]["name"] == username
    await a.close()

    refreshed = await _post(api, "/api/token/refresh/", {"refresh": response.json()["refresh"]})
    assert refreshed.status_code == HTTPStatus.OK
    with override_settings(WS_AUTH_REQUIRED=True):
        b = await players.connect(f"/ws/?token={refreshed.json()['access']}")
        assert (await b.join(room_id))["client_id"] == client_id_for(subject)


async def test_api_token_refuses_a_wrong_password(api) -> None:
    username = await _user()
    response = await _post(api, "/api/token/", {"username": username, "password": "wrong"})
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert "access" not in response.json()


@pytest.mark.parametrize("password", ["  padded  ", "   "])
async def test_api_token_takes_the_password_as_typed(api, password) -> None:
    # Django's login form does not strip a password; simplejwt did, so these never matched.
    username = await _user(password)
    response = await _post(api, "/api/token/", {"username": username, "password": password})
    assert response.status_code == HTTPStatus.OK
    stripped = await _post(api, "/api/token/", {"username": username, "password": password.strip()})
    assert stripped.status_code in {HTTPStatus.UNAUTHORIZED, HTTPStatus.BAD_REQUEST}


def test_api_token_is_not_minted_when_the_server_verifies_rs256(api) -> None:
    with jwt_settings(JWT_PUBLIC_KEY=SERVER_KEYS.public_pem):
        response = api.post("/api/token/", {"username": "x", "password": "y"}, format="json")
    assert response.status_code == HTTPStatus.NOT_IMPLEMENTED
    assert response.json()["code"] == "token_minting_disabled"


@pytest.mark.parametrize("path", ["/api/token/", "/api/token/refresh/"])
def test_api_token_is_not_minted_when_issuing_is_off(api, path) -> None:
    with override_settings(JWT_ISSUE_TOKENS=False):
        response = api.post(path, {"username": "x", "password": "y"}, format="json")
    assert response.status_code == HTTPStatus.NOT_IMPLEMENTED
    assert response.json() == {
        "code": "token_minting_disabled",
        "detail": "this server issues no tokens (JWT_ISSUE_TOKENS is off)",
    }


def _history(api: APIClient, room_id: str, token: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token is not None else {}
    return api.get("/chat/history", {"room_id": room_id}, HTTP_ACCEPT="application/json", **headers)


@pytest.mark.parametrize("case", REFUSED.values(), ids=REFUSED.keys())
def test_chat_history_refuses_a_bad_token_with_401(api, room_id, case) -> None:
    with jwt_settings(WS_AUTH_REQUIRED=True, **case.settings):
        response = _history(api, room_id, case.make())
    assert response.status_code == HTTPStatus.UNAUTHORIZED
    assert response["WWW-Authenticate"] == 'Bearer realm="signight"'
    assert "messages" not in response.json()


def test_chat_history_needs_a_token_when_auth_is_required(api, room_id) -> None:
    with override_settings(WS_AUTH_REQUIRED=True):
        assert _history(api, room_id).status_code == HTTPStatus.UNAUTHORIZED
        assert _history(api, room_id, hs256()).status_code == HTTPStatus.OK
    with override_settings(WS_AUTH_REQUIRED=False):
        assert _history(api, room_id).status_code == HTTPStatus.OK
        assert _history(api, room_id, "garbage").status_code == HTTPStatus.UNAUTHORIZED


@pytest.mark.parametrize("path", ["/health", "/health/live", "/rooms"])
@pytest.mark.parametrize("token", [None, "garbage"])
def test_health_and_rooms_stay_public(api, path, token) -> None:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    with override_settings(WS_AUTH_REQUIRED=True):
        response = api.get(path, HTTP_ACCEPT="application/json", **headers)
    assert response.status_code == HTTPStatus.OK


async def test_a_second_connection_with_the_same_token_replaces_the_first(room_id, players) -> None:
    """client_id is stable per subject, so one player has one socket: the newer one wins. The
    older one's player goes away (resumable), so the newer one joining the same room takes it
    over: the room sees neither a PlayerLeft nor a PlayerJoined."""
    token = hs256(sub="alice", name="Alice")
    with override_settings(WS_AUTH_REQUIRED=True):
        watcher = await players.connect(bearer=hs256(sub="bob", name="Bob"))
        await watcher.join(room_id)
        first = await players.connect(bearer=token)
        await first.join(room_id)
        await watcher.recv_type("PlayerJoined")
        second = await players.connect(bearer=token)
        closed = await first.closed()
        assert (closed["code"], closed["reason"]) == (4410, "replaced by a newer connection")
        welcome = await second.join(room_id)
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [client_id_for("alice"), client_id_for("bob")]
    )
    assert await watcher.nothing_more(0.5), "neither PlayerLeft nor PlayerJoined"


async def test_an_authenticated_resume_needs_a_token_of_the_same_subject(room_id, players) -> None:
    """A resume token is bound to its player: presented with another subject's JWT it is
    refused (the socket stays open); with the same subject's, on a new socket, it resumes."""
    with override_settings(WS_AUTH_REQUIRED=True):
        watcher = await players.connect(bearer=hs256(sub="bob", name="Bob"))
        await watcher.join(room_id)
        alice = await players.connect(bearer=hs256(sub="alice", name="Alice"))
        welcome = await alice.join(room_id)
        await watcher.recv_type("PlayerJoined")
        await alice.drop()
        resume = {"type": "Resume", "resume_token": welcome["resume_token"], "last_seq": 0}

        mallory = await players.connect(bearer=hs256(sub="mallory", name="Mallory"))
        await mallory.send(resume)
        assert await mallory.recv() == frames.error(
            "resume_failed", "the resume token is for another player"
        )
        again = await players.connect(bearer=hs256(sub="alice", name="Alice"))
        await again.send({**resume, "last_seq": welcome["seq"]})
        resumed = await again.recv_type("Resumed")
    assert (resumed["client_id"], resumed["recovered"]) == (client_id_for("alice"), True)
    assert await watcher.nothing_more(0.3)


async def test_an_authenticated_players_resume_token_needs_a_jwt_even_where_auth_is_optional(
    room_id, players
) -> None:
    with override_settings(WS_AUTH_REQUIRED=False):
        alice = await players.connect(bearer=hs256(sub="alice", name="Alice"))
        welcome = await alice.join(room_id)
        assert welcome["client_id"] == client_id_for("alice")
        await alice.drop()
        anonymous = await players.connect()
        await anonymous.send(
            {"type": "Resume", "resume_token": welcome["resume_token"], "last_seq": 0}
        )
        assert await anonymous.recv() == frames.error(
            "resume_failed", "the resume token is for another player"
        )
