"""No deaf process (issue 11): when a process's connections to Redis go silent without closing
(a half-open connection: a NAT entry lost, a peer gone without a FIN), its self-probe stops
coming back, readiness fails and the subscriber reconnects; room traffic crosses processes again
without Redis or the network ever being "healed" for the old connections."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from devtools.services import Service, start_redis
from tests.clients import LiveSocket
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.faults.proxy import TcpProxy


@pytest.fixture
def redis() -> Iterator[Service]:
    service = start_redis()
    yield service
    service.stop()


@pytest.fixture
def servers(redis: Service) -> Iterator[tuple[ServerProcess, ServerProcess, TcpProxy]]:
    """A reaches Redis through a proxy, B directly; both share one database."""
    db = unique_db()
    with TcpProxy(redis.port) as proxy:
        env_a = server_env(MONGODB_DB_NAME=db, REDIS_URL=f"redis://127.0.0.1:{proxy.port}/0")
        migrate(env_a)
        a = ServerProcess(env_a).start()
        b = ServerProcess(server_env(MONGODB_DB_NAME=db, REDIS_URL=redis.url)).start()
        yield a, b, proxy
        a.stop()
        b.stop()


async def chat_until_seen(sender: LiveSocket, receiver: LiveSocket, text: str) -> int:
    """Send chats until one reaches `receiver` (a refused one gets Error); how many it took."""
    for attempt in range(1, 40):
        await sender.send({"type": "Chat", "message": f"{text} {attempt}"})
        try:
            await receiver.recv_type("Chat", timeout=1.0)
            return attempt
        except TimeoutError:
            continue
    raise AssertionError(f"no chat from {sender} reached {receiver}")


async def test_a_process_whose_redis_connections_went_silent_hears_its_rooms_again(
    servers, room_id, live_players
) -> None:
    a, b, proxy = servers
    on_a = await live_players.connect(a.ws_url)
    on_b = await live_players.connect(b.ws_url)
    await on_a.join(room_id, "A")
    await on_b.join(room_id, "B")
    await on_a.recv_type("PlayerJoined")
    await on_b.send({"type": "Chat", "message": "before"})
    assert (await on_a.recv_type("Chat"))["message"] == "before"

    proxy.blackhole_existing()  # A's subscriber and pooled connections go silent, for good
    silenced = time.monotonic()
    deadline = silenced + 20
    while a.get("/health/ready")[0] == 200:
        assert time.monotonic() < deadline, "readiness never noticed the deaf subscriber"
        time.sleep(0.1)

    await chat_until_seen(on_b, on_a, "to A")  # A's new subscriber hears the room
    heard = time.monotonic() - silenced
    await chat_until_seen(on_a, on_b, "from A")  # A's publishes go out on new connections
    while a.get("/health/ready")[0] != 200:
        assert time.monotonic() < deadline + 20, "readiness never came back"
        time.sleep(0.2)
    print(f"FAULT-TIME half-open subscriber: room traffic reached A again after {heard:.1f} s")
    assert on_a.ws.close_code is None and on_b.ws.close_code is None, "nobody was closed"
