"""The wire contract of the game socket: inbound message schemas, outbound frame builders,
error codes and close codes. docs/protocol.md documents exactly what is here.

Inbound messages are validated with msgspec (C speed on the Update hot path); outbound frames
are encoded with msgspec too, so nothing the server sends can be invalid JSON.
"""

from __future__ import annotations

import enum
import json
import re
from datetime import datetime
from typing import Annotated, Any, NamedTuple

import msgspec
from django.conf import settings

from signight.errors import DomainError
from signight.text import NAME_MAX_CHARS, ROOM_ID_PATTERN, clean_text, iso_millis

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}\Z"
URL_PATTERN = r"^https?://[^\s/$.?#][^\s]*\Z"
COORD_LIMIT = 1e6
CHAT_MAX_CHARS = 500


class ErrorCode(enum.StrEnum):
    INVALID_JSON = "invalid_json"
    INVALID_MESSAGE = "invalid_message"
    UNKNOWN_TYPE = "unknown_type"
    NOT_IN_ROOM = "not_in_room"
    ROOM_FULL = "room_full"
    ROOM_CLOSED = "room_closed"
    CHAT_UNAVAILABLE = "chat_unavailable"
    UNAVAILABLE = "unavailable"
    RATE_LIMITED = "rate_limited"


class CloseCode(enum.IntEnum):
    """4000-4499: the client may reconnect; 4500-4999: it should not (without a change)."""

    NORMAL = 1000
    GOING_AWAY = 1001  # server shutting down or idle timeout: reconnect
    POLICY_VIOLATION = 1008  # e.g. a client that does not read its frames
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013  # a backing service (Redis) is unreachable right now
    UNAUTHORIZED = 4401  # missing/invalid token: reconnect with a fresh one
    TOO_MANY_CONNECTIONS = 4409  # too many sockets from one address: close one, then retry
    REPLACED = 4410  # the same player (token subject) connected again, on any process
    RATE_LIMITED = 4429  # kept flooding past WS_FLOOD_CLOSE_SECONDS: back off, then retry
    FORBIDDEN_ORIGIN = 4503  # page origin not allowed: reconnecting will not help


class ProtocolError(DomainError):
    """A client message that cannot be parsed or validated."""

    code = ErrorCode.INVALID_MESSAGE


# --- Inbound -------------------------------------------------------------------------------

Coord = Annotated[float, msgspec.Meta(ge=-COORD_LIMIT, le=COORD_LIMIT)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_CHARS)]
Color = Annotated[str, msgspec.Meta(pattern=COLOR_PATTERN)]


class PlayerState(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name
    color: Color
    position: tuple[Coord, Coord, Coord]
    rotation: tuple[Coord, Coord, Coord, Coord]
    animation: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    velocity: tuple[Coord, Coord, Coord] | None = None
    modelUrl: Annotated[str, msgspec.Meta(max_length=2048, pattern=URL_PATTERN)] | None = None  # noqa: N815 (wire name)

    def __post_init__(self) -> None:
        self.name = clean_text(self.name, "name")


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True):
    pass


class Join(_Message, tag="Join"):
    room_id: Annotated[str, msgspec.Meta(pattern=ROOM_ID_PATTERN)]
    name: Name
    color: Color = "#FFFFFF"

    def __post_init__(self) -> None:
        self.name = clean_text(self.name, "name")


class Update(_Message, tag="Update"):
    state: PlayerState


class Chat(_Message, tag="Chat"):
    message: str

    def __post_init__(self) -> None:
        text = clean_text(self.message.strip(), "message", allow_newlines=True)
        if not 1 <= len(text) <= CHAT_MAX_CHARS:
            raise ValueError(f"message must be 1-{CHAT_MAX_CHARS} characters after trimming")
        self.message = text


class Leave(_Message, tag="Leave"):
    pass


class Ping(_Message, tag="Ping"):
    t: msgspec.Raw = msgspec.Raw(b"null")


Message = Join | Update | Chat | Leave | Ping
MESSAGE_TYPES = frozenset({"Join", "Update", "Chat", "Leave", "Ping"})
_decoder = msgspec.json.Decoder(Message)


def parse(raw: str | bytes) -> Message:
    """Decode and validate one client frame, or raise ProtocolError naming what is wrong."""
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _classify(raw, str(exc)) from None
    except msgspec.DecodeError:
        raise _classify(raw, None) from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None
    except UnicodeEncodeError:  # a lone surrogate in text (uvicorn refuses such frames first)
        raise ProtocolError("frame is not valid UTF-8", code=ErrorCode.INVALID_JSON) from None
    if type(message) is Update:
        # Fast path: an Update has exactly 2 + len(state) keys; if the frame has that many
        # `":` it cannot hide a duplicate key (msgspec keeps the last one silently).
        state = message.state
        expected = 6 + sum(x is not None for x in (state.animation, state.velocity, state.modelUrl))
        marker = '":' if isinstance(raw, str) else b'":'
        spaced = _SPACED_COLON if isinstance(raw, str) else _SPACED_COLON_BYTES
        if raw.count(marker) == expected and not spaced.search(raw):  # type: ignore[arg-type]  # str with str, bytes with bytes
            return message
    _check_structure(raw)
    return message


_SPACED_COLON = re.compile(r'"\s+:')  # a key the fast path's `":` count would miss
_SPACED_COLON_BYTES = re.compile(rb'"\s+:')


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ProtocolError(f"duplicate key {key[:40]!r}")
        seen.add(key)
    return dict(pairs)


def _check_structure(raw: str | bytes) -> None:
    """Duplicate keys and nesting deeper than WS_MAX_JSON_DEPTH (a valid message's slow path)."""
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except (RecursionError, ValueError):
        raise ProtocolError("message is nested too deeply or malformed") from None
    limit = settings.WS_MAX_JSON_DEPTH
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                raise ProtocolError(f"message is nested deeper than {limit} levels")
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _classify(raw: str | bytes, validation: str | None) -> ProtocolError:
    """Slow path, errors only: tell bad JSON, a wrong shape and an unknown type apart."""
    try:
        value = json.loads(raw)
    except RecursionError:
        return ProtocolError("message is nested too deeply")
    except (ValueError, UnicodeDecodeError):
        return ProtocolError("frame is not valid JSON", code=ErrorCode.INVALID_JSON)
    if validation is None:  # stdlib accepts what msgspec refuses: NaN, Infinity, lone surrogates
        return ProtocolError("frame contains NaN, Infinity or an invalid unicode escape")
    if not isinstance(value, dict):
        return ProtocolError("message must be a JSON object")
    kind = value.get("type")
    if not isinstance(kind, str):
        return ProtocolError("`type` is required and must be a string")
    if kind not in MESSAGE_TYPES:
        return ProtocolError(f"unknown message type {kind[:40]!r}", code=ErrorCode.UNKNOWN_TYPE)
    return ProtocolError(validation)


# --- Outbound ------------------------------------------------------------------------------

_encoder = msgspec.json.Encoder()
Players = list[tuple[str, bytes]]


def encode(frame: dict[str, Any]) -> str:
    return _encoder.encode(frame).decode()


def _players(players: Players) -> list[dict[str, Any]]:
    return [{"client_id": cid, "state": msgspec.Raw(state)} for cid, state in players]


def state_json(state: PlayerState) -> bytes:
    return _encoder.encode(state)


def initial_state(name: str, color: str) -> PlayerState:
    return PlayerState(
        name=name, color=color, position=(0.0, 0.0, 0.0), rotation=(1.0, 0.0, 0.0, 0.0)
    )


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


def welcome(*, client_id: str, room_id: str, room_state: Players, chat_history: list[bytes]) -> str:
    """`chat_history`: Chat items already encoded (encode_item), oldest first."""
    return encode(
        {
            "type": "Welcome",
            "client_id": client_id,
            "room_id": room_id,
            "room_state": _players(room_state),
            "chat_history": [msgspec.Raw(item) for item in chat_history],
        }
    )


def player_joined(client_id: str, state: bytes) -> RoomEvent:
    return RoomEvent(
        "PlayerJoined",
        encode({"type": "PlayerJoined", "client_id": client_id, "state": msgspec.Raw(state)}),
    )


def player_left(client_id: str) -> RoomEvent:
    return RoomEvent("PlayerLeft", encode({"type": "PlayerLeft", "client_id": client_id}))


def chat(item: ChatItem) -> RoomEvent:
    """A Chat frame: the fields of a chat item, plus its type."""
    return RoomEvent("Chat", encode({"type": "Chat", **msgspec.structs.asdict(item)}))


def state_update(players: Players) -> str:
    return encode({"type": "StateUpdate", "players": _players(players)})


def pong(t: msgspec.Raw) -> str:
    return encode({"type": "Pong", "t": t})


def error(code: str, message: str) -> str:
    return encode({"type": "Error", "code": str(code), "message": message})
