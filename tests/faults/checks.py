"""What every fault test ends with, from the clients' side and from Redis: the room is the same set
of players in Redis, in every server's GET /rooms and in every player's view (no ghost: nobody
listed without a socket; no phantom removal: nobody with a socket missing, nor listed away as if
its socket had ended — issue 13: an away player is still listed); every chat a player
received is in /chat/history (no acknowledged chat lost); the sockets answer (none closed 1011);
and readiness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from http import HTTPStatus
from typing import Any

import redis

from rooms.presence import PREFIX
from tests.e2e.servers import ServerProcess
from tests.faults.players import RECOVERY, Player


def members(live: redis.Redis, room_id: str) -> list[str]:
    """Who Redis lists in the room (rooms.presence: the room's players hash)."""
    return sorted(key.decode() for key in live.hkeys(f"{PREFIX}room:{room_id}:players"))


def away(live: redis.Redis, room_id: str) -> list[str]:
    """Who Redis lists in the room as away: held by no connection (owner "~", rooms.scripts)."""
    players = live.hgetall(f"{PREFIX}room:{room_id}:players")
    return sorted(key.decode() for key, owner in players.items() if owner == b"~")


async def room_is(
    room_id: str,
    players: Sequence[Player],
    *,
    servers: Sequence[ServerProcess],
    live: redis.Redis,
    within: float = RECOVERY,
) -> None:
    """Within `within` s, Redis, each server's /rooms and each player agree: the room is exactly
    `players`, each held by its connection (none away); and no player was told anything
    contradicting what it knew."""
    names = {p.client_id: p.name or str(p.client_id) for p in players}

    def named(ids: Iterable[str]) -> list[str]:  # a ghost keeps its bare id
        return sorted(names.get(client_id, client_id) for client_id in ids)

    everyone = named(names)
    expected = {
        "redis": everyone,
        "away": [],
        "rooms": [len(everyone)] * len(servers),
        "views": {names[p.client_id]: everyone for p in players},
    }
    deadline = time.monotonic() + within
    while True:
        for player in players:
            await player.listen(0.05)
        seen = {
            "redis": named(await asyncio.to_thread(members, live, room_id)),
            "away": named(await asyncio.to_thread(away, live, room_id)),
            "rooms": [await asyncio.to_thread(s.player_count, room_id) for s in servers],
            "views": {names[p.client_id]: named(p.room) for p in players},
        }
        if seen == expected or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    assert seen == expected
    assert {names[p.client_id]: p.surprises for p in players} == {name: [] for name in everyone}


def history(server: ServerProcess, room_id: str) -> list[dict[str, Any]]:
    """The room's stored chat, oldest first (GET /chat/history, up to 200)."""
    status, body = server.get(f"/chat/history?room_id={room_id}&limit=200")
    assert status == 200, body
    return body["messages"]


async def chats_kept(server: ServerProcess, room_id: str, players: Sequence[Player]) -> None:
    """Every Chat any player received (so acknowledged to its sender) is stored."""
    stored = {m["id"] for m in await asyncio.to_thread(history, server, room_id)}
    received = {chat_id for p in players for chat_id in p.chats}
    assert received - stored == set()


async def answering(*players: Player) -> None:
    """Each socket is open and answers a Ping (closed by the server, it raises with the code)."""
    for number, player in enumerate(players):
        await player.ping(number)


async def ready(server: ServerProcess) -> int:
    """GET /health/ready's status."""
    status, _ = await asyncio.to_thread(server.get, "/health/ready")
    return status


async def ready_again(*servers: ServerProcess) -> float:
    """Poll readiness until every server answers 200; the time.monotonic() when they did."""
    deadline = time.monotonic() + RECOVERY
    for server in servers:
        while (status := await ready(server)) != HTTPStatus.OK:
            assert time.monotonic() < deadline, f"readiness still {status} after {RECOVERY} s"
            await asyncio.sleep(0.1)
    return time.monotonic()
