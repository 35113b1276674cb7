"""WebSocket routes of the game socket: it answers on /, /ws/ and /ws (docs/protocol.md; the mesh
routes all three here)."""

from __future__ import annotations

from django.urls import path

from rooms.consumers import GameConsumer

game = GameConsumer.as_asgi()

websocket_urlpatterns = [
    path("", game),  # type: ignore[arg-type]  # Channels routes ASGI apps with path()
    path("ws/", game),  # type: ignore[arg-type]  # (see above)
    path("ws", game),  # type: ignore[arg-type]  # (see above)
]
