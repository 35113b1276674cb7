"""No log line carries a token, and every log line is one JSON object (LOG_FORMAT=json).

URLs reach the log in uvicorn's access lines (on with DJANGO_DEBUG) and, at warning level and
above, its WebSocket handshake lines; signight.logs redacts `token=`, `access_token=` and
`Bearer …` in every record. A real server, so these lines are uvicorn's own.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
import websockets

from tests import frames
from tests.clients import LiveSocket
from tests.e2e.servers import server_env
from tests.security.servers import LoggedServer
from tests.security.sockets import JWT_SECRET, claims

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    env = server_env(
        LOG_LEVEL="info",
        LOG_FORMAT="json",
        WS_AUTH_REQUIRED="1",
        JWT_SECRET=JWT_SECRET,
        SHUTDOWN_DRAIN_SECONDS="0",
    )
    server = LoggedServer(env, logs=tmp_path_factory.mktemp("logs")).start()
    yield server
    server.stop()


def token(**changes: Any) -> str:
    return jwt.encode(claims(sub=f"user-{uuid.uuid4().hex}", **changes), JWT_SECRET, "HS256")


def leaks(server: LoggedServer, tokens: list[str]) -> list[str]:
    """Log lines that hold a token, or its signature or payload on their own."""
    output = server.stdout() + server.stderr()
    parts = {part for t in tokens for part in t.split(".")[1:] if len(part) > 16}
    return [line for line in output.splitlines() if any(p in line for p in {*tokens, *parts})]


def logged_so_far(server: LoggedServer) -> None:
    """Wait until what happened before this call is in the log: a marked request's access line
    (the access log is on with DJANGO_DEBUG) comes after it."""
    mark = uuid.uuid4().hex
    assert server.get(f"/health/live?mark={mark}")[0] == 200
    deadline = time.monotonic() + 20  # a hang guard
    while mark not in server.stderr():
        assert time.monotonic() < deadline, server.stderr()
        time.sleep(0.1)


async def pong(client: LiveSocket) -> None:
    await client.send({"type": "Ping", "t": 1})
    assert await client.recv() == frames.pong(1)


async def test_no_log_line_holds_a_token_and_every_line_is_json(server, live_players) -> None:
    good = [token() for _ in range(4)]
    expired = token(exp=int(time.time()) - 60)
    forged = jwt.encode(claims(), "an-attacker-secret-of-32-bytes!!!", "HS256")

    for url, kwargs in [
        (f"{server.ws_url}?token={good[0]}", {}),
        (f"{server.ws_url}?room=x&access_token={good[1]}&token={good[1]}", {}),
        (server.ws_url, {"additional_headers": {"Authorization": f"Bearer {good[2]}"}}),
        (server.ws_url, {"subprotocols": ["bearer", good[3]]}),
    ]:
        client = await live_players.connect(url, **kwargs)
        await pong(client)
        await client.close()
    for bad in (expired, forged):
        client = await live_players.connect(f"{server.ws_url}?token={bad}")
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await client.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    for path in (f"/chat/history?room_id=r&token={good[0]}", "/chat/history?room_id=r"):
        request = urllib.request.Request(
            f"http://127.0.0.1:{server.http_port}{path}",
            headers={"Authorization": f"Bearer {good[1]}", "Accept": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200

    await asyncio.sleep(0.5)  # the server's side of the last closes
    logged_so_far(server)
    assert leaks(server, [*good, expired, forged]) == []
    entries = server.log_entries()  # raises on a line that is not JSON
    assert all({"ts", "level", "logger", "message"} <= set(entry) for entry in entries)
    assert any("token=[redacted]" in entry["message"] for entry in entries)


@pytest.mark.parametrize("key", ["tok%65n", "%74oken", "TOKEN"])
async def test_a_token_under_a_percent_encoded_key_is_not_logged(server, key, live_players) -> None:
    """?tok%65n=<jwt> is ?token=<jwt> to the server (parse_qs decodes keys): either refuse it or
    redact it, but do not accept it and log it as it came."""
    secret = token()
    try:
        client = await live_players.connect(f"{server.ws_url}?{key}={secret}")
    except websockets.InvalidStatus:  # refused at the handshake: nothing accepted
        pass
    else:
        # Refused with 4401 is fine too: then the key was not taken for a token.
        with contextlib.suppress(websockets.ConnectionClosed):
            await pong(client)
        await client.close()
    await asyncio.sleep(0.5)
    logged_so_far(server)
    assert leaks(server, [secret]) == []
