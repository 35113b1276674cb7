"""Resume tokens: what Welcome and Resumed hand a client so that it can come back, on any
process, into its room. Signed with the server's key (django.core.signing, salted), so they
cannot be forged or altered; they name the player, the room, the session (spent by a newer
one: rooms.presence keeps the current session id) and the room's event epoch.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

from django.core import signing

from rooms.protocol import ErrorCode
from signight.errors import DomainError

SALT = "signight.resume"
MAX_AGE_SECONDS = 24 * 3600  # older tokens are refused (resume_failed): the client Joins


@dataclass(frozen=True, slots=True)
class ResumeClaims:
    client_id: str
    room_id: str
    sid: str  # the session it was issued to
    epoch: str  # the room's event epoch when it was issued
    name: str
    color: str
    authenticated: bool = False  # issued to a socket with a JWT: only a JWT may resume it
    issued_at: float = 0.0  # Unix seconds (a kick voids the tokens issued before it)


def new_session_id() -> str:
    return uuid.uuid4().hex


def resume_token_issue(claims: ResumeClaims) -> str:
    payload = {
        "c": claims.client_id,
        "r": claims.room_id,
        "s": claims.sid,
        "e": claims.epoch,
        "n": claims.name,
        "k": claims.color,
        "a": int(claims.authenticated),
        "t": round(claims.issued_at or time.time(), 3),
    }
    return signing.dumps(payload, salt=SALT, compress=True)


def resume_token_read(token: str) -> ResumeClaims:
    """The claims of a genuine token younger than a day, else DomainError resume_failed."""
    try:
        payload = signing.loads(token, salt=SALT, max_age=MAX_AGE_SECONDS)
        return ResumeClaims(
            client_id=str(payload["c"]),
            room_id=str(payload["r"]),
            sid=str(payload["s"]),
            epoch=str(payload["e"]),
            name=str(payload["n"]),
            color=str(payload["k"]),
            authenticated=bool(payload.get("a")),
            issued_at=float(payload.get("t", 0.0)),
        )
    except signing.SignatureExpired:
        raise _failed("the resume token is too old; send a Join") from None
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        raise _failed("the resume token is not valid; send a Join") from None


def _failed(message: str) -> DomainError:
    return DomainError(message, code=ErrorCode.RESUME_FAILED)
