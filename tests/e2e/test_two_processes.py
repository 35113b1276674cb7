"""Two real server processes share one Redis and one MongoDB: players on either see each other."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Iterator

import pytest

from tests import frames
from tests.clients import STATE
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def env() -> dict[str, str]:
    env = server_env(MONGODB_DB_NAME=unique_db())  # default PRESENCE_TTL_SECONDS (10)
    migrate(env)
    return env


@pytest.fixture
def two_servers(env) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    a, b = ServerProcess(env).start(), ServerProcess(env).start()
    yield a, b
    a.stop()
    b.stop()


async def test_a_room_spans_two_processes(two_servers, room_id, live_players) -> None:
    one, two = two_servers
    alice = await live_players.connect(one.ws_url)
    bob = await live_players.connect(
        f"ws://127.0.0.1:{two.http_port}/"
    )  # either port serves the socket
    await alice.join(room_id, "Alice")
    assert two.player_count(room_id) == 1

    welcome = await bob.join(room_id, "Bob")
    assert {p["client_id"] for p in welcome["room_state"]} == {alice.client_id, bob.client_id}
    joined = await alice.recv_type("PlayerJoined")
    assert joined["client_id"] == bob.client_id and joined["state"]["name"] == "Bob"
    assert one.player_count(room_id) == two.player_count(room_id) == 2

    await alice.send({"type": "Update", "state": STATE})
    update = await bob.recv_type("StateUpdate")
    assert {
        "client_id": alice.client_id,
        "state": {**frames.floats(STATE), "name": "Alice"},  # the joined name, not STATE's
    } in update["players"]

    await bob.send({"type": "Chat", "message": "hello from process two"})
    to_alice = await alice.recv_type("Chat")
    to_bob = await bob.recv_type("Chat")
    assert to_alice == to_bob
    assert (
        to_alice["message"] == "hello from process two" and to_alice["client_id"] == bob.client_id
    )
    status, history = one.get(f"/chat/history?room_id={room_id}")
    assert status == 200
    assert [m["id"] for m in history["messages"]] == [to_alice["id"]]

    await bob.send({"type": "Leave"})
    assert await alice.recv_type("PlayerLeft") == frames.left(room_id, bob.client_id)
    assert one.player_count(room_id) == 1

    await bob.join(room_id, "Bob")
    await alice.recv_type("PlayerJoined", client_id=bob.client_id)
    await bob.close()
    await alice.recv_type("PlayerLeft", client_id=bob.client_id)
    await alice.close()
    for _ in range(50):
        if two.player_count(room_id) == 0:
            break
        await asyncio.sleep(0.1)
    assert two.player_count(room_id) == 0


async def test_players_of_a_killed_process_leave_within_35_seconds(
    two_servers, room_id, live_players
) -> None:
    """With the default timings: the reaper finds the dead process within PRESENCE_TTL_SECONDS
    (10) and leaves its players away; nobody resumes them, so after RESUME_GRACE_SECONDS (20)
    the room is told, each once: no ghost outlives TTL + grace + 5 s."""
    survivor_server, doomed_server = two_servers
    survivor = await live_players.connect(survivor_server.ws_url)
    await survivor.join(room_id, "Survivor")
    doomed = [await live_players.connect(doomed_server.ws_url) for _ in range(3)]
    for i, client in enumerate(doomed):
        await client.join(room_id, f"Doomed{i}")
    assert survivor_server.player_count(room_id) == 4

    doomed_server.signal(signal.SIGKILL)
    killed_at = time.monotonic()
    gone = set()
    while len(gone) < 3:
        left = await survivor.recv_type("PlayerLeft", timeout=35 - (time.monotonic() - killed_at))
        gone.add(left["client_id"])
    assert gone == {c.client_id for c in doomed}
    assert survivor_server.player_count(room_id) == 1
