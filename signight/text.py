"""Text rules that the apps share: the room id, display names, user text and timestamps.

Defined once here (the base layer) so the socket protocol, the models, the channel layer's group
names, the token's name and the HTTP API apply the same rule.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

# \Z, not $: `$` also matches before a trailing newline ("lobby\n" would pass).
ROOM_ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}\Z"
ROOM_ID_MAX_CHARS = 64
NAME_MAX_CHARS = 32

_ROOM_ID = re.compile(ROOM_ID_PATTERN)
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # Unicode category Cc, exactly
_CONTROL_BUT_NEWLINE = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f]")


def is_room_id(value: str) -> bool:
    return _ROOM_ID.match(value) is not None


def clean_text(value: str, field: str, *, allow_newlines: bool = False) -> str:
    """NFC-normalise; refuse control characters (they break chat logs and name plates)."""
    if not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    if (_CONTROL_BUT_NEWLINE if allow_newlines else _CONTROL).search(value):
        raise ValueError(f"{field} contains a control character")
    if not value.strip():
        raise ValueError(f"{field} must not be blank")
    return value


def clean_name(value: str) -> str:
    """A display name from elsewhere (a token) under the Join rules; raises ValueError."""
    value = clean_text(value, "name")
    if not 1 <= len(value) <= NAME_MAX_CHARS:
        raise ValueError(f"name must be 1-{NAME_MAX_CHARS} characters")
    return value


def iso_millis(moment: datetime) -> str:
    """UTC, ISO 8601 with milliseconds and a Z (MongoDB keeps milliseconds)."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_unix(seconds: float) -> str:
    """Unix seconds as the wire's times are written (iso_millis)."""
    return iso_millis(datetime.fromtimestamp(seconds, tz=UTC))
