"""ASGI lifespan: start nothing eagerly, and on shutdown hand this process's players back."""

from __future__ import annotations

import gc
import logging
from typing import Any

from rooms.hub import hub

logger = logging.getLogger(__name__)


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            # Django, DRF and the app are loaded: keep the cyclic GC from rescanning them.
            gc.collect()
            gc.freeze()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            try:
                await hub.stop()
            except Exception:
                logger.exception("hub shutdown failed")
            await send({"type": "lifespan.shutdown.complete"})
            return
