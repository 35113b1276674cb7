"""The life of a server process: draining on SIGTERM, the ASGI lifespan, and the hooks that apps
register in their AppConfig.ready() (the base layer imports no app).

Shutdown runs one way: `manage.py serve` turns `draining` on at the first signal and runs the
drain hooks, which have SHUTDOWN_DRAIN_SECONDS to hand their work over (the rooms close every
socket with 1001 "resume", spread over that time), then lets uvicorn stop; uvicorn's lifespan
shutdown runs the shutdown hooks (stop background work).
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Awaitable, Callable
from typing import Any

logger = logging.getLogger(__name__)

DRAIN_REASON = "server shutting down; resume"  # the close reason of 1001 (docs/protocol.md)

Hook = Callable[[], Awaitable[None]]
DrainHook = Callable[[float], Awaitable[None]]  # given the seconds it has
Check = Callable[[], bool]

draining = False
_drain_hooks: list[DrainHook] = []
_shutdown_hooks: list[Hook] = []
_readiness_checks: dict[str, Check] = {}


def start_draining() -> None:
    global draining
    draining = True


def on_drain(hook: DrainHook) -> None:
    """Run `hook(period)` when draining starts: it has `period` seconds to finish."""
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


async def drain(period: float) -> None:
    for hook in _drain_hooks:
        try:
            await hook(period)
        except Exception:
            logger.exception("drain hook %s failed", getattr(hook, "__qualname__", hook))


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
