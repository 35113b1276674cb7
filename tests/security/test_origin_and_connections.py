"""Admission before any room data: the page's Origin (4503), sockets per client address (4409),
and X-Forwarded-For, honoured only behind TRUSTED_PROXY_HOPS proxies.

Rules apply in that order: origin, token, address cap; a refused socket is not counted.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings

from rooms import admission
from tests.clients import Players, Socket
from tests.security.sockets import SHORT_DEV_SECRET, hs256

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_hub"),
    SHORT_DEV_SECRET,
]

GAME = "https://play.signite.com"


async def assert_open(players: Players, room_id: str, **options: Any) -> Socket:
    """A socket with these options (Socket's) is served: it joins the room. Returns it."""
    socket = await players.connect(**options)
    assert (await socket.join(room_id))["type"] == "Welcome"
    return socket


async def assert_closed(players: Players, code: int, reason: str, **options: Any) -> None:
    """A socket with these options is closed with `code` and `reason`; its client then closes."""
    socket = await players.connect(**options)
    assert await socket.closed() == {"code": code, "reason": reason}
    await socket.close()


# --- Origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [GAME, GAME + "/"])
async def test_an_allowed_origin_is_served(origin, room_id, players) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME]):
        await assert_open(players, room_id, origin=origin)


@pytest.mark.parametrize(
    "origin",
    [
        "https://evil.example",
        "http://play.signite.com",  # same host, other scheme
        "https://play.signite.com:8443",  # other port
        "https://play.signite.com.evil.example",  # prefix match would let this in
        "null",  # sandboxed iframes and file:// pages
        "",
    ],
)
async def test_an_origin_not_in_the_list_is_closed_with_4503(origin, players) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME]):
        await assert_closed(players, 4503, "origin not allowed", origin=origin)


async def test_the_origin_is_checked_before_the_token(players) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True):
        await assert_closed(
            players, 4503, "origin not allowed", origin="https://evil.example", bearer=hs256()
        )


async def test_an_empty_list_refuses_every_browser_origin(room_id, players) -> None:
    """Production's default (ALLOWED_ORIGINS unset): only non-browser clients get in."""
    with override_settings(ALLOWED_ORIGINS=[]):
        await assert_closed(players, 4503, "origin not allowed", origin=GAME)
        await assert_open(players, room_id)


@pytest.mark.parametrize("origin", ["https://anything.example", "null"])
async def test_a_star_allows_any_origin(origin, room_id, players) -> None:
    with override_settings(ALLOWED_ORIGINS=["*"]):
        await assert_open(players, room_id, origin=origin)


async def test_no_origin_header_is_allowed_without_auth(room_id, players) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=False):
        await assert_open(players, room_id)


async def test_no_origin_header_still_needs_a_token_when_auth_is_required(room_id, players) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True):
        await assert_closed(players, 4401, "a token is required")
        await assert_open(players, room_id, bearer=hs256())


# --- connections per client address ----------------------------------------------------------


async def test_the_cap_admits_exactly_the_cap_and_refuses_one_more(room_id, players) -> None:
    too_many = "too many connections from this address"
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=3):
        sockets = [
            await assert_open(players, room_id, client=("10.0.0.1", 1000 + i)) for i in range(3)
        ]
        await assert_closed(players, 4409, too_many, client=("10.0.0.1", 2000))
        # The refused socket was not counted; another address has its own count.
        await assert_closed(players, 4409, too_many, client=("10.0.0.1", 2001))
        await assert_open(players, room_id, client=("10.0.0.2", 1000))
        # A closed socket frees its place.
        await sockets.pop().close()
        await assert_open(players, room_id, client=("10.0.0.1", 3000))


async def test_zero_means_no_cap(room_id, players) -> None:
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=0):
        sockets = [
            await players.connect(client=("10.0.0.3", 1000 + i))
            for i in range(60)  # default cap: 50
        ]
        await sockets[-1].ping()


async def test_sockets_refused_for_their_origin_or_token_are_not_counted(players) -> None:
    with override_settings(
        WS_MAX_CONNECTIONS_PER_IP=1, ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True
    ):
        await assert_closed(
            players,
            4503,
            "origin not allowed",
            origin="https://evil.example",
            client=("10.0.0.4", 1),
        )
        await assert_closed(players, 4401, "a token is required", client=("10.0.0.4", 2))
        a = await players.connect(bearer=hs256(), client=("10.0.0.4", 3))
        await a.ping()


def xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode())]


async def test_x_forwarded_for_is_ignored_without_trusted_proxies(players) -> None:
    """Anyone can write the header: without TRUSTED_PROXY_HOPS the peer address counts."""
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=1, TRUSTED_PROXY_HOPS=0):
        a = await players.connect(headers=xff("1.1.1.1"), client=("10.0.0.5", 1))
        await a.ping()
        await assert_closed(
            players,
            4409,
            "too many connections from this address",
            headers=xff("2.2.2.2"),
            client=("10.0.0.5", 2),
        )


async def test_x_forwarded_for_is_honoured_behind_one_trusted_proxy(players) -> None:
    proxy = ("10.0.0.6", 0)
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=1, TRUSTED_PROXY_HOPS=1):
        for forwarded in ("1.1.1.1", "2.2.2.2"):
            socket = await players.connect(headers=xff(forwarded), client=proxy)
            await socket.ping()
        await assert_closed(
            players,
            4409,
            "too many connections from this address",
            headers=xff("1.1.1.1"),
            client=proxy,
        )
        # A client cannot escape its count by writing its own X-Forwarded-For: the proxy appends
        # the address it saw, and that last entry is the one that counts.
        await assert_closed(
            players,
            4409,
            "too many connections from this address",
            headers=xff("6.6.6.6, 1.1.1.1"),
            client=proxy,
        )


@pytest.mark.parametrize(
    ("hops", "header", "expected"),
    [
        (0, "1.1.1.1", "10.9.9.9"),
        (1, "1.1.1.1", "1.1.1.1"),
        (1, "6.6.6.6, 1.1.1.1", "1.1.1.1"),
        (2, "6.6.6.6, 1.1.1.1, 10.0.0.7", "1.1.1.1"),
        (2, "1.1.1.1", "10.9.9.9"),  # fewer entries than proxies: the header is not trusted
        (1, " , ", "10.9.9.9"),
        (1, None, "10.9.9.9"),
    ],
)
def test_client_ip_takes_the_entry_the_outermost_trusted_proxy_wrote(
    hops, header, expected
) -> None:
    scope = {"client": ("10.9.9.9", 1234)}
    headers = {"x-forwarded-for": header} if header is not None else {}
    with override_settings(TRUSTED_PROXY_HOPS=hops):
        assert admission.client_ip(scope, headers) == expected
