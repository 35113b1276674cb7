"""A chat is either delivered or refused, never silently only stored (issue 11): a chat stored in
MongoDB whose delivery cannot happen in time (Redis black-holed) gets Error `chat_unavailable`,
is not in /chat/history nor in a later Welcome's history, and does not reach anyone when the
commands held up in the partition finally arrive; the next chat after the outage is delivered."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from devtools.services import Service, start_redis
from tests import frames
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.faults.proxy import TcpProxy


@pytest.fixture
def redis() -> Iterator[Service]:
    service = start_redis()
    yield service
    service.stop()


@pytest.fixture
def server(redis: Service) -> Iterator[tuple[ServerProcess, TcpProxy]]:
    with TcpProxy(redis.port) as proxy:
        env = server_env(MONGODB_DB_NAME=unique_db(), REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        migrate(env)
        process = ServerProcess(env).start()
        yield process, proxy
        process.stop()


def history(server: ServerProcess, room_id: str) -> list[str]:
    status, body = server.get(f"/chat/history?room_id={room_id}")
    assert status == 200, body
    return [item["message"] for item in body["messages"]]


async def test_a_chat_that_cannot_be_delivered_is_refused_and_not_kept(
    server, room_id, live_players
) -> None:
    process, proxy = server
    sender = await live_players.connect(process.ws_url)
    watcher = await live_players.connect(process.ws_url)
    await sender.join(room_id, "Sender")
    await watcher.join(room_id, "Watcher")
    await sender.recv_type("PlayerJoined")
    # A socket's messages are served one after another: a Pong means its Join has finished,
    # PlayerJoined broadcast included (still in flight, it would fail in the black hole and
    # answer the Join with a late Error `unavailable`, taken here for the chat's answer).
    await sender.ping("joined")
    await watcher.ping("joined")

    proxy.blackhole()
    await sender.send({"type": "Chat", "message": "into the hole"})
    error = await sender.recv_first("Error", "Chat", timeout=30)
    assert error["type"] == "Error" and error["code"] == "chat_unavailable", error
    assert "into the hole" not in history(process, room_id)

    proxy.heal()  # the held commands (the chat's seq, its publish) now reach Redis, late
    healed = time.monotonic()
    await asyncio.sleep(2)
    for client in (sender, watcher):
        await client.send({"type": "Ping", "t": 7})
        assert await client.recv_first("Pong", "Chat", timeout=10) == frames.pong(7)

    for _attempt in range(30):  # after the outage, chat works again
        await sender.send({"type": "Chat", "message": "after"})
        frame = await sender.recv_first("Chat", "Error", timeout=15)
        if frame["type"] == "Chat":
            break
        await asyncio.sleep(0.5)
    assert frame["message"] == "after"
    recovered = time.monotonic() - healed
    print(f"FAULT-TIME chat after a Redis black hole: delivered {recovered:.1f} s after heal")
    assert (await watcher.recv_type("Chat"))["message"] == "after"
    assert history(process, room_id) == ["after"]

    later = await live_players.connect(process.ws_url)
    welcome = await later.join(room_id, "Later")
    assert [item["message"] for item in welcome["chat_history"]] == ["after"]
