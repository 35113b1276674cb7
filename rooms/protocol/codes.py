"""The protocol's version, its error codes and its close codes, each with its meaning and (for
close codes) the normative client action. docs/protocol.md and the published JSON Schema carry
these tables; tests/rooms/test_protocol_docs.py holds all three together.
"""

from __future__ import annotations

import enum

PROTOCOL_VERSION = "1.1"


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
    RESUME_FAILED = "resume_failed"
    ROOM_NOT_FOUND = "room_not_found"
    MUTED = "muted"
    REFRESH_FAILED = "refresh_failed"


ERROR_MEANINGS: dict[ErrorCode, str] = {
    ErrorCode.INVALID_JSON: "the frame is not valid JSON (or not valid UTF-8)",
    ErrorCode.INVALID_MESSAGE: "valid JSON, but not a valid message; `message` names the field",
    ErrorCode.UNKNOWN_TYPE: "`type` names no client message",
    ErrorCode.NOT_IN_ROOM: "an Update, Chat or Leave before a Join",
    ErrorCode.ROOM_FULL: "the room has max_players players",
    ErrorCode.ROOM_CLOSED: "the room is closed by an operator",
    ErrorCode.CHAT_UNAVAILABLE: "the chat could not be stored or delivered; it was not sent",
    ErrorCode.UNAVAILABLE: "a backing service is unreachable; retry the message shortly",
    ErrorCode.RATE_LIMITED: "over a rate limit; the message was not acted on",
    ErrorCode.RESUME_FAILED: (
        "the resume token is invalid, too old, for another player, or already used by a newer "
        "connection; send a Join"
    ),
    ErrorCode.ROOM_NOT_FOUND: (
        "no such room, and this server creates none on Join (ROOM_AUTO_CREATE off)"
    ),
    ErrorCode.MUTED: (
        "an operator muted this player in this room; `until` (ISO 8601 UTC) is when it ends"
    ),
    ErrorCode.REFRESH_FAILED: (
        "the Refresh token is invalid, expired, for another subject, or expires no later than "
        "the socket's own; the socket keeps its token (and closes 4401 when that expires)"
    ),
}


class CloseAction(enum.StrEnum):
    """What a client does when the server closes its socket with a code."""

    RECONNECT = "reconnect"  # at once
    BACKOFF = "backoff"  # exponential with full jitter, 0.5 s doubling to 20 s
    RESUME = "resume"  # reconnect (with jitter) and send Resume first
    REFRESH_TOKEN = "refresh_token"  # get a new token, then reconnect
    FIX = "fix"  # do not retry unchanged
    STOP = "stop"  # do not reconnect until the user acts


class CloseCode(enum.IntEnum):
    NORMAL = 1000
    GOING_AWAY = 1001
    INVALID_PAYLOAD = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    INTERNAL_ERROR = 1011
    TRY_AGAIN_LATER = 1013
    UNAUTHORIZED = 4401
    REMOVED = 4403
    IDLE_TIMEOUT = 4408
    TOO_MANY_CONNECTIONS = 4409
    REPLACED = 4410
    RATE_LIMITED = 4429
    FORBIDDEN_ORIGIN = 4503


A = CloseAction
CLOSE_CODES: dict[CloseCode, tuple[str, CloseAction]] = {
    CloseCode.NORMAL: ("normal closure", A.STOP),
    CloseCode.GOING_AWAY: ("the server is shutting down (a deploy's drain)", A.RESUME),
    CloseCode.INVALID_PAYLOAD: ("a text frame that is not UTF-8", A.FIX),
    CloseCode.POLICY_VIOLATION: ("the client does not read its frames", A.BACKOFF),
    CloseCode.MESSAGE_TOO_BIG: ("a frame larger than max_message_bytes", A.FIX),
    CloseCode.INTERNAL_ERROR: ("a server bug", A.BACKOFF),
    CloseCode.TRY_AGAIN_LATER: ("a backing service is unreachable for too long", A.BACKOFF),
    CloseCode.UNAUTHORIZED: (
        "the token is missing, invalid or expired (also: it expired on an open socket)",
        A.REFRESH_TOKEN,
    ),
    CloseCode.REMOVED: ("removed by an operator (kicked or banned)", A.STOP),
    CloseCode.IDLE_TIMEOUT: ("no message for idle_timeout seconds", A.STOP),
    CloseCode.TOO_MANY_CONNECTIONS: ("too many sockets from one address", A.BACKOFF),
    CloseCode.REPLACED: ("the same player connected again, on any process", A.STOP),
    CloseCode.RATE_LIMITED: ("kept flooding past the rate limits", A.BACKOFF),
    CloseCode.FORBIDDEN_ORIGIN: ("the page's origin is not allowed", A.STOP),
}
