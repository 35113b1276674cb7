"""A minimal stand-in server for measuring the generator itself (`--mode gencheck`).

It speaks just enough of the protocol (Join -> Welcome, Update coalesced per 50 ms tick into one
StateUpdate per room, Chat echoed to the room, Ping -> Pong) on picows + uvloop, with no Redis,
no Django and no validation, so that the generator can be driven to 600 players on this box and
its own CPU and lateness read without the product's limits in the way.
Run: python -m bench.fanout --port P
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import time

import msgspec
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_create_server


class _In(msgspec.Struct):
    type: str
    state: msgspec.Raw = msgspec.Raw(b"null")
    room_id: str = ""
    message: str = ""


_decode = msgspec.json.Decoder(_In).decode
_ids = itertools.count(1)


class Room:
    def __init__(self) -> None:
        self.members: dict[bytes, WSTransport] = {}
        self.pending: dict[bytes, bytes] = {}


ROOMS: dict[str, Room] = {}


class Client(WSListener):
    def __init__(self) -> None:
        super().__init__()
        self.cid = b"c%d" % next(_ids)
        self.room: Room | None = None

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        if frame.msg_type is WSMsgType.CLOSE:
            transport.send_close(frame.get_close_code())
            transport.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        msg = _decode(frame.get_payload_as_memoryview())
        if msg.type == "Update" and self.room is not None:
            self.room.pending[self.cid] = bytes(msg.state)
        elif msg.type == "Join":
            self.room = ROOMS.setdefault(msg.room_id, Room())
            self.room.members[self.cid] = transport
            transport.send(
                WSMsgType.TEXT,
                json.dumps(
                    {
                        "type": "Welcome",
                        "client_id": self.cid.decode(),
                        "room_id": msg.room_id,
                        "room_state": [],
                        "chat_history": [],
                    }
                ).encode(),
            )
        elif msg.type == "Chat" and self.room is not None:
            out = json.dumps(
                {"type": "Chat", "client_id": self.cid.decode(), "message": msg.message}
            ).encode()
            for member in self.room.members.values():
                member.send(WSMsgType.TEXT, out)
        elif msg.type == "Ping":
            transport.send(WSMsgType.TEXT, b'{"type":"Pong","t":null}')

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self.room is not None:
            self.room.members.pop(self.cid, None)
            self.room.pending.pop(self.cid, None)


async def tick(period: float) -> None:
    while True:
        await asyncio.sleep(period - time.time() % period)
        for room in ROOMS.values():
            if not room.pending:
                continue
            players = b",".join(
                b'{"client_id":"%s","state":%s}' % item for item in room.pending.items()
            )
            room.pending = {}
            frame = b'{"type":"StateUpdate","players":[' + players + b"]}"
            for member in room.members.values():
                member.send(WSMsgType.TEXT, frame)


async def serve(port: int, period: float) -> None:
    server = await ws_create_server(lambda _request: Client(), "127.0.0.1", port)
    ticker = asyncio.create_task(tick(period))
    async with server:
        await server.serve_forever()
    ticker.cancel()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--tick", type=float, default=0.05)
    args = parser.parse_args()
    uvloop.run(serve(args.port, args.tick))


if __name__ == "__main__":
    main()
