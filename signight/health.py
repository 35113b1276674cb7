"""Dependency checks with hard time limits, and the body that /health and the readiness probe
answer with."""

from __future__ import annotations

import concurrent.futures
import logging
from functools import lru_cache

import pymongo
import redis
from django.conf import settings

from signight.redis import new_sync_client

logger = logging.getLogger(__name__)

CHECK_TIMEOUT = 0.8  # each check; both run at once, so /health answers well inside 2 s
_pool = concurrent.futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="health")


@lru_cache(maxsize=1)
def _mongo() -> pymongo.MongoClient:
    ms = int(CHECK_TIMEOUT * 1000)
    return pymongo.MongoClient(
        settings.MONGODB_URL,
        serverSelectionTimeoutMS=ms,
        connectTimeoutMS=ms,
        socketTimeoutMS=ms,
        appname="signight-health",
    )


@lru_cache(maxsize=1)
def _redis() -> redis.Redis:
    return new_sync_client(timeout=CHECK_TIMEOUT, retries=0)


def check_redis() -> bool:
    try:
        return bool(_redis().ping())
    except Exception as exc:
        logger.warning("health: redis unreachable: %s", exc)
        return False


def mongodb_up() -> bool:
    """One ping under CHECK_TIMEOUT; raises what pymongo raises."""
    return bool(_mongo().admin.command("ping").get("ok"))


def check_mongodb() -> bool:
    try:
        return mongodb_up()
    except Exception as exc:
        logger.warning("health: mongodb unreachable: %s", exc)
        return False


def dependencies() -> dict[str, bool]:
    """{"redis": up, "mongodb": up}, in at most about CHECK_TIMEOUT seconds."""
    futures = {"redis": _pool.submit(check_redis), "mongodb": _pool.submit(check_mongodb)}
    out = {}
    for name, future in futures.items():
        try:
            out[name] = future.result(timeout=CHECK_TIMEOUT + 0.5)
        except concurrent.futures.TimeoutError:
            out[name] = False
    return out


def report(extra: dict[str, bool] | None = None) -> tuple[bool, dict[str, str]]:
    """(all up?, {"status", "redis", "mongodb", ...extra checks}) with "ok" / "error" values."""
    checks = {**dependencies(), **(extra or {})}
    ok = all(checks.values())
    body = {"status": "ok" if ok else "error"}
    body.update({name: "ok" if up else "error" for name, up in checks.items()})
    return ok, body
