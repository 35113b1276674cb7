"""SIGTERM under traffic: readiness 503 at once, new sockets refused, every client gets 1001 after
the drain, no chat a client saw is lost, the room's presence is gone, and the exit status is 0."""

from __future__ import annotations

import asyncio
import signal

import pymongo
import pytest
import redis
import websockets

from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e


async def _play(client: LiveSocket, seen_chats: set[str], stop: asyncio.Event) -> int | None:
    """Send Updates and a chat now and then until the server closes us; return the close code."""
    sent = 0

    async def reader() -> None:
        async for raw in client.ws:
            if '"type":"Chat"' in raw:
                seen_chats.add(__import__("json").loads(raw)["id"])

    read = asyncio.create_task(reader())
    try:
        while not stop.is_set() and not read.done():
            await client.send({"type": "Update", "state": {**STATE, "position": [sent, 0, 0]}})
            if sent % 10 == 0:
                await client.send({"type": "Chat", "message": f"chat {sent}"})
            sent += 1
            await asyncio.sleep(0.05)
    except websockets.ConnectionClosed:
        pass
    await asyncio.wait([read], timeout=15)
    return client.ws.close_code, client.ws.close_reason


async def test_sigterm_drains_and_loses_nothing(room_id, live_players) -> None:
    db_name = unique_db()
    env = server_env(MONGODB_DB_NAME=db_name, SHUTDOWN_DRAIN_SECONDS="2")
    migrate(env)
    server = ServerProcess(env).start()
    clients = [await live_players.connect(server.ws_url) for _ in range(4)]
    for i, client in enumerate(clients):
        await client.join(room_id, f"p{i}")
    seen: set[str] = set()
    stop = asyncio.Event()
    players = [asyncio.create_task(_play(c, seen, stop)) for c in clients]
    await asyncio.sleep(1.0)

    server.signal(signal.SIGTERM)
    status = None
    for _ in range(40):  # readiness flips well before the drain ends
        status, _ = await asyncio.to_thread(server.get, "/health/ready")
        if status == 503:
            break
        await asyncio.sleep(0.05)
    assert status == 503
    late = await live_players.connect(server.ws_url, open_timeout=5)
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(late.ws.recv(), 5)
    assert late.ws.close_code == 1001

    closes = await asyncio.gather(*players)
    assert all(close == (1001, "server shutting down; resume") for close in closes), closes
    exit_status = await asyncio.to_thread(server.proc.wait, 30)
    assert exit_status == 0

    stored = pymongo.MongoClient(env["MONGODB_URL"])[db_name]["chat_chatmessage"]
    stored_ids = {str(doc["_id"]) for doc in stored.find({}, {"_id": 1})}
    assert seen and seen <= stored_ids
    live = redis.Redis.from_url(env["REDIS_URL"])
    # Handed over, not removed: each player is away (held by no process) for the grace, so it
    # can resume on another server having missed nothing; this one left nothing else behind.
    assert set(live.hgetall(f"sn:room:{room_id}:players").values()) == {b"~"}
    assert live.zscore("sn:rooms", room_id) == 4
    assert live.zcount("sn:away", "-inf", "+inf") >= 4
    assert not live.exists(f"sn:room:{room_id}:nodes")
