"""Chat rows are written in batches: what queues while one batch is being stored goes in the
next, as ONE insert; a failed insert fails every message of its batch, and only those; past its
limit of waiting rows (a hung database) a row is refused at once."""

from __future__ import annotations

import asyncio
import threading

import pytest

from chat.writer import BatchWriter, QueueFull

# The writer hops to a thread through channels' database_sync_to_async, which closes stale
# Django connections around each call: allowed database access, though the inserts are stand-ins.
pytestmark = pytest.mark.django_db


class Store:
    """A stand-in insert (the batching is under test, not MongoDB): records each batch."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.first_may_finish = threading.Event()
        self.fail_next = False

    def insert(self, rows: list[str]) -> list[str]:
        self.batches.append(rows)
        if len(self.batches) == 1:
            self.first_may_finish.wait(5)
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("database is down")
        return [f"stored {row}" for row in rows]


async def test_a_lone_message_is_stored_at_once_and_later_ones_share_one_insert() -> None:
    store = Store()
    writer = BatchWriter(store.insert, limit=100)
    first = asyncio.create_task(writer.store("a"))
    await asyncio.sleep(0.05)  # "a" is being written
    rest = [asyncio.create_task(writer.store(row)) for row in ("b", "c", "d")]
    await asyncio.sleep(0.05)
    store.first_may_finish.set()
    assert await first == "stored a"
    assert await asyncio.gather(*rest) == ["stored b", "stored c", "stored d"]
    assert store.batches == [["a"], ["b", "c", "d"]]


async def test_a_failed_insert_fails_its_own_batch_only() -> None:
    store = Store()
    store.first_may_finish.set()
    writer = BatchWriter(store.insert, limit=100)
    assert await writer.store("ok") == "stored ok"
    store.fail_next = True
    with pytest.raises(ConnectionError):
        await writer.store("lost")
    assert await writer.store("after") == "stored after"


async def test_past_its_limit_of_waiting_rows_a_row_is_refused_at_once() -> None:
    store = Store()  # the first insert hangs until released
    writer = BatchWriter(store.insert, limit=2)
    first = asyncio.create_task(writer.store("a"))
    await asyncio.sleep(0.05)  # "a" is being written; what follows waits
    waiting = [asyncio.create_task(writer.store(row)) for row in ("b", "c")]
    await asyncio.sleep(0)
    with pytest.raises(QueueFull):
        await writer.store("d")
    store.first_may_finish.set()
    assert [await first, *await asyncio.gather(*waiting)] == ["stored a", "stored b", "stored c"]
    assert await writer.store("e") == "stored e", "room again once the queue drained"
