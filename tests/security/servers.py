"""Real servers for the security tests: a `manage.py serve` whose output is kept, and a WebSocket
client written on a bare TCP socket (tiny receive buffers, invalid frames, no reading at all).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.servers import ROOT, ServerProcess

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@dataclass
class LoggedServer(ServerProcess):
    """ServerProcess whose stdout and stderr go to files in `logs`, to be read by the test."""

    logs: Path = field(default_factory=Path)

    def spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "stdout").open("wb") as out, (self.logs / "stderr").open("wb") as err:
            return subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=out, stderr=err)

    def died(self) -> str:
        return f"{super().died()}: {self.stderr()}"

    def stdout(self) -> str:
        return (self.logs / "stdout").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.logs / "stderr").read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """Every stderr line, parsed as the JSON log line it must be."""
        return [json.loads(line) for line in self.stderr().splitlines() if line.strip()]


class Closed(Exception):
    """The server closed the TCP connection (reset or EOF) without a close frame."""


class RawSocket:
    """A WebSocket client on a bare, blocking TCP socket: the handshake and framing by hand."""

    def __init__(
        self,
        port: int,
        path: str = "/ws/",
        *,
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 10,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:  # before connect, so the window offered to the server is small
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buffer = b""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [
            f"GET {path} HTTP/1.1",
            f"Host: 127.0.0.1:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
            *(f"{name}: {value}" for name, value in (headers or {}).items()),
        ]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        assert head.startswith("HTTP/1.1 101"), head
        accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
        fields = dict(line.split(": ", 1) for line in head.split("\r\n")[1:] if ": " in line)
        assert {k.lower(): v for k, v in fields.items()}["sec-websocket-accept"] == accept, head

    def _read(self, size: int) -> bytes:
        while len(self.buffer) < size:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                raise Closed("connection reset") from None
            if not chunk:
                raise Closed("connection closed")
            self.buffer += chunk
        data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def _read_until(self, marker: bytes) -> bytes:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise Closed("connection closed during the handshake")
            self.buffer += chunk
        head, _, self.buffer = self.buffer.partition(marker)
        return head

    def send_frame(self, payload: bytes, *, opcode: int = 0x1, fin: bool = True) -> None:
        first = (0x80 if fin else 0) | opcode
        length = len(payload)
        if length < 126:
            header = struct.pack("!BB", first, 0x80 | length)
        elif length < 2**16:
            header = struct.pack("!BBH", first, 0x80 | 126, length)
        else:
            header = struct.pack("!BBQ", first, 0x80 | 127, length)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        self.sock.sendall(header + mask + masked)

    def send_json(self, message: dict[str, Any]) -> None:
        self.send_frame(json.dumps(message).encode())

    def recv_frame(self) -> tuple[int, bytes]:
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def close_code(self) -> int:
        """Read (and drop) frames until the close frame; its code. Raises Closed on a reset/EOF."""
        while True:
            opcode, payload = self.recv_frame()
            if opcode == 0x8:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005

    def close(self) -> None:
        self.sock.close()
