"""One player, one place, cluster-wide (issue 11): the same token connecting on another process
replaces the older connection (4410), and nothing the older copy or its process does afterwards
— the end of its socket (which leaves a player away, issue 13), its ticks, its reaping after a
crash (which leaves that process's players away) — removes the newer copy, overwrites it or
leaves it away. The grace is short, so a newer copy wrongly left away would be seen leaving.

The older copy's process is paused (SIGSTOP) while the newer copy joins, so the newer copy takes
the room entry over before the older one can leave: the order a crash, a stall or a drain gives.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import jwt
import pytest
from websockets.exceptions import ConnectionClosed

from tests import frames
from tests.clients import STATE, LiveSocket
from tests.e2e.servers import ServerProcess
from tests.faults.checks import away, members
from tests.faults.cluster import TTL
from tests.security.sockets import JWT_SECRET, claims

pytestmark = pytest.mark.e2e


GRACE = 2  # RESUME_GRACE_SECONDS: a player left away leaves (PlayerLeft) within it + 1 s


@pytest.fixture
def servers(redis_server, cluster) -> tuple[ServerProcess, ServerProcess]:
    # PRESENCE_TTL_SECONDS: TTL (3): a dead process is reaped within TTL + 5 s
    old, new = cluster.start(
        2, REDIS_URL=redis_server.url, JWT_SECRET=JWT_SECRET, RESUME_GRACE_SECONDS=str(GRACE)
    )
    return old, new


def token(subject: str) -> str:
    return jwt.encode(claims(sub=subject, name=subject.title()), JWT_SECRET, algorithm="HS256")


async def close_code(client: LiveSocket, timeout: float) -> int | None:
    try:
        async with asyncio.timeout(timeout):
            while True:
                await client.ws.recv()
    except ConnectionClosed as closed:
        return closed.rcvd.code if closed.rcvd else None


async def frames_for(client: LiveSocket, seconds: float) -> list[dict[str, Any]]:
    """Everything the client receives in the next `seconds`."""
    frames: list[dict[str, Any]] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while (left := deadline - loop.time()) > 0:
        try:
            frames.append(await client.recv(timeout=left))
        except TimeoutError:
            break
    return frames


async def player_on_paused_process_then_taken_over(
    servers: tuple[ServerProcess, ServerProcess], room_id: str, live_players: Any
) -> tuple[LiveSocket, LiveSocket, LiveSocket, str]:
    """A watcher and the new copy on `new`; the old copy on `old`, which is paused (SIGSTOP)
    while the new copy connects and joins. Returns (watcher, old copy, new copy, client_id)."""
    old, new = servers
    watcher = await live_players.connect(new.ws_url)
    await watcher.join(room_id, "Watcher")
    first = await live_players.connect(f"{old.ws_url}?token={token('pat')}")
    await first.join(room_id, "Ignored")  # the token names the player
    player = first.client_id
    await watcher.recv_type("PlayerJoined", client_id=player)

    old.signal(signal.SIGSTOP)
    second = await live_players.connect(f"{new.ws_url}?token={token('pat')}")
    welcome = await second.join(room_id, "Pat")
    assert second.client_id == player, "the same token subject is the same player"
    assert sorted(p["client_id"] for p in welcome["room_state"]) == sorted(
        [player, watcher.client_id]
    ), "the player is listed once"
    return watcher, first, second, player


async def test_the_older_connection_on_another_process_is_replaced_and_its_end_takes_nothing(
    servers, live, room_id, live_players
) -> None:
    old, new = servers
    watcher, first, second, player = await player_on_paused_process_then_taken_over(
        servers, room_id, live_players
    )
    old.signal(signal.SIGCONT)
    assert await close_code(first, timeout=5) == 4410

    await second.send({"type": "Update", "state": {**STATE, "position": [9, 0, 0]}})
    seen = await frames_for(watcher, GRACE + 2.0)
    assert not [f for f in seen if f["type"] in ("PlayerLeft", "PlayerJoined")], (
        "the others saw the same player all along: no PlayerLeft, no second PlayerJoined"
    )
    states = [p for f in seen if f["type"] == "StateUpdate" for p in f["players"]]
    relayed = {**frames.floats(STATE), "name": "Pat", "position": [9.0, 0.0, 0.0]}
    assert {"client_id": player, "state": relayed} in states
    assert old.player_count(room_id) == new.player_count(room_id) == 2
    assert (members(live, room_id), away(live, room_id)) == (
        sorted([player, watcher.client_id]),
        [],
    ), "held by the newer connection, not left away by the older one's end"

    await second.send({"type": "Leave"})
    assert await watcher.recv_type("PlayerLeft") == frames.left(room_id, player)
    assert new.player_count(room_id) == 1


async def test_reaping_the_older_copys_crashed_process_spares_the_newer_copy(
    servers, live, room_id, live_players
) -> None:
    old, new = servers
    watcher, _first, second, player = await player_on_paused_process_then_taken_over(
        servers, room_id, live_players
    )
    old.signal(signal.SIGKILL)
    old.proc.wait(5)

    seen = await frames_for(watcher, TTL + 5 + GRACE + 1)  # the dead process is reaped meanwhile
    assert not [f for f in seen if f["type"] == "PlayerLeft"]
    assert new.player_count(room_id) == 2
    assert (members(live, room_id), away(live, room_id)) == (
        sorted([player, watcher.client_id]),
        [],
    ), "the reaper left nobody away: the newer copy is held by its connection"
    await second.send({"type": "Ping", "t": 1})
    assert await second.recv_type("Pong") == frames.pong(1)
