"""Operators' actions on live rooms (issue 15), carried to every process through the channel layer:
kick and ban (the player's sockets close 4403, out of the room), unban, mute, close a room now,
redact a chat message; and the ban check at admission.

`act` sends an action to every live process and sums how many sockets each one reached (a process
that does not answer within ACT_TIMEOUT seconds counts none); `apply` is what a process does with
one. The durable side (the Sanction row, the room's is_closed, a chat's tombstone, the audit) is
the caller's (the moderation app), stored before the action is sent, so a process that starts or
reloads later finds it (`sanctions_current`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async

from rooms import admission, broadcast, presence, protocol, services
from rooms.hub import hub
from rooms.sanctions import Row, Sanctions, sanctions
from rooms.selectors import sanctions_in_force
from signight.auth import Identity, client_id_for
from signight.errors import BACKING_SERVICE_ERRORS

logger = logging.getLogger(__name__)

ACT_TIMEOUT = 2.0  # the "on every process within 2 s"
REFRESH_SECONDS = 5.0  # the sanctions are read from MongoDB again at most this often
LOAD_TIMEOUT = 2.0  # a connection waits this long for the first load, then is let in
REMOVED_REASON = "removed by an operator"

# --- sending ----------------------------------------------------------------------------------


@dataclass
class Answers:
    """What the processes answered: how many sockets the action reached, and (a census) their
    players: (room_id, client_id, seconds connected)."""

    reached: int = 0
    players: list[tuple[str, str, float]] = field(default_factory=list)

    def add(self, answer: dict[str, Any]) -> None:
        self.reached += int(answer.get("reached", 0))
        self.players.extend((str(r), str(c), float(age)) for r, c, age in answer.get("players", []))


async def act(action: dict[str, Any]) -> Answers:
    """Apply `action` on every live process (this one included) and gather their answers."""
    channels = await presence.node_channels()
    dead = await presence.nodes_dead()
    live = [channel for node, channel in channels.items() if node not in dead]
    answers = Answers()
    if hub.nodes.channel not in live:  # this process has no hub running: apply it here too
        answers.add(await apply(action))
    if not live:
        return answers
    reply = await broadcast.reply_channel()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ACT_TIMEOUT
    try:
        for channel in live:
            await broadcast.moderate(channel, action=action, reply=reply)
        for _ in live:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                answer = await asyncio.wait_for(broadcast.receive(reply), remaining)
            except TimeoutError:
                logger.warning("an operator's %s: not every process answered", action["action"])
                break
            answers.add(answer)
    finally:
        await broadcast.forget(reply)
    return answers


def kick(client_id: str, *, at: float) -> dict[str, Any]:
    return {"action": "kick", "client_id": client_id, "at": at}


def ban(subject: str, *, at: float, until: float | None) -> dict[str, Any]:
    """A token subject: its sockets are those of the client_id it plays as."""
    client_id = client_id_for(subject)
    return {"action": "ban", "subject": subject, "client_id": client_id, "at": at, "until": until}


def unban(subject: str) -> dict[str, Any]:
    return {"action": "unban", "subject": subject}


def mute(client_id: str, room_id: str, *, at: float, until: float) -> dict[str, Any]:
    return {"action": "mute", "client_id": client_id, "room_id": room_id, "at": at, "until": until}


def close_room(room_id: str, reason: str) -> dict[str, Any]:
    return {"action": "close_room", "room_id": room_id, "reason": reason}


def census() -> dict[str, Any]:
    """Not an action: each process lists its players and how long their sockets have been open
    (the admin's live rooms page)."""
    return {"action": "census"}


async def redact(room_id: str, message_id: str) -> dict[str, Any]:
    """Out of the room's recent history and event log in Redis first (a Welcome or Resume from
    now on does not show it), then the action that tells the room."""
    seq = await presence.chat_redact(room_id, message_id)
    return {"action": "redact", "room_id": room_id, "message_id": message_id, "seq": seq}


# --- applying, on each process ----------------------------------------------------------------


async def apply(action: dict[str, Any]) -> dict[str, Any]:
    """What this process does with an operator's action; its answer: how many of its sockets it
    reached (a census: its players instead)."""
    if action["action"] == "census":
        now = time.time()
        players = [
            (room_id, m.session.client_id, round(now - m.session.connected_at, 1))
            for room_id in list(hub.rooms)
            for m in hub.members(room_id)
        ]
        return {"reached": 0, "players": players}
    _remember(action)
    return {"reached": await _APPLY[action["action"]](action)}


async def _remove(action: dict[str, Any]) -> int:
    """Kick or ban: out of its room (PlayerLeft, not away: it cannot resume), socket closed 4403."""
    _note(sanctions, action)
    removed = 0
    for connection in hub.connections_of(action["client_id"], besides=None):
        try:
            await services.session_end(connection.session, away=False)
        except BACKING_SERVICE_ERRORS as exc:  # reconcile removes it; its resume is void
            logger.warning("a removed player's leave failed: %s", exc)
        finally:
            await connection.close_with(protocol.CloseCode.REMOVED, REMOVED_REASON)
        removed += 1
    return removed


async def _unban(action: dict[str, Any]) -> int:
    sanctions.unban(action["subject"])
    return 0


async def _mute(action: dict[str, Any]) -> int:
    _note(sanctions, action)
    room_id, client_id = action["room_id"], action["client_id"]
    return sum(1 for m in hub.members(room_id) if m.session.client_id == client_id)


async def _close_room(action: dict[str, Any]) -> int:
    return await services.room_close(room_id=action["room_id"], reason=action["reason"])


async def _redact(action: dict[str, Any]) -> int:
    room_id = action["room_id"]
    frame = protocol.chat_redacted(room_id, action["message_id"], action["seq"])
    told = 0
    for member in hub.members(room_id):
        if member.welcomed:  # a joiner's Welcome, read from Redis after the redaction, lacks it
            await member.session.send(frame)
            told += 1
    return told


_APPLY: dict[str, Callable[[dict[str, Any]], Awaitable[int]]] = {
    "kick": _remove,
    "ban": _remove,
    "unban": _unban,
    "mute": _mute,
    "close_room": _close_room,
    "redact": _redact,
}
hub.moderate = apply


def _note(into: Sanctions, action: dict[str, Any]) -> None:
    kind = action["action"]
    if kind == "unban":
        into.unban(action["subject"])
    elif kind in ("kick", "ban", "mute"):
        into.add(
            Row(
                kind=kind,
                subject=action["subject"] if kind == "ban" else action["client_id"],
                room_id=action.get("room_id", ""),
                created=action["at"],
                until=action.get("until"),
            )
        )


# --- the sanctions in force -------------------------------------------------------------------

# Actions applied lately: a load from MongoDB that began before one was stored must not undo it.
_recent: collections.deque[tuple[float, dict[str, Any]]] = collections.deque(maxlen=10_000)
_loading: asyncio.Task[None] | None = None


def _remember(action: dict[str, Any]) -> None:
    now = time.monotonic()
    _recent.append((now, action))
    while _recent and _recent[0][0] < now - 60:
        _recent.popleft()


async def _load() -> None:
    started = time.monotonic()
    rows = await database_sync_to_async(sanctions_in_force, thread_sensitive=False)()
    sanctions.replace(rows, started)
    for when, action in list(_recent):
        if when >= started - 1.0:
            _note(sanctions, action)


async def sanctions_current() -> Sanctions:
    """The sanctions in force: loaded from MongoDB on first use (a connection waits up to
    LOAD_TIMEOUT for it), then again in the background every REFRESH_SECONDS; if MongoDB does
    not answer, the last ones known (live actions keep them current meanwhile)."""
    global _loading
    loaded = sanctions.loaded_at
    if loaded is not None and time.monotonic() - loaded < REFRESH_SECONDS:
        return sanctions
    if _loading is None or _loading.done():
        _loading = asyncio.get_running_loop().create_task(_load())
        _loading.add_done_callback(_load_done)
    if loaded is None:
        try:
            await asyncio.wait_for(asyncio.shield(_loading), LOAD_TIMEOUT)
        except (TimeoutError, *BACKING_SERVICE_ERRORS):
            pass  # logged by _load_done; let the player in on what this process knows
    return sanctions


def _load_done(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.warning("the sanctions in force could not be read: %s", task.exception())


async def refuse_banned(identity: Identity | None) -> None:
    """Admission: a banned token subject's socket is refused with 4403."""
    if identity is None:
        return
    current = await sanctions_current()
    if current.banned(identity.subject):
        raise admission.Refused(protocol.CloseCode.REMOVED, "banned by an operator")
