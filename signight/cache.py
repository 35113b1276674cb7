"""Django's Redis cache on the project's own Redis client (signight.redis: REDIS_URL or Sentinel),
for the login throttle's failure counts (django-axes). Redis not answering is a miss, logged, not
an error: a login then goes unthrottled rather than failing (docs/security.md, "Login throttle")."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

import redis
from django.core.cache.backends.redis import RedisCache, RedisCacheClient

from signight import redis as signight_redis

logger = logging.getLogger(__name__)


class _Client(RedisCacheClient):
    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        return signight_redis.get_sync()


def _miss(answer: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The cache call answers `answer` (a miss, or `default` for get) when Redis does not."""

    def wrap(method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return method(self, *args, **kwargs)
            except redis.RedisError as exc:
                logger.warning("cache unavailable (%s): %s", method.__name__, exc)
                if method.__name__ == "get":
                    return kwargs.get("default", args[1] if len(args) > 1 else None)
                return answer

        return call

    return wrap


class SignightRedisCache(RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server or "redis://signight", params)  # the client ignores the URL
        self._class = _Client

    get = _miss(None)(RedisCache.get)
    add = _miss(False)(RedisCache.add)
    set = _miss(None)(RedisCache.set)
    incr = _miss(0)(RedisCache.incr)
    touch = _miss(False)(RedisCache.touch)
    delete = _miss(False)(RedisCache.delete)
