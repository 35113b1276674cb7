"""ASGI entry of the baseline: the project's Django (its settings, with the tutorial's channel
layer: bench.baseline.settings) with the tutorial consumer on the game routes.

Served by `manage.py serve --app bench.baseline.asgi:application`.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.baseline.settings")
django_http = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from bench.baseline.consumer import BaselineGameConsumer  # noqa: E402


async def lifespan(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Nothing to start or stop; answering lets `serve` run with lifespan on."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


consumer = BaselineGameConsumer.as_asgi()

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": URLRouter([path("", consumer), path("ws/", consumer), path("ws", consumer)]),
        "lifespan": lifespan,
    }
)
