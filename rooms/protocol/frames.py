"""The server's frames: the builders every sender uses (the only place a frame is made) and the
structs that describe them for the published schema (a test decodes each builder's output with
them, so the two cannot drift).

Builders encode plain dicts with msgspec: players' states are already-encoded JSON (msgspec.Raw),
relayed as they are stored, never decoded again.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any, NamedTuple

import msgspec
from django.conf import settings

from rooms.protocol.codes import PROTOCOL_VERSION, ErrorCode
from rooms.protocol.inbound import PlayerState
from signight.text import iso_millis

_encoder = msgspec.json.Encoder()
Players = list[tuple[str, bytes]]


def encode(frame: dict[str, Any]) -> str:
    return _encoder.encode(frame).decode()


def server_time() -> int:
    """Unix time in milliseconds, as every frame that carries `server_time` says it."""
    return int(time.time() * 1000)


def _players(players: Players) -> list[dict[str, Any]]:
    return [{"client_id": cid, "state": msgspec.Raw(state)} for cid, state in players]


def state_json(state: PlayerState) -> bytes:
    return _encoder.encode(state)


_state_decoder = msgspec.json.Decoder(PlayerState)


def decode_state(state: bytes) -> PlayerState:
    """A stored state (state_json's); raises ValueError if it is not one."""
    return _state_decoder.decode(state)


def initial_state(name: str, color: str, spawn: PlayerState | None = None) -> PlayerState:
    """A joiner's state: where the Join's `state` says (its colour if it names one), else the
    origin; the name is always the joined one."""
    if spawn is None:
        return PlayerState(
            name=name, color=color, position=(0.0, 0.0, 0.0), rotation=(1.0, 0.0, 0.0, 0.0)
        )
    spawn.name, spawn.color = name, spawn.color or color
    return spawn


class RoomEvent(NamedTuple):
    """A room event's frame and its type (for metrics), built here and nowhere else."""

    kind: str
    text: str


class ChatItem(msgspec.Struct, frozen=True):
    """One chat message as the socket sends it (Chat frame, Welcome history) and the room's
    recent history in Redis keeps it; /chat/history answers with the same fields."""

    id: str
    room_id: str
    client_id: str
    name: str
    message: str
    timestamp: str  # ISO 8601, UTC, milliseconds


def chat_item(
    *, id: str, room_id: str, client_id: str, name: str, message: str, created_at: datetime
) -> ChatItem:
    return ChatItem(
        id=id,
        room_id=room_id,
        client_id=client_id,
        name=name,
        message=message,
        timestamp=iso_millis(created_at),
    )


def encode_item(item: ChatItem) -> bytes:
    """A chat item as stored in the room's recent history (the Chat frame minus its type)."""
    return _encoder.encode(item)


_item_decoder = msgspec.json.Decoder(ChatItem)


def decode_item(item: bytes) -> ChatItem:
    return _item_decoder.decode(item)


def limits(max_players: int) -> dict[str, Any]:
    """The limits in force for a client of a room with `max_players` (Welcome.limits)."""
    return {
        "max_message_bytes": settings.WS_MAX_MESSAGE_BYTES,
        "update_rate": settings.WS_UPDATE_RATE,
        "chat_rate": settings.WS_CHAT_RATE,
        "chat_period": settings.WS_CHAT_PERIOD,
        "chat_burst": settings.WS_CHAT_BURST,
        "idle_timeout": settings.WS_IDLE_TIMEOUT,
        "max_players": max_players,
        "resume_grace": settings.RESUME_GRACE_SECONDS,
    }


def welcome(
    *,
    client_id: str,
    room_id: str,
    seq: int,
    room_state: Players,
    chat_history: list[bytes],
    max_players: int,
    resume_token: str,
) -> str:
    """`chat_history`: Chat items already encoded (encode_item), oldest first; `seq`: the room's
    event number that the snapshot reflects; `resume_token`: what a Resume presents."""
    return encode(
        {
            "type": "Welcome",
            "protocol": PROTOCOL_VERSION,
            "client_id": client_id,
            "room_id": room_id,
            "server_time": server_time(),
            "tick_rate": settings.TICK_RATE,
            "seq": seq,
            "limits": limits(max_players),
            "room_state": _players(room_state),
            "chat_history": [msgspec.Raw(item) for item in chat_history],
            "resume_token": resume_token,
        }
    )


def resumed(
    *,
    client_id: str,
    room_id: str,
    seq: int,
    room_state: Players,
    missed: list[bytes] | None,
    chat_history: list[bytes] | None,
    max_players: int,
    resume_token: str,
) -> str:
    """The answer to a Resume. Recovered (`missed`: the room's event frames after the client's
    last_seq, in order): the client applies them and is whole. Not recovered (`missed` None):
    `chat_history` and `room_state` replace what the client had, as after a Welcome."""
    frame: dict[str, Any] = {
        "type": "Resumed",
        "protocol": PROTOCOL_VERSION,
        "client_id": client_id,
        "room_id": room_id,
        "recovered": missed is not None,
        "server_time": server_time(),
        "tick_rate": settings.TICK_RATE,
        "seq": seq,
        "limits": limits(max_players),
        "room_state": _players(room_state),
        "missed": [msgspec.Raw(event) for event in missed or ()],
        "resume_token": resume_token,
    }
    if missed is None:
        frame["chat_history"] = [msgspec.Raw(item) for item in chat_history or ()]
    return encode(frame)


class Draft(NamedTuple):
    """A room event's frame before Redis numbers it: its text up to the `seq`, which comes last,
    so the script that numbers the event keeps the very frame every client gets (the room's
    event log, for resume) and the sender completes the same text (`numbered`)."""

    kind: str
    head: str  # the frame's JSON up to and including `"seq":`

    def numbered(self, seq: int) -> RoomEvent:
        return RoomEvent(self.kind, f"{self.head}{seq}}}")


def _draft(kind: str, frame: dict[str, Any]) -> Draft:
    text = encode({"type": kind, **frame})
    return Draft(kind, text[:-1] + ',"seq":')


def player_joined_draft(room_id: str, client_id: str, state: bytes) -> Draft:
    return _draft(
        "PlayerJoined", {"room_id": room_id, "client_id": client_id, "state": msgspec.Raw(state)}
    )


def player_joined(room_id: str, seq: int, client_id: str, state: bytes) -> RoomEvent:
    return player_joined_draft(room_id, client_id, state).numbered(seq)


def player_left_draft(room_id: str, client_id: str) -> Draft:
    return _draft("PlayerLeft", {"room_id": room_id, "client_id": client_id})


def player_left(room_id: str, seq: int, client_id: str) -> RoomEvent:
    return player_left_draft(room_id, client_id).numbered(seq)


def chat_draft(item: ChatItem, ref: str | None = None) -> Draft:
    """A Chat frame: the fields of a chat item, the sender's `id` as `ref`, and its seq."""
    frame: dict[str, Any] = msgspec.structs.asdict(item)
    if ref is not None:
        frame["ref"] = ref
    return _draft("Chat", frame)


def chat(item: ChatItem, seq: int, ref: str | None = None) -> RoomEvent:
    return chat_draft(item, ref).numbered(seq)


def state_update(room_id: str, tick: int, players: Players) -> str:
    frame = {
        "type": "StateUpdate",
        "room_id": room_id,
        "tick": tick,
        "server_time": server_time(),
        "players": _players(players),
    }
    return encode(frame)


_NULL = msgspec.Raw(b"null")


def pong(t: msgspec.Raw | msgspec.UnsetType) -> str:
    """The Ping's `t` (null if it had none) and the server's clock."""
    echo = _NULL if t is msgspec.UNSET else t
    return encode({"type": "Pong", "t": echo, "server_time": server_time()})


def error(code: str, message: str, ref: str | None = None, until: str | None = None) -> str:
    frame = {"type": "Error", "code": str(code), "message": message}
    if ref is not None:
        frame["ref"] = ref
    if until is not None:
        frame["until"] = until
    return encode(frame)


def token_expiring(at: str) -> str:
    """The socket's JWT expires at `at` (ISO 8601 UTC): send a Refresh before then, or the
    socket closes 4401."""
    return encode({"type": "TokenExpiring", "at": at})


def refreshed(at: str) -> str:
    """A Refresh was accepted: the socket's JWT now expires at `at` (ISO 8601 UTC)."""
    return encode({"type": "Refreshed", "at": at})


def room_closed(room_id: str, reason: str) -> str:
    """An operator closed the room: the player is out of it; its socket stays open."""
    return encode({"type": "RoomClosed", "room_id": room_id, "reason": reason})


def chat_redacted(room_id: str, message_id: str, seq: int) -> str:
    """An operator took a chat message down (`seq`: the Chat frame's; 0 if not known)."""
    return encode({"type": "ChatRedacted", "id": message_id, "room_id": room_id, "seq": seq})


# --- the frames described, for the published schema (rooms.protocol.schema) -----------------


class Limits(msgspec.Struct, forbid_unknown_fields=True):
    """The limits in force (seconds, messages per second, bytes)."""

    max_message_bytes: int
    update_rate: int
    chat_rate: int
    chat_period: float
    chat_burst: int
    idle_timeout: float
    max_players: int
    resume_grace: int


class PlayerEntry(msgspec.Struct, forbid_unknown_fields=True):
    """A player in a room and its latest state."""

    client_id: str
    state: PlayerState


class _Frame(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """A frame the server sends."""


class Welcome(_Frame, tag="Welcome"):
    """The answer to a Join: the room as of event `seq`, its latest chat, the limits."""

    protocol: str
    client_id: str
    room_id: str
    server_time: int
    tick_rate: int
    seq: int
    limits: Limits
    room_state: list[PlayerEntry]
    chat_history: list[ChatItem]
    resume_token: str


class PlayerJoined(_Frame, tag="PlayerJoined"):
    """Another player entered the room."""

    room_id: str
    client_id: str
    state: PlayerState
    seq: int


class PlayerLeft(_Frame, tag="PlayerLeft"):
    """A player left the room."""

    room_id: str
    client_id: str
    seq: int


class ChatFrame(_Frame, tag="Chat", kw_only=True):
    """A chat message, stored; `ref` is the sender's Chat `id`, if it had one."""

    id: str
    room_id: str
    client_id: str
    name: str
    message: str
    timestamp: str
    ref: str | None = None
    seq: int


class Resumed(_Frame, tag="Resumed"):
    """The answer to a Resume. `recovered`: `missed` holds every room event after the Resume's
    last_seq, in order, exactly once. Not recovered: the gap could not be filled (too old, or
    the room's events were lost); `room_state` and `chat_history` replace the client's world."""

    protocol: str
    client_id: str
    room_id: str
    recovered: bool
    server_time: int
    tick_rate: int
    seq: int
    limits: Limits
    room_state: list[PlayerEntry]
    missed: list[PlayerJoined | PlayerLeft | ChatFrame]
    resume_token: str
    chat_history: list[ChatItem] | msgspec.UnsetType = msgspec.UNSET  # only when not recovered


class StateUpdate(_Frame, tag="StateUpdate"):
    """The states that changed in this tick (`tick`: the same number in every process); every
    KEYFRAME_SECONDS, every present player's latest state (a keyframe)."""

    room_id: str
    tick: int
    server_time: int
    players: list[PlayerEntry]


class Pong(_Frame, tag="Pong"):
    """The answer to a Ping: its `t`, and the server's clock in Unix milliseconds."""

    t: Any
    server_time: int


class ErrorFrame(_Frame, tag="Error"):
    """A message was refused; `ref` is its `id`, if it had one; `until` (ISO 8601 UTC, for
    `muted` only) is when the refusal ends. The socket stays open."""

    code: ErrorCode
    message: str
    ref: str | None = None
    until: str | msgspec.UnsetType = msgspec.UNSET


class TokenExpiring(_Frame, tag="TokenExpiring"):
    """The socket's JWT expires at `at` (ISO 8601 UTC; sent 60 s before): send a Refresh with a
    new token of the same subject, or the socket closes 4401 then."""

    at: str


class Refreshed(_Frame, tag="Refreshed"):
    """The answer to a Refresh: the socket's JWT now expires at `at` (ISO 8601 UTC)."""

    at: str


class RoomClosed(_Frame, tag="RoomClosed"):
    """An operator closed the room: the player is no longer in it (no PlayerLeft follows for
    itself); the socket stays open, so it may Join another room."""

    room_id: str
    reason: str


class ChatRedacted(_Frame, tag="ChatRedacted"):
    """An operator took down the chat message `id` (the Chat frame numbered `seq`, or 0 when
    the server no longer knows its number): remove it from the chat view."""

    id: str
    room_id: str
    seq: int


ServerMessage = (
    Welcome
    | Resumed
    | PlayerJoined
    | PlayerLeft
    | ChatFrame
    | StateUpdate
    | Pong
    | ErrorFrame
    | RoomClosed
    | ChatRedacted
    | TokenExpiring
    | Refreshed
)
