"""`manage.py serve`: the production server — uvicorn on SERVER_PORT and HTTP_PORT at once.

Both sockets are bound here and handed to uvicorn, so one process (or each of N workers)
serves the game socket and the HTTP API on either port.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from types import FrameType
from typing import Any

import uvicorn
from django.conf import settings
from django.core.management.base import BaseCommand
from uvicorn.supervisors import Multiprocess

from signight import lifecycle

logger = logging.getLogger("signight.serve")


class GracefulServer(uvicorn.Server):
    """uvicorn, with the shutdown a game server needs (docs/operations.md, "Graceful shutdown").

    On the first SIGTERM/SIGINT: readiness turns 503 and new sockets are refused at once; the
    drain hooks hand the sockets over within SHUTDOWN_DRAIN_SECONDS (every client gets close
    1001 "resume" at its own moment in it, so they do not all resume elsewhere at once; their
    handlers and any chat being persisted finish); then uvicorn's own shutdown runs, whose
    lifespan shutdown runs the shutdown hooks (the room hub removes what is left of this node
    from Redis), and the process exits 0. A second signal forces the exit.
    """

    _drain_task: asyncio.Task[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if lifecycle.draining:
            self.force_exit = self.should_exit = True
            return
        lifecycle.start_draining()
        logger.warning(
            "signal %s: draining for %ss", signal.Signals(sig).name, settings.SHUTDOWN_DRAIN_SECONDS
        )
        loop = asyncio.get_event_loop()
        loop.call_soon_threadsafe(self._begin_drain)

    def _begin_drain(self) -> None:
        self._drain_task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        try:
            period = settings.SHUTDOWN_DRAIN_SECONDS
            await asyncio.gather(asyncio.sleep(period), lifecycle.drain(period))
        except Exception:
            logger.exception("drain failed")
        finally:
            self.should_exit = True


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
        # uvicorn's websockets-sansio (its send() exposes back-pressure, see rooms.outbox) with
        # the permessage-deflate terms of signight.wsprotocol
        "ws": "signight.wsprotocol:GameWebSocketProtocol",
        "ws_per_message_deflate": settings.WS_PER_MESSAGE_DEFLATE,
        "http": "httptools",
        "loop": "uvloop",
        "lifespan": "on",
        "log_level": settings.LOG_LEVEL,
        "log_config": settings.LOGGING,  # JSON lines in production, tokens redacted
        "access_log": settings.DEBUG,
        "proxy_headers": False,
        "server_header": False,
        "timeout_graceful_shutdown": 10,
        "ws_max_size": settings.WS_MAX_MESSAGE_BYTES,  # larger frames: uvicorn closes with 1009
        "ws_ping_interval": 20.0,
        "ws_ping_timeout": 20.0,
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
            GracefulServer(config).run(sockets=sockets)
