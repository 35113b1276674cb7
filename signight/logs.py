"""Log formatting: one JSON object per line in production, text in development; tokens redacted;
and Throttled, for lines a client can cause at will (at most a few per interval).

Every record passes RedactTokens, so a `?token=` in a URL (uvicorn logs the request path) or a
bearer token in a message never reaches the log. Connection logs pass `extra={"client_id",
"room_id"}` and the JSON line carries them as fields.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import UTC, datetime
from typing import Any

import msgspec
import redis

_TOKEN = re.compile(r"((?:token|access_token)=)[^&\s\"']+|(Bearer\s+)[A-Za-z0-9._~+/=-]+", re.I)
_CONTEXT = ("client_id", "room_id")


def redact(text: str) -> str:
    return _TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "[redacted]", text)


class RedactTokens(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


class OneLineOutages(logging.Filter):
    """A library's traceback for Redis being unreachable (channels-redis logs one each second of
    an outage, from its receive loop) becomes one WARNING line with the error: an outage is an
    expected state, and rooms.watch reports it."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, redis.ConnectionError | redis.TimeoutError):
            record.msg = f"{record.getMessage()}: {type(error).__name__}: {error}"
            record.args, record.exc_info, record.exc_text = None, None, None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in _CONTEXT:
            value = getattr(record, key, None)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return msgspec.json.encode(entry).decode()


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = " ".join(
            f"{key}={getattr(record, key)}" for key in _CONTEXT if getattr(record, key, None)
        )
        return f"{text} [{context}]" if context else text


def config(*, level: str, fmt: str) -> dict[str, object]:
    """A LOGGING dict for settings.py; uvicorn's loggers go through the same handler."""
    handler = {
        "class": "logging.StreamHandler",
        "formatter": fmt,
        "filters": ["redact"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "redact": {"()": "signight.logs.RedactTokens"},
            "outages": {"()": "signight.logs.OneLineOutages"},
        },
        "formatters": {
            "json": {"()": "signight.logs.JsonFormatter"},
            "text": {
                "()": "signight.logs.TextFormatter",
                "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
            },
        },
        "handlers": {"console": handler},
        "root": {"handlers": ["console"], "level": level.upper()},
        "loggers": {
            "django": {"handlers": ["console"], "level": level.upper(), "propagate": False},
            "uvicorn": {"handlers": ["console"], "level": level.upper(), "propagate": False},
            # uvicorn logs every socket ("connection open", "[accepted]") without knowing the
            # player; the consumer logs connects and closes with client_id and room instead.
            "uvicorn.error": {
                "handlers": ["console"],
                "level": max_level(level, "warning"),
                "propagate": False,
            },
            "uvicorn.access": {"handlers": ["console"], "level": level.upper(), "propagate": False},
            "channels_redis.pubsub": {"filters": ["outages"]},
        },
    }


def max_level(level: str, floor: str) -> str:
    return max(level.upper(), floor.upper(), key=logging.getLevelName)


class Throttled:
    """At most `limit` lines per `interval` seconds through `logger`; the lines dropped are
    counted and the count rides on the next line that gets through."""

    def __init__(self, logger: logging.Logger, *, limit: int = 5, interval: float = 60.0) -> None:
        self._logger, self._limit, self._interval = logger, limit, interval
        self._window, self._count, self._dropped = 0.0, 0, 0

    def log(self, level: int, message: str, *args: Any) -> bool:
        """True if the line was written."""
        now = time.monotonic()
        if now - self._window >= self._interval:
            self._window, self._count = now, 0
        if self._count >= self._limit:
            self._dropped += 1
            return False
        self._count += 1
        if self._dropped:
            message, args = message + " (and %d more not logged)", (*args, self._dropped)
            self._dropped = 0
        self._logger.log(level, message, *args)
        return True
