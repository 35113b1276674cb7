"""Chat in a room: a Chat is stored in MongoDB (chat.writer), then numbered and kept in the room's
recent history in Redis and broadcast to the room, sender included (its acknowledgement) — or,
if that cannot happen in time, withdrawn and refused: never only stored. Also the Welcome's
history (Redis' recent list, seeded from MongoDB).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from bson import ObjectId
from channels.db import database_sync_to_async
from tenacity import (
    AsyncRetrying,
    retry_if_exception_type,
    stop_after_delay,
    wait_random_exponential,
)

from chat.models import ChatMessage
from chat.selectors import chat_latest
from chat.writer import QueueFull, chat_message_store, chat_message_withdraw
from rooms import broadcast, presence, protocol
from rooms.sanctions import sanctions
from rooms.session import PlayerSession
from signight import metrics
from signight.errors import BACKING_SERVICE_ERRORS, DomainError

logger = logging.getLogger(__name__)
E = protocol.ErrorCode


def _item(row: ChatMessage, room_id: str) -> protocol.ChatItem:
    return protocol.chat_item(
        id=str(row.pk),
        room_id=room_id,
        client_id=row.client_id,
        name=row.name,
        message=row.message,
        created_at=row.created_at,
    )


async def chat_history(room_id: str, recent: list[bytes] | None) -> list[bytes]:
    """The Welcome's history: from Redis, or from MongoDB (then cached) where Redis has none."""
    if recent is not None:
        return recent
    rows = await database_sync_to_async(chat_latest, thread_sensitive=False)(
        room_id=room_id, limit=presence.CHAT_RECENT
    )
    encoded = [protocol.encode_item(_item(row, room_id)) for row in rows]
    await presence.chat_fill(room_id, encoded)
    return encoded


OnError = Callable[[Exception, str | None], Awaitable[None]]


def chat_post(*, session: PlayerSession, message: str, ref: str | None, on_error: OnError) -> None:
    """Queue a chat: stored, then broadcast to the whole room, sender included (its
    acknowledgement, matched by `ref`: the Chat's `id`), after this player's earlier chats and
    beside its Updates. A Chat whose `id` this player already sent is not stored again. A
    muted player's Chat is refused (Error `muted`, with when the mute ends)."""
    room_id = session.require_room("chatting")
    sanctions.check_chat(room_id, session.client_id)
    row = ChatMessage(
        pk=ObjectId(),  # known before the insert: a refused one can be purged if it lands late
        room_id=session.room_pk,
        client_id=session.client_id,
        name=session.name or "",
        message=message,
    )

    async def post() -> None:
        try:
            if ref is None:
                await _chat_send(room_id, row, None)
            else:
                await _chat_send_once(session, room_id, row, ref)
        except Exception as exc:
            await on_error(exc, ref)

    session.chats.submit(post)


REF_POLL_SECONDS = 0.25


async def _chat_send_once(session: PlayerSession, room_id: str, row: ChatMessage, ref: str) -> None:
    """A Chat with an `id`: sent if it is the first with that `id` from this player; a retry of
    one delivered is answered with the same Chat frame (to the sender only); a retry of one
    still being delivered waits for it."""
    give_up = time.monotonic() + presence.CHAT_REF_PENDING_SECONDS + 1.0
    while True:
        try:
            earlier = await presence.chat_ref_claim(session.client_id, ref)
        except BACKING_SERVICE_ERRORS:
            raise _unavailable() from None
        if earlier is None:
            break
        if earlier.seq:
            item = protocol.decode_item(earlier.item)
            await session.send(protocol.chat(item, earlier.seq, ref).text)
            return
        if time.monotonic() > give_up:
            raise _unavailable()
        await asyncio.sleep(REF_POLL_SECONDS)
    try:
        await _chat_send(room_id, row, ref)
    except BaseException:
        with contextlib.suppress(*BACKING_SERVICE_ERRORS):
            await presence.chat_ref_release(session.client_id, ref)
        raise


# A stored chat is delivered within this many seconds or refused (withdrawn from MongoDB): its
# seq and its broadcast are retried through a Redis outage or stall until then, and both carry
# the deadline, so neither can take effect later (presence.chat_append, broadcast.event).
CHAT_DELIVERY_SECONDS = 5.0
# The sender counts a broadcast as delivered only if it returned this long before the deadline:
# the time for every process to receive it, and their clocks' disagreement.
CHAT_DELIVERY_MARGIN = 0.5


class _Late(Exception):
    """A step of a chat's delivery finished too near its deadline to count."""


def _unavailable() -> DomainError:
    return DomainError(
        "chat is unavailable right now; the message was not sent", code=E.CHAT_UNAVAILABLE
    )


async def _chat_send(room_id: str, row: ChatMessage, ref: str | None) -> None:
    """Stored, then delivered: a chat is acknowledged (its echo) only when both happened; one
    that was stored but cannot be delivered in time is withdrawn from MongoDB and refused."""
    try:
        stored = await chat_message_store(row)
    except Exception as exc:
        if isinstance(exc, QueueFull):
            logger.warning("chat refused in room %s: %s", room_id, exc)
        else:
            logger.warning("chat persistence failed in room %s: %s", room_id, exc)
            _purge_later(row)
        raise _unavailable() from None
    metrics.CHAT_PERSISTED.inc()
    item = _item(stored, room_id)
    encoded = protocol.encode_item(item)
    draft = protocol.chat_draft(item, ref)
    deadline = time.time() + CHAT_DELIVERY_SECONDS
    seq = 0
    try:
        async for attempt in _delivery_attempts():
            with attempt:
                if not seq:
                    seq = await presence.chat_append(
                        room_id,
                        item.id,
                        encoded,
                        draft=draft,
                        deadline=deadline,
                        client_id=row.client_id,
                        ref=ref,
                    )
                    if not seq:
                        raise _Late("its seq came after the deadline")
                await broadcast.event(room_id, draft.numbered(seq), seq=seq, deadline=deadline)
                if time.time() > deadline - CHAT_DELIVERY_MARGIN:
                    raise _Late("its broadcast returned too near the deadline")
    except (*BACKING_SERVICE_ERRORS, _Late) as exc:
        logger.warning(
            "chat %s in room %s stored but not delivered (%s): withdrawn", item.id, room_id, exc
        )
        await _chat_withdraw(room_id, stored, encoded if seq else None, seq)
        raise _unavailable() from None


def _delivery_attempts() -> AsyncRetrying:
    return AsyncRetrying(
        retry=retry_if_exception_type(BACKING_SERVICE_ERRORS),
        wait=wait_random_exponential(multiplier=0.1, max=1.0),
        stop=stop_after_delay(CHAT_DELIVERY_SECONDS - CHAT_DELIVERY_MARGIN),
        reraise=True,
    )


# A withdrawn chat's entry in the room's recent history is removed in the background, retried
# this long while Redis is unreachable (a Welcome must not show a chat nobody was sent).
CHAT_WITHDRAW_SECONDS = 60.0
_withdrawals: set[asyncio.Task[None]] = set()


# An insert that timed out may still have been sent, and run when the network delivers it: the
# refused row is deleted once MongoDB answers, and again for a while after, to catch it landing.
CHAT_PURGE_SECONDS = 300.0
CHAT_PURGE_AFTER_SECONDS = 10.0


def _purge_later(row: ChatMessage) -> None:
    task = asyncio.create_task(_purge(row))
    _withdrawals.add(task)
    task.add_done_callback(_withdrawals.discard)


async def _purge(row: ChatMessage) -> None:
    give_up = time.monotonic() + CHAT_PURGE_SECONDS
    answered: float | None = None
    while time.monotonic() < give_up:
        try:
            await chat_message_withdraw(row)
            answered = answered or time.monotonic()
        except BACKING_SERVICE_ERRORS:
            pass
        if answered is not None and time.monotonic() - answered > CHAT_PURGE_AFTER_SECONDS:
            return
        await asyncio.sleep(1.0)
    logger.warning("a refused chat %s may be in room history: MongoDB did not answer", row.pk)


async def _chat_withdraw(
    room_id: str, stored: ChatMessage, encoded: bytes | None, seq: int
) -> None:
    try:
        await chat_message_withdraw(stored)
    except BACKING_SERVICE_ERRORS:
        logger.exception("withdrawing undelivered chat %s in room %s failed", stored.pk, room_id)
    if encoded is not None:
        task = asyncio.create_task(_recent_withdraw(room_id, encoded, seq))
        _withdrawals.add(task)
        task.add_done_callback(_withdrawals.discard)


async def _recent_withdraw(room_id: str, encoded: bytes, seq: int) -> None:
    try:
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(BACKING_SERVICE_ERRORS),
            wait=wait_random_exponential(multiplier=0.5, max=5.0),
            stop=stop_after_delay(CHAT_WITHDRAW_SECONDS),
            reraise=True,
        ):
            with attempt:
                await presence.chat_withdraw(room_id, encoded, seq)
    except BACKING_SERVICE_ERRORS:
        logger.exception("an undelivered chat stays in room %s's recent history", room_id)
