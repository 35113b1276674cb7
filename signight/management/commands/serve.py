"""`manage.py serve`: the production server — uvicorn on SERVER_PORT and HTTP_PORT at once.

Both sockets are bound here and handed to uvicorn, so one process (or each of N workers)
serves the game socket and the HTTP API on either port.
"""

from __future__ import annotations

import socket
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand
from uvicorn.supervisors import Multiprocess


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def uvicorn_config(**overrides: Any) -> uvicorn.Config:
    options: dict[str, Any] = {
        "app": "signight.asgi:application",
        "ws": "websockets-sansio",  # its send() exposes back-pressure (rooms.outbox)
        "ws_per_message_deflate": settings.WS_PER_MESSAGE_DEFLATE,
        "http": "httptools",
        "loop": "uvloop",
        "lifespan": "on",
        "log_level": settings.LOG_LEVEL,
        "access_log": settings.DEBUG,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
    }
    options.update(overrides)
    return uvicorn.Config(**options)


class Command(BaseCommand):
    help = "Serve the ASGI application with uvicorn on SERVER_PORT and HTTP_PORT."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--workers", type=int, default=settings.WEB_CONCURRENCY)
        parser.add_argument("--host", default=settings.SERVER_HOST)
        parser.add_argument("--port", type=int, default=settings.SERVER_PORT)
        parser.add_argument("--http-port", type=int, default=settings.HTTP_PORT)
        parser.add_argument(
            "--app", default="signight.asgi:application", help="ASGI app (the bench's baseline)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        host = options["host"]
        ports = sorted({options["port"], options["http_port"]})
        sockets = [bind(host, port) for port in ports]
        workers = options["workers"]
        config = uvicorn_config(workers=workers, app=options["app"])
        self.stdout.write(
            f"signight: serving on {', '.join(f'{host}:{p}' for p in ports)} "
            f"with {workers} worker(s)",
        )
        self.stdout.flush()
        if workers > 1:
            Multiprocess(config, sockets=sockets).run()
        else:
            uvicorn.Server(config).run(sockets=sockets)
