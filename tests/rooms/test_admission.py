"""Admission as a pure function of the handshake's scope: origin first, then the token, then the
sockets-per-address cap (docs/security.md); an admitted socket is counted until released."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from rooms import admission
from rooms.protocol import CloseCode
from tests.security.sockets import SHORT_DEV_SECRET, hs256

pytestmark = SHORT_DEV_SECRET


def scope(
    *, origin: str | None = None, authorization: str | None = None, ip: str = "10.0.0.1", **extra
) -> dict:
    headers = []
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    headers.extend(extra.pop("headers", []))
    return {"type": "websocket", "headers": headers, "client": (ip, 5000), **extra}


@pytest.fixture
def admitted() -> Iterator[list[admission.Admission]]:
    """Admissions a test made; released afterwards so the per-address count starts at zero."""
    made: list[admission.Admission] = []
    yield made
    for one in made:
        admission.release(one)


def refusal(s: dict) -> tuple[int, str]:
    with pytest.raises(admission.Refused) as refused:
        admission.admit(s)
    return refused.value.code, refused.value.reason


@override_settings(ALLOWED_ORIGINS=["https://play.signite.com"], WS_AUTH_REQUIRED=False)
def test_the_origin_is_checked_first(admitted) -> None:
    assert refusal(scope(origin="https://evil.example", authorization="Bearer junk")) == (
        CloseCode.FORBIDDEN_ORIGIN,
        "origin not allowed",
    )
    admitted.append(admission.admit(scope(origin="https://play.signite.com/")))


def with_host(host: str) -> list[tuple[bytes, bytes]]:
    return [(b"host", host.encode())]


@override_settings(
    ALLOWED_ORIGINS=[], ALLOWED_HOSTS=["game.example.com", "127.0.0.1"], WS_AUTH_REQUIRED=False
)
@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://game.example.com", "game.example.com"),
        ("http://127.0.0.1:3001", "127.0.0.1:3001"),
        ("HTTPS://Game.Example.com/", "game.example.com"),
    ],
)
def test_a_page_this_server_served_is_admitted_whatever_allowed_origins_says(
    admitted, origin: str, host: str
) -> None:
    admitted.append(admission.admit(scope(origin=origin, headers=with_host(host))))


@override_settings(
    ALLOWED_ORIGINS=[], ALLOWED_HOSTS=["game.example.com", "127.0.0.1"], WS_AUTH_REQUIRED=False
)
@pytest.mark.parametrize(
    ("origin", "host"),
    [
        ("https://game.example.com:8443", "game.example.com"),  # another port
        ("https://evil.example", "game.example.com"),
        ("https://game.example.com.evil.example", "game.example.com"),
        ("null", "game.example.com"),
        ("file://game.example.com", "game.example.com"),
        ("http://rebound.evil.example", "rebound.evil.example"),  # DNS rebinding: not our host
        ("http://127.0.0.1:3001", ""),
    ],
)
def test_another_origin_still_needs_allowed_origins(origin: str, host: str) -> None:
    assert refusal(scope(origin=origin, headers=with_host(host))) == (
        CloseCode.FORBIDDEN_ORIGIN,
        "origin not allowed",
    )


def test_a_page_without_a_host_header_needs_allowed_origins() -> None:
    with override_settings(ALLOWED_ORIGINS=[], WS_AUTH_REQUIRED=False):
        assert refusal(scope(origin="http://127.0.0.1:3001"))[0] == CloseCode.FORBIDDEN_ORIGIN


@override_settings(WS_AUTH_REQUIRED=True)
def test_a_token_is_required_and_must_be_valid() -> None:
    assert refusal(scope()) == (CloseCode.UNAUTHORIZED, "a token is required")
    code, reason = refusal(scope(authorization="Bearer not-a-jwt"))
    assert code == CloseCode.UNAUTHORIZED and reason.startswith("invalid token: ")


@override_settings(WS_AUTH_REQUIRED=True)
def test_a_valid_token_gives_the_identity_from_any_carrier(admitted) -> None:
    token = hs256(sub="alice", name="Alice")
    carriers = [
        scope(authorization=f"Bearer {token}"),
        scope(subprotocols=["bearer", token]),
        scope(query_string=f"access_token={token}".encode()),
    ]
    results = [admission.admit(s) for s in carriers]
    admitted.extend(results)
    assert {(r.identity.subject, r.identity.name) for r in results} == {("alice", "Alice")}
    assert [r.subprotocol for r in results] == [None, "bearer", None]


@override_settings(WS_MAX_CONNECTIONS_PER_IP=2, WS_AUTH_REQUIRED=False)
def test_the_address_cap_counts_open_sockets_until_released(admitted) -> None:
    admitted.extend(admission.admit(scope(ip="10.9.9.9")) for _ in range(2))
    assert refusal(scope(ip="10.9.9.9")) == (
        CloseCode.TOO_MANY_CONNECTIONS,
        "too many connections from this address",
    )
    admission.release(admitted.pop())
    admitted.append(admission.admit(scope(ip="10.9.9.9")))


@override_settings(TRUSTED_PROXY_HOPS=1, WS_MAX_CONNECTIONS_PER_IP=1, WS_AUTH_REQUIRED=False)
def test_behind_a_trusted_proxy_the_forwarded_address_is_counted(admitted) -> None:
    forwarded = [(b"x-forwarded-for", b"203.0.113.7")]
    admitted.append(admission.admit(scope(ip="10.0.0.2", headers=forwarded)))
    assert admitted[0].client_ip == "203.0.113.7"
    assert refusal(scope(ip="10.0.0.3", headers=forwarded))[0] == CloseCode.TOO_MANY_CONNECTIONS
