"""The channel layer (settings.CHANNEL_LAYERS): channels-redis' pub/sub layer, with publishes that
do not queue behind each other.

The stock layer sends every PUBLISH of a process under one lock, so they go one round trip at a
time; on a busy event loop a round trip lasts a loop iteration, and at 600 players room events
fell seconds behind (bench, 60x10: group_send took up to 4.2 s). A PUBLISH needs no lock: the
connection pool gives concurrent ones their own connections (rooms.broadcast bounds how many).
Subscribing and unsubscribing keep the lock. Tied to channels-redis 4.3's internals (pinned in
requirements.txt; tests/e2e covers cross-process delivery).

`reconnect_subscriber` drops the subscribed connection so that redis-py opens a new one and
subscribes it again to every channel and group: the hub calls it when its self-probe stops
arriving (a half-open connection reads "nothing" for ever). `delete_channel` unsubscribes a reply
channel once its answers are in (the stock layer does so only when a receive is cancelled).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis import pubsub
from channels_redis.utils import _wrap_close, decode_hosts


class _Shard(pubsub.RedisSingleShardConnection):
    async def publish(self, channel: str, message: bytes) -> None:
        self._ensure_redis()
        await self._redis.publish(channel, message)

    async def reconnect(self) -> None:
        connection = self._pubsub.connection if self._pubsub is not None else None
        if connection is not None:
            await connection.disconnect()  # the next read reconnects and resubscribes


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, **kwargs: Any) -> None:
        super().__init__(hosts, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]

    async def reconnect_subscriber(self) -> None:
        for shard in self._shards:
            await shard.reconnect()

    async def delete_channel(self, channel: str) -> None:
        if self.channels.pop(channel, None) is not None:
            await self._get_shard(channel).unsubscribe(channel)


class RedisPubSubChannelLayer(pubsub.RedisPubSubChannelLayer):
    async def reconnect_subscriber(self) -> None:
        """Open the subscribed connection anew (this loop's layer)."""
        await self._get_layer().reconnect_subscriber()

    async def delete_channel(self, channel: str) -> None:
        """Unsubscribe a channel of `new_channel` that this process no longer reads."""
        await self._get_layer().delete_channel(channel)

    def _get_layer(self) -> _LoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer
