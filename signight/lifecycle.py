"""Process lifecycle flags shared by the server, the probes and the consumer (graceful shutdown)."""

from __future__ import annotations

RECONNECT_REASON = "server shutting down; reconnect"

draining = False


def start_draining() -> None:
    global draining
    draining = True
