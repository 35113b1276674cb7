"""A room's frame is framed once for every client (RFC 6455), and compressed once for those that
negotiated permessage-deflate without server context takeover (RFC 7692)."""

from __future__ import annotations

import struct
import zlib

import pytest

from rooms.outbox import Wire, text_frame


@pytest.mark.parametrize(
    ("size", "header"),
    [
        (125, bytes((0x81, 125))),
        (126, struct.pack("!BBH", 0x81, 126, 126)),
        (65535, struct.pack("!BBH", 0x81, 126, 65535)),
        (65536, struct.pack("!BBQ", 0x81, 127, 65536)),
    ],
)
def test_a_text_frame_is_fin_text_unmasked_with_the_shortest_length(size, header) -> None:
    payload = b"x" * size
    assert text_frame(payload) == header + payload


def test_the_compressed_frame_sets_rsv1_and_inflates_on_its_own() -> None:
    payload = b'{"type":"StateUpdate","players":[' + b'{"client_id":"abc"},' * 50 + b"{}]}"
    wire = Wire(payload)
    frame = wire.deflated()
    assert frame[0] == 0xC1, "FIN, RSV1 (compressed), text"
    assert frame[1] & 0x80 == 0, "server frames are not masked"
    length = frame[1] & 0x7F
    body = frame[2:] if length < 126 else frame[4:]
    assert len(body) < len(payload) / 4
    # A fresh inflater, as a client of a server without context takeover uses (RFC 7692 7.2.2).
    assert zlib.decompressobj(-15).decompress(body + b"\x00\x00\xff\xff") == payload
    assert wire.deflated() is frame, "compressed once, whatever the number of clients"
    assert wire.plain == text_frame(payload)
