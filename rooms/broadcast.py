"""The only door to the channel layer: group names, room events and tick batches across processes.

Each server process (a "node") owns one channel-layer channel and joins the group of every room
it holds players of; its hub (rooms.hub) delivers what arrives to the local sockets. A room
event costs one group_send; a tick costs one send per other node holding any shared room; each
is one Redis PUBLISH (signight.channel_layer).
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels.layers import get_channel_layer

from rooms.protocol import RoomEvent
from signight.loops import PerLoop
from signight.text import is_room_id

EVENT = "room.event"
STATES = "node.states"
REPLACE = "node.replace"
PROBE = "node.probe"
MODERATE = "node.moderate"
MODERATED = "node.moderated"


def group_name(room_id: str) -> str:
    """`room.<room_id>`; room ids are validated by the protocol, checked again here."""
    if not is_room_id(room_id):
        raise ValueError(f"invalid room id for a group name: {room_id!r}")
    return f"room.{room_id}"


# Publishes run concurrently (signight.channel_layer), each on a pooled connection: a burst of
# room events (a mass disconnect) queues here instead of opening hundreds of connections.
CONCURRENCY = 48
_gate = PerLoop(lambda: asyncio.Semaphore(CONCURRENCY)).get


def _layer() -> Any:
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("CHANNEL_LAYERS is not configured")
    return layer


async def node_channel() -> str:
    return await _layer().new_channel("node.")


async def subscribe(room_id: str, channel: str) -> None:
    async with _gate():
        await _layer().group_add(group_name(room_id), channel)


async def unsubscribe(room_id: str, channel: str) -> None:
    async with _gate():
        await _layer().group_discard(group_name(room_id), channel)


async def event(
    room_id: str,
    event: RoomEvent,
    *,
    seq: int,
    exclude: str | None = None,
    left: str | None = None,
    deadline: float | None = None,
) -> None:
    """A never-coalesced room event (PlayerJoined, PlayerLeft, Chat) to every node.

    `seq` is its number in the room (presence); a player whose Welcome snapshot already
    includes it does not get it again. `exclude` is a client not to deliver it to; `left`
    names a player who left the room. An event that arrives after `deadline` (Unix seconds)
    is dropped: a publish held up in a partition and run late cannot deliver a chat whose
    sender was told it had failed.
    """
    async with _gate():
        await _layer().group_send(
            group_name(room_id),
            {
                "type": EVENT,
                "room": room_id,
                "frame": event.text,
                "seq": seq,
                "exclude": exclude,
                "left": left,
                "kind": event.kind,
                "deadline": deadline,
            },
        )


async def states(
    channel: str, *, node_id: str, tick: int, rooms: dict[str, list[tuple[str, bytes]]]
) -> None:
    """Tick number `tick`'s changed states of this node's players, for every room that the node
    owning `channel` also holds: one message per other node per tick, however many rooms."""
    async with _gate():
        await _layer().send(
            channel, {"type": STATES, "node": node_id, "tick": tick, "rooms": rooms}
        )


async def replace(channel: str, *, client_id: str, connection_id: str) -> None:
    """Tell the node owning `channel` that its connection of this player has been replaced."""
    async with _gate():
        await _layer().send(
            channel, {"type": REPLACE, "client": client_id, "connection": connection_id}
        )


async def moderate(channel: str, *, action: dict[str, Any], reply: str) -> None:
    """An operator's action (rooms.moderation) to the node owning `channel`; it answers on
    `reply` (how many of its sockets the action reached, and what the action asked for)."""
    async with _gate():
        await _layer().send(channel, {"type": MODERATE, "action": action, "reply": reply})


async def moderated(reply: str, *, node_id: str, answer: dict[str, Any]) -> None:
    async with _gate():
        await _layer().send(reply, {**answer, "type": MODERATED, "node": node_id})


async def reply_channel() -> str:
    """A channel of this process's own for answers (read it with `receive`, then `forget`)."""
    return await _layer().new_channel("reply.")


async def forget(channel: str) -> None:
    await _layer().delete_channel(channel)


async def probe(channel: str) -> None:
    """A message from this node to its own channel: its arrival proves that the subscribed
    connection still reads (rooms.hub watches for it)."""
    await _layer().send(channel, {"type": PROBE})


async def reconnect_subscriber() -> None:
    """The probes stopped arriving: open the subscribed connection anew."""
    await _layer().reconnect_subscriber()


async def wake(channel: str | None) -> None:
    """A no-op message to this node's own channel: unblocks its receive loop at shutdown."""
    if channel is not None:
        await _layer().send(channel, {"type": "node.wake"})


async def receive(channel: str) -> dict[str, Any]:
    return await _layer().receive(channel)
