"""The one ASGI application: HTTP (Django + DRF), the game WebSocket, and lifespan events. An
entry point: it composes the apps (the only import of an app in the base layer).
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "signight.settings")
django_http = get_asgi_application()  # sets Django up before anything imports models

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from rooms.routing import websocket_urlpatterns  # noqa: E402
from signight.lifecycle import lifespan  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_http,
        "websocket": URLRouter(websocket_urlpatterns),  # type: ignore[arg-type]  # path() of ASGI apps
        "lifespan": lifespan,
    }
)
