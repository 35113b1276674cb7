"""Redis connections of this process: one async client per event loop, one sync client.

Live state (rooms.presence) and health checks use these; the channel layer keeps its own pool.
"""

from __future__ import annotations

import redis
import redis.asyncio as aredis
from django.conf import settings

from signight.loops import PerLoop

_sync_client: redis.Redis | None = None

SOCKET_TIMEOUT = 2.0
# A mass disconnect (thousands of leaves at once) queues for these instead of opening a
# connection per socket.
MAX_CONNECTIONS = 32


def _new_async_client() -> aredis.Redis:
    pool = aredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=MAX_CONNECTIONS,
        timeout=10,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
    )
    return aredis.Redis(connection_pool=pool)


_async_clients = PerLoop(_new_async_client)


def get_async() -> aredis.Redis:
    """The client bound to the running loop (redis.asyncio clients must not cross loops)."""
    return _async_clients.get()


def get_sync() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = redis.Redis.from_url(
            settings.REDIS_URL, socket_timeout=SOCKET_TIMEOUT, socket_connect_timeout=SOCKET_TIMEOUT
        )
    return _sync_client


def reset() -> None:
    """Forget cached clients (tests that restart Redis, forked workers)."""
    global _sync_client
    _sync_client = None
    _async_clients.clear()
