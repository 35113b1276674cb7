"""Redis connections of this process: one async client per event loop, one sync client, and the
retry policy they and the channel layer share.

Live state (rooms.presence) and health checks use these; the channel layer keeps its own pool.
A command that meets a dead pooled connection (Redis restarted, a failover) is retried on a new
one, a few times with a short jittered back-off (redis-py's Retry), before the caller sees the
error.
"""

from __future__ import annotations

import redis
import redis.asyncio as aredis
import redis.asyncio.retry
import redis.retry
from django.conf import settings
from redis.backoff import ExponentialWithJitterBackoff

from signight.loops import PerLoop

_sync_client: redis.Redis | None = None

SOCKET_TIMEOUT = 2.0
# A mass disconnect (thousands of leaves at once) queues for these instead of opening a
# connection per socket.
MAX_CONNECTIONS = 32
RETRIES = 3
RETRY_ON: list[type[Exception]] = [redis.ConnectionError, redis.TimeoutError]


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=0.5)


def async_retry() -> redis.asyncio.retry.Retry:
    return redis.asyncio.retry.Retry(_backoff(), RETRIES)


def _new_async_client() -> aredis.Redis:
    pool = aredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL,
        max_connections=MAX_CONNECTIONS,
        timeout=10,
        socket_timeout=SOCKET_TIMEOUT,
        socket_connect_timeout=SOCKET_TIMEOUT,
        health_check_interval=30,
        retry=async_retry(),
        retry_on_error=RETRY_ON,
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
            settings.REDIS_URL,
            socket_timeout=SOCKET_TIMEOUT,
            socket_connect_timeout=SOCKET_TIMEOUT,
            retry=redis.retry.Retry(_backoff(), RETRIES),
            retry_on_error=RETRY_ON,
        )
    return _sync_client


def reset() -> None:
    """Forget cached clients (tests that restart Redis, forked workers)."""
    global _sync_client
    _sync_client = None
    _async_clients.clear()
