"""The life of a server process: draining on SIGTERM, the ASGI lifespan, and the hooks that apps
register in their AppConfig.ready() (the base layer imports no app).

Shutdown runs one way: `manage.py serve` turns `draining` on at the first signal, serves on for
SHUTDOWN_DRAIN_SECONDS, runs the drain hooks (close every socket with 1001) and lets uvicorn
stop; uvicorn's lifespan shutdown then runs the shutdown hooks (stop background work).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

RECONNECT_REASON = "server shutting down; reconnect"

Hook = Callable[[], Awaitable[None]]
Check = Callable[[], bool]

draining = False
_drain_hooks: list[Hook] = []
_shutdown_hooks: list[Hook] = []
_readiness_checks: dict[str, Check] = {}


def start_draining() -> None:
    global draining
    draining = True


def on_drain(hook: Hook) -> None:
    """Run `hook` once the drain period is over (before the server stops accepting work)."""
    _drain_hooks.append(hook)


def on_shutdown(hook: Hook) -> None:
    """Run `hook` when the process shuts down (ASGI lifespan shutdown)."""
    _shutdown_hooks.append(hook)


def add_readiness_check(name: str, check: Check) -> None:
    """A named check that the readiness probe requires to be true (fast, no I/O)."""
    _readiness_checks[name] = check


def readiness() -> dict[str, bool]:
    return {name: check() for name, check in _readiness_checks.items()}


async def _run(hooks: list[Hook], what: str) -> None:
    for hook in hooks:
        try:
            await hook()
        except Exception:
            logger.exception("%s hook %s failed", what, getattr(hook, "__qualname__", hook))


async def drain() -> None:
    await _run(_drain_hooks, "drain")


async def shutdown() -> None:
    await _run(_shutdown_hooks, "shutdown")


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The ASGI lifespan app: nothing starts eagerly; shutdown runs the shutdown hooks."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Django, DRF and the app are loaded: keep the cyclic GC from rescanning them.
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
