"""WebSocket routes: the game socket answers on / and /ws/."""

from __future__ import annotations

from django.urls import path

from rooms.consumers import GameConsumer

game = GameConsumer.as_asgi()

websocket_urlpatterns = [
    path("", game),
    path("ws/", game),
    path("ws", game),
]
