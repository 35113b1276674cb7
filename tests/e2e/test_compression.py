"""permessage-deflate (WS_PER_MESSAGE_DEFLATE): off by default; when on, the server declares
server_no_context_takeover and a room's StateUpdate goes out compressed to the clients that
negotiated the extension and plain to those that did not, with the same content."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e


def _server(**env: str) -> Iterator[ServerProcess]:
    environment = server_env(MONGODB_DB_NAME=unique_db(), SHUTDOWN_DRAIN_SECONDS="0", **env)
    migrate(environment)
    server = ServerProcess(environment).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def deflating() -> Iterator[ServerProcess]:
    yield from _server(WS_PER_MESSAGE_DEFLATE="1")


@pytest.fixture(scope="module")
def default() -> Iterator[ServerProcess]:
    yield from _server()


def _record_compression(client: LiveSocket) -> list[tuple[str, bool]]:
    """(first bytes, RSV1) of every data frame the client's deflate extension decodes."""
    seen: list[tuple[str, bool]] = []
    extension = client.ws.protocol.extensions[0]
    decode = extension.decode

    def recording(frame: Any, *, max_size: int | None = None) -> Any:
        decoded = decode(frame, max_size=max_size)
        seen.append((decoded.data[:24].decode(), frame.rsv1))
        return decoded

    extension.decode = recording
    return seen


async def test_compression_is_off_unless_the_server_turns_it_on(
    default, room_id, live_players
) -> None:
    client = await live_players.connect(default.ws_url, compression="deflate")
    assert client.ws.protocol.extensions == []
    assert client.ws.response.headers.get("Sec-WebSocket-Extensions") is None


async def _update_of(client: Any, client_id: str) -> dict[str, Any]:
    while True:
        frame = await client.recv_type("StateUpdate")
        if any(p["client_id"] == client_id for p in frame["players"]):
            return frame


async def test_state_updates_are_compressed_for_clients_that_negotiated_deflate(
    deflating, room_id, live_players
) -> None:
    compressed = await live_players.connect(deflating.ws_url, compression="deflate")
    plain = await live_players.connect(deflating.ws_url)
    extensions = compressed.ws.response.headers["Sec-WebSocket-Extensions"]
    assert "permessage-deflate" in extensions and "server_no_context_takeover" in extensions
    assert plain.ws.protocol.extensions == []
    frames = _record_compression(compressed)

    await compressed.join(room_id, "Deflate")
    await plain.join(room_id, "Plain")
    await compressed.recv_type("PlayerJoined")  # the plain player joined after it
    await plain.send({"type": "Update", "state": STATE})
    # The first tick that carries the Update (a keyframe may come before it, with other states).
    seen_compressed = await _update_of(compressed, plain.client_id)
    seen_plain = await _update_of(plain, plain.client_id)
    assert seen_compressed == seen_plain
    (moved,) = [p for p in seen_compressed["players"] if p["client_id"] == plain.client_id]
    assert moved["state"]["position"] == [1.0, 2.0, 3.0]

    await plain.send({"type": "Chat", "message": "through the compressing path too"})
    chat = await compressed.recv_type("Chat")
    assert chat["message"] == "through the compressing path too"
    kinds = {text.split('"')[3]: rsv1 for text, rsv1 in frames}
    assert kinds["StateUpdate"] is True, "the room's shared frame, compressed once per tick"
    assert kinds["Chat"] is True, "events go through uvicorn's websockets path, compressed"
