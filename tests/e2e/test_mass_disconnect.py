"""Hundreds of clients dropping at once leave nothing behind: no presence, no group membership."""

from __future__ import annotations

import asyncio

import pytest
import redis

from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e


async def test_mass_disconnect_leaks_no_presence_or_group_membership(room_id, live_players) -> None:
    """200 sockets dropped at once: their players go away (resumable for the grace), then leave;
    nothing of theirs stays in Redis, and the process unsubscribes from every room at once."""
    env = server_env(
        MONGODB_DB_NAME=unique_db(), WS_MAX_CONNECTIONS_PER_IP="0", RESUME_GRACE_SECONDS="2"
    )
    migrate(env)
    server = ServerProcess(env).start()
    rooms = [f"{room_id}-{i}" for i in range(20)]
    try:
        clients = await asyncio.gather(*(live_players.connect(server.ws_url) for _ in range(200)))
        await asyncio.gather(*(c.join(rooms[i % 20], f"p{i}") for i, c in enumerate(clients)))
        live = redis.Redis.from_url(env["REDIS_URL"])
        assert all(live.hlen(f"sn:room:{r}:players") == 10 for r in rooms)
        groups = [c for c in live.pubsub_channels("asgi__group__room.*") if room_id in c.decode()]
        assert len(groups) == 20, "the process subscribed once per room"
        for client in clients:  # drop without a close handshake, all at once
            client.ws.transport.abort()
        for _ in range(200):  # away for the grace (2 s), then gone
            if not any(live.exists(f"sn:room:{r}:players") for r in rooms):
                break
            await asyncio.sleep(0.1)
        assert not any(
            live.exists(f"sn:room:{r}:{part}")
            for r in rooms
            for part in ("players", "states", "nodes", "seq", "events", "meta")
        )
        assert all(live.zscore("sn:rooms", r) is None for r in rooms)
        assert not [m for m in live.zrange("sn:away", 0, -1) if room_id.encode() in m]
        # Group membership is a subscription of the server's pub/sub connection to the room's
        # group channel: none may be left for the rooms everyone left.
        subscribed = [
            c for c in live.pubsub_channels("asgi__group__room.*") if room_id in c.decode()
        ]
        assert subscribed == []
        status, _ = await asyncio.to_thread(server.get, "/health")
        assert status == 200
    finally:
        assert server.stop() == 0
