"""A client that stops reading is cut off, without stalling its room or growing the server.

Frames for a client go to uvicorn's transport while it is writable; once its write buffer passes
the high-water mark (uvloop's 64 KiB) they wait in the client's Outbox, and one frame past
WS_SEND_QUEUE_LIMIT closes it with 1008 (or, when not even the close frame can be written within
2 s, aborts its TCP connection). The Outbox is tested alone first, then on a real server.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psutil
import pytest

from rooms.outbox import Outbox
from tests.clients import STATE, Closed, LiveSocket, RawSocket
from tests.e2e.servers import migrate, server_env, unique_db
from tests.security.servers import LoggedServer

# --- the Outbox alone, over a stand-in for uvicorn's protocol ----------------------------------


class FakeProtocol:
    """What Outbox sees of uvicorn's websockets-sansio protocol: `send` waits for `writable`."""

    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.sent: list[str] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.writable.wait()
        self.sent.append(message["text"])


@dataclass
class Cutoff:
    calls: int = 0

    def __call__(self) -> None:
        self.calls += 1


async def test_frames_go_straight_out_while_the_transport_is_writable() -> None:
    server, cutoff = FakeProtocol(), Cutoff()
    outbox = Outbox(server.send, limit=2, on_overflow=cutoff)
    for i in range(10):
        await outbox.put(str(i))
    assert server.sent == [str(i) for i in range(10)]
    assert outbox.backlog == 0 and cutoff.calls == 0


async def test_limit_frames_may_wait_and_one_more_cuts_the_client_off() -> None:
    server, cutoff = FakeProtocol(), Cutoff()
    outbox = Outbox(server.send, limit=32, on_overflow=cutoff)
    server.writable.clear()  # the transport passed its high-water mark
    for i in range(32):
        await outbox.put(str(i))
    assert (outbox.backlog, cutoff.calls, outbox.closed) == (32, 0, False)
    await outbox.put("32")
    assert (outbox.backlog, cutoff.calls, outbox.closed) == (0, 1, True)
    await outbox.put("after")  # a closed outbox takes nothing more
    server.writable.set()
    await asyncio.sleep(0.01)
    assert server.sent == [] and cutoff.calls == 1


async def test_a_waiting_backlog_drains_in_order_when_the_transport_resumes() -> None:
    server, cutoff = FakeProtocol(), Cutoff()
    outbox = Outbox(server.send, limit=32, on_overflow=cutoff)
    server.writable.clear()
    for i in range(5):
        await outbox.put(str(i))
    server.writable.set()
    await asyncio.sleep(0.01)
    await outbox.put("5")
    assert server.sent == ["0", "1", "2", "3", "4", "5"] and cutoff.calls == 0


async def test_frames_keep_their_order_when_the_transport_resumes_mid_send() -> None:
    """The drainer has taken frame 1 off the backlog and waits for `writable`; the transport
    resumes; before the drainer runs again the hub puts frame 2. Frame 2 must not overtake 1
    (a StateUpdate overtaking a PlayerLeft shows a player who has left)."""
    server, cutoff = FakeProtocol(), Cutoff()
    outbox = Outbox(server.send, limit=32, on_overflow=cutoff)
    server.writable.clear()
    await outbox.put("1")
    await asyncio.sleep(0)  # the drainer takes "1" and waits
    server.writable.set()  # uvicorn's resume_writing()
    await outbox.put("2")  # in the same turn of the loop
    await asyncio.sleep(0.01)
    assert server.sent == ["1", "2"]


# --- a real server, a busy room and a client that stops reading --------------------------------

PREFIX = "https://cdn.signite.example/models/"
MODEL_URL = PREFIX + "m" * (2048 - len(PREFIX))  # the longest modelUrl the protocol allows
# On loopback the kernel's send buffer for the slow socket grows to tcp_wmem's maximum (4 MiB)
# whatever the peer's window, so the room must send a few MiB before uvicorn's buffer fills:
# 8 players x 2.1 KiB x 20 Hz is ~340 KiB/s.
FAST_PLAYERS = 8
MiB = 2**20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoggedServer]:
    env = server_env(
        MONGODB_DB_NAME=unique_db(),
        WS_SEND_QUEUE_LIMIT="32",
        WS_UPDATE_RATE="100",
        LOG_LEVEL="info",
        LOG_FORMAT="json",
        SHUTDOWN_DRAIN_SECONDS="0",
    )
    migrate(env)
    server = LoggedServer(env, logs=tmp_path_factory.mktemp("slow-reader")).start()
    yield server
    server.stop()


@dataclass
class FastPlayer:
    """Sends a big Update every 50 ms and reads everything, counting StateUpdates per second."""

    client: LiveSocket
    name: str
    start: float
    per_second: collections.Counter[int] = field(default_factory=collections.Counter)
    joined: dict[str, str] = field(default_factory=dict)  # name -> client_id
    left: set[str] = field(default_factory=set)

    async def send_updates(self, stop: asyncio.Event) -> None:
        i = 0
        while not stop.is_set():
            state = {**STATE, "name": self.name, "position": [i % 100, 0, 0], "modelUrl": MODEL_URL}
            await self.client.send({"type": "Update", "state": state})
            i += 1
            await asyncio.sleep(0.05)

    async def read(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                frame = await self.client.recv(timeout=0.5)
            except TimeoutError:
                continue
            if frame["type"] == "StateUpdate":
                self.per_second[int(time.monotonic() - self.start)] += 1
            elif frame["type"] == "PlayerJoined":
                self.joined[frame["state"]["name"]] = frame["client_id"]
            elif frame["type"] == "PlayerLeft":
                self.left.add(frame["client_id"])


def rss(pid: int) -> int:
    return psutil.Process(pid).memory_info().rss


@pytest.mark.e2e
async def test_a_client_that_stops_reading_is_cut_off_and_its_room_plays_on(
    server, room_id, live_players
) -> None:
    assert server.proc is not None
    start = time.monotonic()
    players = []
    for i in range(FAST_PLAYERS):
        client = await live_players.connect(server.ws_url)
        await client.join(room_id, f"fast{i}")
        players.append(FastPlayer(client, f"fast{i}", start))
    stop = asyncio.Event()
    tasks = [asyncio.create_task(p.send_updates(stop)) for p in players]
    tasks += [asyncio.create_task(p.read(stop)) for p in players]
    slow: RawSocket | None = None
    try:
        await asyncio.sleep(2)  # the room is busy; its memory has settled
        baseline = peak = rss(server.proc.pid)

        # The slow client: a receive buffer of a few KiB, a Join, and then it never reads.
        slow = live_players.raw(server.ws_port, rcvbuf=4096)
        slow.send_json({"type": "Join", "room_id": room_id, "name": "slow"})
        stalled_from = int(time.monotonic() - start) + 1

        async def slow_is_gone() -> str:
            while True:
                slow_id = players[0].joined.get("slow")
                if slow_id is not None and all(slow_id in p.left for p in players):
                    return slow_id
                await asyncio.sleep(0.25)

        gone = asyncio.create_task(slow_is_gone())
        while not gone.done():  # hang guard: the cut-off comes in seconds; 60 s is a failure
            assert time.monotonic() - start < 60, "the slow client was never cut off"
            peak = max(peak, rss(server.proc.pid))
            await asyncio.wait([gone], timeout=0.5)
        slow_id = gone.result()
        for _ in range(6):  # three more seconds of play after the cut-off
            peak = max(peak, rss(server.proc.pid))
            await asyncio.sleep(0.5)
        ended_before = int(time.monotonic() - start)
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=False)

    # The room played on: every fast player got StateUpdates in every second since the stall.
    for player in players:
        seconds = range(stalled_from, ended_before)
        assert all(player.per_second[s] > 0 for s in seconds), (player.name, player.per_second)

    # The slow client was cut off for not reading (not for idling or a missed keepalive) ...
    overflow = [
        entry
        for entry in server.log_entries()
        if entry["message"] == "client does not read its frames; closing 1008"
    ]
    assert [(e["level"], e.get("client_id"), e.get("room_id")) for e in overflow] == [
        ("warning", slow_id, room_id)
    ]
    # ... and what it finds when it reads at last: the 1008, or a connection already reset.
    assert slow is not None
    with contextlib.suppress(Closed):
        assert await asyncio.to_thread(slow.close_code) == 1008

    # Memory stayed bounded: 32 frames and a transport buffer, not the whole backlog.
    assert peak - baseline < 50 * MiB, f"RSS grew by {(peak - baseline) / MiB:.1f} MiB"
