"""Expected server frames for whole-frame asserts: the protocol's builders' shapes, with matchers
for the values a test cannot know in advance (the server's clock, the room's event number)."""

from __future__ import annotations

import time
from typing import Any


class _ServerTime:
    """Equals a server_time: Unix milliseconds, within a minute of this machine's clock."""

    def __eq__(self, other: object) -> bool:
        return type(other) is int and abs(other - time.time() * 1000) < 60_000

    def __repr__(self) -> str:
        return "<server_time: Unix ms, now>"


class _Seq:
    """Equals a room event number (a positive integer)."""

    def __eq__(self, other: object) -> bool:
        return type(other) is int and other > 0

    def __repr__(self) -> str:
        return "<seq: a positive int>"


class _Token:
    """Equals a resume token: an opaque, non-empty string."""

    def __eq__(self, other: object) -> bool:
        return type(other) is str and 20 < len(other) <= 512

    def __repr__(self) -> str:
        return "<resume_token: an opaque string>"


SERVER_TIME: Any = _ServerTime()
SEQ: Any = _Seq()
TOKEN: Any = _Token()


def pong(t: Any) -> dict[str, Any]:
    return {"type": "Pong", "t": t, "server_time": SERVER_TIME}


def left(room_id: str, client_id: str, seq: Any = SEQ) -> dict[str, Any]:
    return {"type": "PlayerLeft", "room_id": room_id, "seq": seq, "client_id": client_id}


def error(code: str, message: str, ref: str | None = None) -> dict[str, Any]:
    frame = {"type": "Error", "code": code, "message": message}
    if ref is not None:
        frame["ref"] = ref
    return frame


def limits(max_players: int = 16) -> dict[str, Any]:
    """Welcome.limits with the default settings (docs/protocol.md, "Limits")."""
    return {
        "max_message_bytes": 16384,
        "update_rate": 60,
        "chat_rate": 5,
        "chat_period": 10.0,
        "chat_burst": 3,
        "idle_timeout": 60.0,
        "max_players": max_players,
        "resume_grace": 20,
    }


def welcome(
    client_id: str,
    room_id: str,
    room_state: list[dict[str, Any]],
    chat_history: list[dict[str, Any]],
    *,
    seq: Any = SEQ,
    max_players: int = 16,
) -> dict[str, Any]:
    return {
        "type": "Welcome",
        "protocol": "1.1",
        "client_id": client_id,
        "room_id": room_id,
        "server_time": SERVER_TIME,
        "tick_rate": 20,
        "seq": seq,
        "limits": limits(max_players),
        "room_state": room_state,
        "chat_history": chat_history,
        "resume_token": TOKEN,
    }


def resumed(
    client_id: str,
    room_id: str,
    room_state: list[dict[str, Any]],
    *,
    missed: list[dict[str, Any]] | None,
    chat_history: list[dict[str, Any]] | None = None,
    seq: Any = SEQ,
    max_players: int = 16,
    resume_grace: int = 20,
) -> dict[str, Any]:
    """A Resumed: recovered with `missed` (its events), or not (missed None) with the room's
    `chat_history`."""
    frame = {
        "type": "Resumed",
        "protocol": "1.1",
        "client_id": client_id,
        "room_id": room_id,
        "recovered": missed is not None,
        "server_time": SERVER_TIME,
        "tick_rate": 20,
        "seq": seq,
        "limits": {**limits(max_players), "resume_grace": resume_grace},
        "room_state": room_state,
        "missed": missed or [],
        "resume_token": TOKEN,
    }
    if missed is None:
        frame["chat_history"] = chat_history or []
    return frame


def floats(state: dict[str, Any]) -> dict[str, Any]:
    """A state as the server relays it: its vectors as floats (1 -> 1.0)."""
    return {
        key: [float(x) for x in value] if isinstance(value, list) else value
        for key, value in state.items()
    }


def one_of_each() -> list[str]:
    """One frame from each of the server's builders (rooms.protocol.frames), as sent."""
    from datetime import UTC, datetime

    import msgspec

    from rooms import protocol

    state = protocol.state_json(protocol.initial_state("n", "#000000"))
    item = protocol.chat_item(
        id="i", room_id="r", client_id="c", name="n", message="m", created_at=datetime.now(UTC)
    )
    return [
        protocol.welcome(
            client_id="c",
            room_id="r",
            seq=7,
            room_state=[("c", state)],
            chat_history=[protocol.encode_item(item)],
            max_players=16,
            resume_token="token",
        ),
        protocol.resumed(
            client_id="c",
            room_id="r",
            seq=12,
            room_state=[("c", state)],
            missed=[
                protocol.player_joined("r", 8, "c", state).text.encode(),
                protocol.chat(item, 11, "my-ref").text.encode(),
            ],
            chat_history=None,
            max_players=16,
            resume_token="token",
        ),
        protocol.resumed(
            client_id="c",
            room_id="r",
            seq=12,
            room_state=[("c", state)],
            missed=None,
            chat_history=[protocol.encode_item(item)],
            max_players=16,
            resume_token="token",
        ),
        protocol.player_joined("r", 8, "c", state).text,
        protocol.player_left("r", 9, "c").text,
        protocol.chat(item, 10).text,
        protocol.chat(item, 11, "my-ref").text,
        protocol.state_update("r", 123, [("c", state)]),
        protocol.pong(msgspec.Raw(b'{"any": [1]}')),
        protocol.error("invalid_message", "bad", "ref-1"),
        protocol.error(
            "invalid_message",
            'bad "quote" \ud83d'.encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        ),
    ]
