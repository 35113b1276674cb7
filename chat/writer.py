"""Storing chat: messages go to MongoDB in batches (BatchWriter), one batch in flight per event
loop (chat_message_store); withdrawing one that could not be delivered (chat_message_withdraw).

One ORM insert per message costs a thread hop and a round trip each, and on a busy server those
threads also wait for the GIL: at 600 players (60 chats/s) single inserts fell seconds behind
(bench, 60x10). The writer stores everything that queued while the previous batch was being
written in ONE bulk insert, so a lone message still goes at once and throughput grows with load.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings

from chat.models import ChatMessage
from signight.loops import PerLoop

MAX_BATCH = 500


class QueueFull(Exception):
    """More rows are waiting than the writer's limit (a slow or hung database)."""


class BatchWriter:
    def __init__(self, insert: Callable[[list[Any]], list[Any]], *, limit: int) -> None:
        self._insert = insert  # sync: stores the rows, returns them stored (in order)
        self._limit = limit
        self._queue: list[tuple[Any, asyncio.Future[Any]]] = []
        self._task: asyncio.Task[None] | None = None

    async def store(self, row: Any) -> Any:
        """Store `row` with whatever else is waiting; returns it stored, or raises the error
        its batch failed with; QueueFull at once when `limit` rows are already waiting."""
        if len(self._queue) >= self._limit:
            raise QueueFull(f"{self._limit} chat messages are waiting to be stored")
        loop = asyncio.get_running_loop()
        stored = loop.create_future()
        self._queue.append((row, stored))
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._run())
        return await stored

    async def _run(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                rows = await database_sync_to_async(self._insert, thread_sensitive=False)(
                    [row for row, _ in batch]
                )
            except Exception as exc:
                for _, stored in batch:
                    if not stored.done():
                        stored.set_exception(exc)
                continue
            for (_, stored), row in zip(batch, rows, strict=True):
                if not stored.done():
                    stored.set_result(row)


def chat_messages_store(rows: list[ChatMessage]) -> list[ChatMessage]:
    """Insert a batch of messages in one write; bulk_create sets their pk and created_at."""
    return ChatMessage.objects.bulk_create(rows)


_writer = PerLoop(lambda: BatchWriter(chat_messages_store, limit=settings.CHAT_WRITE_QUEUE_LIMIT))


async def chat_message_store(row: ChatMessage) -> ChatMessage:
    """Store one message (with whatever else is waiting); raises what its batch failed with."""
    stored: ChatMessage = await _writer.get().store(row)
    return stored


def _delete(pk: object) -> None:
    ChatMessage.objects.filter(pk=pk).delete()


async def chat_message_withdraw(row: ChatMessage) -> None:
    """Delete a stored message that could not be delivered (rooms.services: a chat is delivered
    or refused, never only stored)."""
    await database_sync_to_async(_delete, thread_sensitive=False)(row.pk)
