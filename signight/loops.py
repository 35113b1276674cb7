"""PerLoop: one object per running event loop, made on first use.

asyncio primitives and redis.asyncio clients belong to the loop they were made on; tests run
several loops in one process. Used for the Redis client, the channel-layer gate and chat writer.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class PerLoop(Generic[T]):
    def __init__(self, factory: Callable[[], T]) -> None:
        self._factory = factory
        self._objects: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, T] = (
            weakref.WeakKeyDictionary()
        )

    def get(self) -> T:
        loop = asyncio.get_running_loop()
        value = self._objects.get(loop)
        if value is None:
            value = self._objects[loop] = self._factory()
        return value

    def clear(self) -> None:
        self._objects.clear()
