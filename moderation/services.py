"""The moderation actions (issue 15). Each one is checked, its durable side stored (a Sanction, the
room's is_closed, a chat's tombstone), carried live to every process (rooms.moderation), and
recorded in the audit trail (ModerationAction) with how many sockets it reached.

Sync, for the admin and the API views; the live part runs on the event loop (async_to_sync).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from http import HTTPStatus
from typing import Any

from asgiref.sync import async_to_sync
from bson import ObjectId
from bson.errors import InvalidId
from django.utils import timezone

from chat.models import ChatMessage
from moderation.models import ModerationAction
from rooms import moderation as live
from rooms.models import Room, Sanction
from rooms.sanctions import KICK_MEMORY_SECONDS
from signight.errors import BACKING_SERVICE_ERRORS, DomainError, Unavailable
from signight.text import iso_millis

logger = logging.getLogger(__name__)
Kind = ModerationAction.Kind


class NotFound(DomainError):
    code = "not_found"
    http_status = HTTPStatus.NOT_FOUND


class Outcome:
    """What an action did: its audit row and how many live sockets it reached."""

    def __init__(self, action: ModerationAction) -> None:
        self.action_id = str(action.pk)
        self.reached = action.reached


def _carry(build: Callable[[], Awaitable[dict[str, Any]]]) -> int:
    """Send the action built by `build` to every process; how many sockets it reached."""

    async def run() -> int:
        return (await live.act(await build())).reached

    return async_to_sync(run)()


def _record(
    actor: Any, kind: str, build: Callable[[], Awaitable[dict[str, Any]]], **fields: Any
) -> Outcome:
    """Carry the action live, then write its audit row. If Redis cannot carry it, the row says
    so (`parameters.live` = "failed") and the caller gets `unavailable`: the durable side holds
    (every process reads it within a few seconds), but no live socket was reached."""
    try:
        reached, failed = _carry(build), False
    except BACKING_SERVICE_ERRORS as exc:
        logger.warning("moderation %s stored but not carried live: %s", kind, exc)
        reached, failed = 0, True
    parameters = dict(fields.pop("parameters", {}))
    if failed:
        parameters["live"] = "failed"
    row = ModerationAction.objects.create(
        actor=actor if getattr(actor, "pk", None) is not None else None,
        actor_name=actor.get_username() if actor is not None else "",
        action=kind,
        reached=reached,
        parameters=parameters,
        **fields,
    )
    if failed:
        raise Unavailable("Stored and audited, but Redis did not carry it to live sockets.")
    return Outcome(row)


def _static(action: dict[str, Any]) -> Callable[[], Awaitable[dict[str, Any]]]:
    async def build() -> dict[str, Any]:
        return action

    return build


def kick(*, actor: Any, client_id: str, reason: str) -> Outcome:
    """Its sockets close 4403, it leaves its room (PlayerLeft), its resume tokens are void; it may
    connect and join again."""
    now = timezone.now()
    Sanction.objects.create(
        kind=Sanction.Kind.KICK,
        subject=client_id,
        until=now + timedelta(seconds=KICK_MEMORY_SECONDS),
    )
    action = live.kick(client_id, at=now.timestamp())
    return _record(actor, Kind.KICK, _static(action), client_id=client_id, reason=reason)


def ban(*, actor: Any, subject: str, until: datetime | None, reason: str) -> Outcome:
    """A token subject: its sockets close 4403, new ones are refused (4403), /chat/history 403s."""
    now = timezone.now()
    Sanction.objects.create(kind=Sanction.Kind.BAN, subject=subject, until=until)
    action = live.ban(subject, at=now.timestamp(), until=until.timestamp() if until else None)
    parameters = {"until": iso_millis(until) if until else None}
    return _record(
        actor,
        Kind.BAN,
        _static(action),
        subject=subject,
        client_id=action["client_id"],
        reason=reason,
        parameters=parameters,
    )


def unban(*, actor: Any, subject: str) -> Outcome:
    Sanction.objects.filter(kind=Sanction.Kind.BAN, subject=subject, lifted_at=None).update(
        lifted_at=timezone.now()
    )
    return _record(actor, Kind.UNBAN, _static(live.unban(subject)), subject=subject)


def mute(*, actor: Any, client_id: str, room_id: str, minutes: int, reason: str) -> Outcome:
    """Its Chats in the room get Error `muted` until then; through resumes and reconnects."""
    now = timezone.now()
    until = now + timedelta(minutes=minutes)
    Sanction.objects.create(
        kind=Sanction.Kind.MUTE, subject=client_id, room_id=room_id, until=until
    )
    action = live.mute(client_id, room_id, at=now.timestamp(), until=until.timestamp())
    return _record(
        actor,
        Kind.MUTE,
        _static(action),
        client_id=client_id,
        room_id=room_id,
        reason=reason,
        parameters={"minutes": minutes, "until": iso_millis(until)},
    )


def close_room(*, actor: Any, room_id: str, reason: str) -> Outcome:
    """Closed for new joins and resumes (room_closed); every player in it gets RoomClosed and is
    out of it, its socket left open."""
    updated = Room.objects.filter(room_id=room_id).update(is_closed=True)
    if not updated:
        raise NotFound(f"no room {room_id}")
    action = live.close_room(room_id, reason)
    return _record(actor, Kind.CLOSE_ROOM, _static(action), room_id=room_id, reason=reason)


def redact(*, actor: Any, message_id: str, reason: str) -> Outcome:
    """Gone from /chat/history, Welcome and Resumed; the room gets ChatRedacted; the row keeps a
    tombstone (who, when, why)."""
    try:
        pk = ObjectId(message_id)
    except (InvalidId, TypeError):
        raise NotFound(f"no chat message {message_id}") from None
    room_pk = ChatMessage.objects.filter(pk=pk).values_list("room", flat=True).first()
    if room_pk is None:
        raise NotFound(f"no chat message {message_id}")
    room_id = Room.objects.filter(pk=room_pk).values_list("room_id", flat=True).first()
    ChatMessage.objects.filter(pk=pk).update(
        redacted_at=timezone.now(),
        redacted_by=actor.get_username() if actor is not None else "",
        redaction_reason=reason,
    )

    async def build() -> dict[str, Any]:
        return await live.redact(room_id or "", message_id)

    return _record(
        actor, Kind.REDACT, build, message_id=message_id, room_id=room_id or "", reason=reason
    )


def connection_ages() -> dict[tuple[str, str], float]:
    """(room_id, client_id) -> seconds its socket has been open, as every live process answers
    (the live rooms page); empty if Redis cannot carry the question."""

    async def run() -> live.Answers:
        return await live.act(live.census())

    try:
        answers = async_to_sync(run)()
    except BACKING_SERVICE_ERRORS as exc:
        logger.warning("live rooms: no census of the processes: %s", exc)
        return {}
    return {(room_id, client_id): age for room_id, client_id, age in answers.players}
