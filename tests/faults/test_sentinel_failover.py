"""Redis high availability on Sentinel (issue 11): two server processes find Redis through three
sentinels (REDIS_SENTINELS, REDIS_SENTINEL_MASTER); the master is killed and the sentinels
promote its replica. Nobody is closed with 1011, both processes follow the new master (presence
and the channel layer), and afterwards a Welcome lists every connected player, /rooms counts
them, and chat crosses processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest
import redis

from devtools.services import Service, start_redis, start_sentinel
from tests.clients import LiveSocket
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

MASTER = "signight"


@pytest.fixture
def cluster() -> Iterator[tuple[Service, Service, list[Service]]]:
    master = start_redis()
    replica = start_redis(replica_of=master.port)
    sentinels = [start_sentinel(MASTER, master.port) for _ in range(3)]
    yield master, replica, sentinels
    for service in [*sentinels, replica, master]:
        service.stop()


def master_port(sentinels: list[Service]) -> int:
    for sentinel in sentinels:
        try:
            client = redis.Redis(port=sentinel.port, socket_timeout=1)
            _host, port = client.sentinel_get_master_addr_by_name(MASTER)
            return int(port)
        except (redis.RedisError, TypeError):
            continue
    return 0


@pytest.fixture
def servers(cluster) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    _master, _replica, sentinels = cluster
    env = server_env(
        MONGODB_DB_NAME=unique_db(),
        REDIS_URL="redis://unused:6379/0",  # the sentinels name the master
        REDIS_SENTINELS=",".join(f"127.0.0.1:{s.port}" for s in sentinels),
        REDIS_SENTINEL_MASTER=MASTER,
    )
    migrate(env)
    a, b = ServerProcess(env).start(), ServerProcess(dict(env)).start()
    yield a, b
    a.stop()
    b.stop()


async def chat_until_seen(sender: LiveSocket, receiver: LiveSocket, text: str) -> None:
    for attempt in range(60):
        await sender.send({"type": "Chat", "message": f"{text} {attempt}"})
        try:
            await receiver.recv_type("Chat", timeout=1.0)
            return
        except TimeoutError:
            continue
    raise AssertionError(f"no chat crossed from {sender} to {receiver}")


async def test_a_master_failover_keeps_rooms_whole(cluster, servers, room_id, live_players):
    master, replica, sentinels = cluster
    a, b = servers
    on_a = await live_players.connect(a.ws_url)
    on_b = await live_players.connect(b.ws_url)
    await on_a.join(room_id, "A")
    await on_b.join(room_id, "B")
    await on_a.recv_type("PlayerJoined")
    await chat_until_seen(on_b, on_a, "before")

    master.stop(kill=True)
    killed = time.monotonic()
    while master_port(sentinels) != replica.port:
        assert time.monotonic() - killed < 30, "the sentinels did not promote the replica"
        await asyncio.sleep(0.2)
    promoted = time.monotonic() - killed

    await chat_until_seen(on_a, on_b, "after, A to B")
    await chat_until_seen(on_b, on_a, "after, B to A")
    recovered = time.monotonic() - killed
    late = await live_players.connect(b.ws_url)
    welcome = await late.join(room_id, "Late")
    assert {p["client_id"] for p in welcome["room_state"]} >= {
        on_a.client_id,
        on_b.client_id,
    }, welcome["room_state"]
    assert a.player_count(room_id) == 3
    print(
        f"FAULT-TIME sentinel failover: promoted after {promoted:.1f} s, "
        f"chat both ways after {recovered:.1f} s"
    )
    assert on_a.ws.close_code is None and on_b.ws.close_code is None
