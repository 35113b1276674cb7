"""Redis connections of this process: one async client per event loop, one sync client, the
channel layer's connection options, and the retry policy they share.

With REDIS_SENTINELS set, every client (and the channel layer) asks the sentinels for the master
named REDIS_SENTINEL_MASTER and follows it through a failover; otherwise REDIS_URL names Redis.

Live state (rooms.presence) and health checks use these; the channel layer keeps its own pool.
A command that meets a dead pooled connection (Redis restarted, a failover) is retried on a new
one, a few times with a short jittered back-off (redis-py's Retry), before the caller sees the
error.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import redis
import redis.asyncio as aredis
import redis.asyncio.retry
import redis.asyncio.sentinel
import redis.retry
import redis.sentinel
from django.conf import settings
from redis.backoff import ExponentialWithJitterBackoff

from signight.loops import PerLoop

_sync_client: redis.Redis | None = None

SOCKET_TIMEOUT = 2.0
# The channel layer's commands wait longer: a PUBLISH outlasts a short stall (CLIENT PAUSE, a
# failover) instead of failing, and still fails on a connection that went silent.
LAYER_SOCKET_TIMEOUT = 5.0
HEALTH_CHECK_SECONDS = 30
# A mass disconnect (thousands of leaves at once) queues for these instead of opening a
# connection per socket.
MAX_CONNECTIONS = 32
RETRIES = 3
RETRY_ON: list[type[Exception]] = [redis.ConnectionError, redis.TimeoutError]


def _backoff() -> ExponentialWithJitterBackoff:
    return ExponentialWithJitterBackoff(base=0.05, cap=0.5)


def async_retry() -> redis.asyncio.retry.Retry:
    return redis.asyncio.retry.Retry(_backoff(), RETRIES)


def _db(url: str) -> int:
    path = urlsplit(url).path.strip("/")
    return int(path) if path.isdigit() else 0


def layer_host(url: str, sentinels: list[tuple[str, int]], master: str) -> dict[str, Any]:
    """The channel layer's `hosts` entry (channels-redis): Redis at `url`, or the master the
    `sentinels` elect. Dead connections are noticed (health checks, TCP keepalive) and commands
    retried on a new connection; the subscriber is watched by the hub's self-probe."""
    options: dict[str, Any] = {
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "socket_timeout": LAYER_SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry": async_retry(),
        "retry_on_error": RETRY_ON,
    }
    if sentinels:
        return {"master_name": master, "sentinels": sentinels, "db": _db(url), **options}
    return {"address": url, **options}


def _sentinel_kwargs() -> dict[str, Any]:
    return {"socket_timeout": SOCKET_TIMEOUT, "socket_connect_timeout": SOCKET_TIMEOUT}


def _new_async_client() -> aredis.Redis:
    options: dict[str, Any] = {
        "socket_timeout": SOCKET_TIMEOUT,
        "socket_connect_timeout": SOCKET_TIMEOUT,
        "socket_keepalive": True,
        "health_check_interval": HEALTH_CHECK_SECONDS,
        "retry": async_retry(),
        "retry_on_error": RETRY_ON,
    }
    if settings.REDIS_SENTINELS:
        # redis-py has no blocking Sentinel pool: a larger cap instead of a queue.
        sentinel = redis.asyncio.sentinel.Sentinel(
            settings.REDIS_SENTINELS, sentinel_kwargs=_sentinel_kwargs()
        )
        return sentinel.master_for(
            settings.REDIS_SENTINEL_MASTER,
            db=_db(settings.REDIS_URL),
            max_connections=MAX_CONNECTIONS * 8,
            **options,
        )
    pool = aredis.BlockingConnectionPool.from_url(
        settings.REDIS_URL, max_connections=MAX_CONNECTIONS, timeout=10, **options
    )
    return aredis.Redis(connection_pool=pool)


_async_clients = PerLoop(_new_async_client)


def get_async() -> aredis.Redis:
    """The client bound to the running loop (redis.asyncio clients must not cross loops)."""
    return _async_clients.get()


def new_sync_client(*, timeout: float = SOCKET_TIMEOUT, retries: int = RETRIES) -> redis.Redis:
    """A blocking client (threads: health checks, the /rooms view)."""
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": redis.retry.Retry(_backoff(), retries),
        "retry_on_error": RETRY_ON,
    }
    if settings.REDIS_SENTINELS:
        sentinel = redis.sentinel.Sentinel(
            settings.REDIS_SENTINELS,
            sentinel_kwargs={"socket_timeout": timeout, "socket_connect_timeout": timeout},
        )
        return sentinel.master_for(
            settings.REDIS_SENTINEL_MASTER, db=_db(settings.REDIS_URL), **options
        )
    return redis.Redis.from_url(settings.REDIS_URL, **options)


def get_sync() -> redis.Redis:
    global _sync_client
    if _sync_client is None:
        _sync_client = new_sync_client()
    return _sync_client


def reset() -> None:
    """Forget cached clients (tests that restart Redis, forked workers)."""
    global _sync_client
    _sync_client = None
    _async_clients.clear()
