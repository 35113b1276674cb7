"""The WebSocket protocol uvicorn runs for `manage.py serve`: uvicorn's websockets-sansio, with
the permessage-deflate terms a room server needs when WS_PER_MESSAGE_DEFLATE is on.

The server declares `server_no_context_takeover` (RFC 7692 7.1.1.1 lets it, whatever the client
offered), so every message it sends is compressed on its own. A room's StateUpdate is then
compressed ONCE per tick and the same bytes are written to every client that negotiated the
extension (rooms.outbox.Wire), instead of once per client. Window and memory as uvicorn's
defaults: 2^12-byte windows, memLevel 5.

A text message that is not UTF-8 closes the socket with 1007, as in uvicorn, but is logged as
one INFO line (throttled), not an ERROR with a traceback: a client's bad input must not write
the server's logs at will.
"""

from __future__ import annotations

import logging
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.server import ServerProtocol

from signight.logs import Throttled

WINDOW_BITS = 12
MEM_LEVEL = 5
INVALID_UTF8 = 1007

_bad_input = Throttled(logging.getLogger("signight.ws"))


def _is_utf8(frames: list[bytes]) -> bool:
    try:
        for frame in frames if len(frames) == 1 else [b"".join(frames)]:
            frame.decode()
    except UnicodeDecodeError:
        return False
    return True


class GameWebSocketProtocol(WebSocketsSansIOProtocol):
    def __init__(self, config: Any, *args: Any, **kwargs: Any) -> None:
        super().__init__(config, *args, **kwargs)
        if config.ws_per_message_deflate:
            self.conn = ServerProtocol(
                extensions=[
                    ServerPerMessageDeflateFactory(
                        server_no_context_takeover=True,
                        server_max_window_bits=WINDOW_BITS,
                        client_max_window_bits=WINDOW_BITS,
                        compress_settings={"memLevel": MEM_LEVEL},
                    )
                ],
                max_size=config.ws_max_size,
                logger=logging.getLogger("uvicorn.error"),
            )

    def send_receive_event_to_app(self) -> None:
        if self.curr_msg_data_type == "text" and not self.close_sent and not _is_utf8(self.frames):
            self.frames = []
            _bad_input.log(logging.INFO, "closed with 1007: invalid UTF-8 from %s", self.client)
            self.conn.send_close(INVALID_UTF8)
            self.handle_parser_exception()
            return
        super().send_receive_event_to_app()

    @property
    def deflate(self) -> bool:
        """permessage-deflate was negotiated on this connection (after the handshake)."""
        return bool(self.conn.extensions)
