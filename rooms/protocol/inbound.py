"""The client's messages (Join, Update, Chat, Leave, Ping, Resume, Refresh): their msgspec schemas
and `parse`, which validates one frame and names what is wrong in the client's terms.

msgspec validates at C speed on the Update hot path; the slow paths (duplicate keys, nesting,
telling bad JSON from a bad shape) run only when a frame needs them.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import msgspec
from django.conf import settings

from rooms.protocol.codes import ErrorCode
from signight.errors import DomainError
from signight.text import NAME_MAX_CHARS, ROOM_ID_PATTERN, clean_text

COLOR_PATTERN = r"^#[0-9A-Fa-f]{6}\Z"
URL_PATTERN = r"^https?://[^\s\x00-\x1f\x7f-\x9f/$.?#][^\s\x00-\x1f\x7f-\x9f]*\Z"  # no controls
COORD_LIMIT = 1e6
CHAT_MAX_CHARS = 500
REF_MAX_CHARS = 64
RESUME_TOKEN_MAX_CHARS = 1024
TOKEN_MAX_CHARS = 8192  # a JWT (RS256 with many claims stays well under it)

# What a pattern means, as an error message says it (clients never see a regular expression).
PATTERN_WORDS = {
    ROOM_ID_PATTERN: "1–64 of A–Z a–z 0–9 _ -",  # noqa: RUF001 (en dash: a range, in words)
    COLOR_PATTERN: "#RRGGBB, six hex digits",
    URL_PATTERN: "an http:// or https:// URL without spaces or control characters",
}


class ProtocolError(DomainError):
    """A client message that cannot be parsed or validated; `ref` is its `id`, if it had one."""

    code = ErrorCode.INVALID_MESSAGE

    def __init__(self, message: str, *, code: str | None = None, ref: str | None = None) -> None:
        super().__init__(message, code=code)
        self.ref = ref


Coord = Annotated[float, msgspec.Meta(ge=-COORD_LIMIT, le=COORD_LIMIT)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=NAME_MAX_CHARS)]
Color = Annotated[str, msgspec.Meta(pattern=COLOR_PATTERN)]
Ref = Annotated[
    str,
    msgspec.Meta(
        max_length=REF_MAX_CHARS,
        description="Echoed as `ref` in an Error caused by this message; a Chat's idempotency key.",
    ),
]


class PlayerState(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, kw_only=True):
    """A player's state. `name` is the server's (the token's, else the Join's): a different one
    is ignored; `color` may change."""

    name: Name | None = None
    color: Color | None = None
    position: tuple[Coord, Coord, Coord]
    rotation: tuple[Coord, Coord, Coord, Coord]
    animation: Annotated[str, msgspec.Meta(min_length=1, max_length=32)] | None = None
    velocity: tuple[Coord, Coord, Coord] | None = None
    modelUrl: Annotated[str, msgspec.Meta(max_length=2048, pattern=URL_PATTERN)] | None = None  # noqa: N815 (wire name)

    def __post_init__(self) -> None:
        if self.name is not None:
            self.name = clean_text(self.name, "name")
        if self.animation is not None:
            self.animation = clean_text(self.animation, "animation")


class _Message(msgspec.Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    """Every client message may carry an `id`."""

    id: Ref | None = None


class Join(_Message, tag="Join"):
    """Enter a room (leaving the current one); answered with Welcome."""

    room_id: Annotated[str, msgspec.Meta(pattern=ROOM_ID_PATTERN)]
    name: Name
    color: Color = "#FFFFFF"
    state: PlayerState | None = None  # where it spawns (PlayerJoined shows it); else the origin

    def __post_init__(self) -> None:
        self.name = clean_text(self.name, "name")


class Update(_Message, tag="Update"):
    """The player's latest state; the room gets the latest one per tick (StateUpdate)."""

    state: PlayerState


class Chat(_Message, tag="Chat"):
    """A chat message to the room: 1-500 characters after trimming; \\r\\n becomes \\n."""

    message: str

    def __post_init__(self) -> None:
        text = self.message.replace("\r\n", "\n").replace("\r", "\n").strip()
        text = clean_text(text, "message", allow_newlines=True)
        if not 1 <= len(text) <= CHAT_MAX_CHARS:
            raise ValueError(f"message must be 1-{CHAT_MAX_CHARS} characters after trimming")
        self.message = text


class Leave(_Message, tag="Leave"):
    """Leave the room (the socket stays open)."""


class Resume(_Message, tag="Resume"):
    """The first message on a new socket after a drop: back into the room of `resume_token`
    (Welcome's or Resumed's), with every event after `last_seq` (the newest seq seen)."""

    resume_token: Annotated[str, msgspec.Meta(min_length=1, max_length=RESUME_TOKEN_MAX_CHARS)]
    last_seq: Annotated[int, msgspec.Meta(ge=0)]


class Refresh(_Message, tag="Refresh"):
    """A new JWT for this socket before its own expires (TokenExpiring warns): same subject, a
    later expiry; answered with Refreshed, or Error refresh_failed."""

    token: Annotated[str, msgspec.Meta(min_length=1, max_length=TOKEN_MAX_CHARS)]


class Ping(_Message, tag="Ping"):
    """Keepalive (every 15 s is enough); answered with Pong."""

    t: msgspec.Raw | msgspec.UnsetType = msgspec.UNSET  # any JSON value, echoed in the Pong


Message = Join | Update | Chat | Leave | Ping | Resume | Refresh
MESSAGE_TYPES = frozenset({"Join", "Update", "Chat", "Leave", "Ping", "Resume", "Refresh"})
_decoder = msgspec.json.Decoder(Message)


def parse(raw: str | bytes) -> Message:
    """Decode and validate one client frame, or raise ProtocolError naming what is wrong."""
    try:
        message = _decoder.decode(raw)
    except msgspec.ValidationError as exc:
        raise _classify(raw, _in_words(str(exc))) from None
    except msgspec.DecodeError:
        raise _classify(raw, None) from None
    except RecursionError:
        raise ProtocolError("message is nested too deeply") from None
    except UnicodeEncodeError:  # a lone surrogate in text (uvicorn refuses such frames first)
        raise ProtocolError("frame is not valid UTF-8", code=ErrorCode.INVALID_JSON) from None
    if type(message) is Update:
        # Fast path: an Update has exactly as many keys as fields set (type, state, position,
        # rotation and the optional ones present); if the frame has that many `":` it cannot
        # hide a duplicate key (msgspec keeps the last one silently).
        state = message.state
        expected = (
            4
            + (message.id is not None)
            + (state.name is not None)
            + (state.color is not None)
            + (state.animation is not None)
            + (state.velocity is not None)
            + (state.modelUrl is not None)
        )
        marker = '":' if isinstance(raw, str) else b'":'
        spaced = _SPACED_COLON if isinstance(raw, str) else _SPACED_COLON_BYTES
        if raw.count(marker) == expected and not spaced.search(raw):  # type: ignore[arg-type]  # str with str, bytes with bytes
            return message
    _check_structure(raw, message.id)
    return message


_SPACED_COLON = re.compile(r'"\s+:')  # a key the fast path's `":` count would miss
_SPACED_COLON_BYTES = re.compile(rb'"\s+:')
_REGEX_ERROR = re.compile(r"Expected `str` matching regex '(.*)' - at `\$\.?(.*)`\Z")


def _in_words(validation: str) -> str:
    """msgspec's message, with a regular expression replaced by what it means."""
    found = _REGEX_ERROR.match(validation)
    if found is None:
        return validation
    pattern = found.group(1).encode().decode("unicode_escape")
    words = PATTERN_WORDS.get(pattern)
    return f"{found.group(2) or 'value'}: {words}" if words else validation


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            raise ProtocolError(f"duplicate key {key[:40]!r}")
        seen.add(key)
    return dict(pairs)


def _check_structure(raw: str | bytes, ref: str | None) -> None:
    """Duplicate keys and nesting deeper than WS_MAX_JSON_DEPTH (a valid message's slow path)."""
    try:
        value = json.loads(raw, object_pairs_hook=_no_duplicates)
    except ProtocolError as exc:
        exc.ref = ref
        raise
    except (RecursionError, ValueError):
        raise ProtocolError("message is nested too deeply or malformed", ref=ref) from None
    limit = settings.WS_MAX_JSON_DEPTH
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, dict | list):
            if depth > limit:
                raise ProtocolError(f"message is nested deeper than {limit} levels", ref=ref)
            children = node.values() if isinstance(node, dict) else node
            stack.extend((child, depth + 1) for child in children)


def _ref_of(value: dict[str, Any]) -> str | None:
    ref = value.get("id")
    return ref if isinstance(ref, str) and len(ref) <= REF_MAX_CHARS else None


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
    ref = _ref_of(value)
    kind = value.get("type")
    if not isinstance(kind, str):
        return ProtocolError("`type` is required and must be a string", ref=ref)
    if kind not in MESSAGE_TYPES:
        return ProtocolError(
            f"unknown message type {kind[:40]!r}", code=ErrorCode.UNKNOWN_TYPE, ref=ref
        )
    return ProtocolError(validation, ref=ref)
