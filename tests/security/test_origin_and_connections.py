"""Admission before any room data: the page's Origin (4503), sockets per client address (4409),
and X-Forwarded-For, honoured only behind TRUSTED_PROXY_HOPS proxies.

Rules apply in that order: origin, token, address cap; a refused socket is not counted.
"""

from __future__ import annotations

import pytest
from django.test import override_settings

from rooms import admission
from tests.security.sockets import SHORT_DEV_SECRET, Socket, hs256

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_hub"),
    SHORT_DEV_SECRET,
]

GAME = "https://play.signite.com"


async def assert_open(socket: Socket, room_id: str) -> None:
    await socket.open()
    assert (await socket.join(room_id))["type"] == "Welcome"


async def assert_closed(socket: Socket, code: int, reason: str) -> None:
    await socket.open()
    assert await socket.closed() == {"code": code, "reason": reason}
    await socket.close()


# --- Origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [GAME, GAME + "/"])
async def test_an_allowed_origin_is_served(origin, room_id) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME]):
        a = Socket(origin=origin)
        await assert_open(a, room_id)
    await a.close()


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
async def test_an_origin_not_in_the_list_is_closed_with_4503(origin) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME]):
        await assert_closed(Socket(origin=origin), 4503, "origin not allowed")


async def test_the_origin_is_checked_before_the_token() -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True):
        await assert_closed(
            Socket(origin="https://evil.example", bearer=hs256()), 4503, "origin not allowed"
        )


async def test_an_empty_list_refuses_every_browser_origin(room_id) -> None:
    """Production's default (ALLOWED_ORIGINS unset): only non-browser clients get in."""
    with override_settings(ALLOWED_ORIGINS=[]):
        await assert_closed(Socket(origin=GAME), 4503, "origin not allowed")
        a = Socket()
        await assert_open(a, room_id)
    await a.close()


@pytest.mark.parametrize("origin", ["https://anything.example", "null"])
async def test_a_star_allows_any_origin(origin, room_id) -> None:
    with override_settings(ALLOWED_ORIGINS=["*"]):
        a = Socket(origin=origin)
        await assert_open(a, room_id)
    await a.close()


async def test_no_origin_header_is_allowed_without_auth(room_id) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=False):
        a = Socket()
        await assert_open(a, room_id)
    await a.close()


async def test_no_origin_header_still_needs_a_token_when_auth_is_required(room_id) -> None:
    with override_settings(ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True):
        await assert_closed(Socket(), 4401, "a token is required")
        a = Socket(bearer=hs256())
        await assert_open(a, room_id)
    await a.close()


# --- connections per client address ----------------------------------------------------------


async def test_the_cap_admits_exactly_the_cap_and_refuses_one_more(room_id) -> None:
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=3):
        sockets = [Socket(client=("10.0.0.1", 1000 + i)) for i in range(3)]
        for socket in sockets:
            await assert_open(socket, room_id)
        await assert_closed(
            Socket(client=("10.0.0.1", 2000)), 4409, "too many connections from this address"
        )
        # The refused socket was not counted; another address has its own count.
        await assert_closed(
            Socket(client=("10.0.0.1", 2001)), 4409, "too many connections from this address"
        )
        other = Socket(client=("10.0.0.2", 1000))
        await assert_open(other, room_id)
        # A closed socket frees its place.
        await sockets.pop().close()
        again = Socket(client=("10.0.0.1", 3000))
        await assert_open(again, room_id)
    for socket in [*sockets, other, again]:
        await socket.close()


async def test_zero_means_no_cap(room_id) -> None:
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=0):
        sockets = [Socket(client=("10.0.0.3", 1000 + i)) for i in range(60)]  # default cap: 50
        for socket in sockets:
            await socket.open()
        await sockets[-1].ping()
    for socket in sockets:
        await socket.close()


async def test_sockets_refused_for_their_origin_or_token_are_not_counted() -> None:
    with override_settings(
        WS_MAX_CONNECTIONS_PER_IP=1, ALLOWED_ORIGINS=[GAME], WS_AUTH_REQUIRED=True
    ):
        await assert_closed(
            Socket(origin="https://evil.example", client=("10.0.0.4", 1)),
            4503,
            "origin not allowed",
        )
        await assert_closed(Socket(client=("10.0.0.4", 2)), 4401, "a token is required")
        a = Socket(bearer=hs256(), client=("10.0.0.4", 3))
        await a.open()
        await a.ping()
    await a.close()


def xff(value: str) -> list[tuple[bytes, bytes]]:
    return [(b"x-forwarded-for", value.encode())]


async def test_x_forwarded_for_is_ignored_without_trusted_proxies() -> None:
    """Anyone can write the header: without TRUSTED_PROXY_HOPS the peer address counts."""
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=1, TRUSTED_PROXY_HOPS=0):
        a = Socket(headers=xff("1.1.1.1"), client=("10.0.0.5", 1))
        await a.open()
        await a.ping()
        await assert_closed(
            Socket(headers=xff("2.2.2.2"), client=("10.0.0.5", 2)),
            4409,
            "too many connections from this address",
        )
    await a.close()


async def test_x_forwarded_for_is_honoured_behind_one_trusted_proxy() -> None:
    proxy = ("10.0.0.6", 0)
    with override_settings(WS_MAX_CONNECTIONS_PER_IP=1, TRUSTED_PROXY_HOPS=1):
        a = Socket(headers=xff("1.1.1.1"), client=proxy)
        b = Socket(headers=xff("2.2.2.2"), client=proxy)
        for socket in (a, b):
            await socket.open()
            await socket.ping()
        await assert_closed(
            Socket(headers=xff("1.1.1.1"), client=proxy),
            4409,
            "too many connections from this address",
        )
        # A client cannot escape its count by writing its own X-Forwarded-For: the proxy appends
        # the address it saw, and that last entry is the one that counts.
        await assert_closed(
            Socket(headers=xff("6.6.6.6, 1.1.1.1"), client=proxy),
            4409,
            "too many connections from this address",
        )
    await a.close()
    await b.close()


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
