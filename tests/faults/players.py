"""The fault suite's player: a LiveSocket that keeps what its frames told it — who is in its room
(its Welcome or Resumed, then PlayerJoined and PlayerLeft), every Chat by id, every room event in
the order it got them (a Resumed's `missed` included), the newest event number and resume token
(what a Resume sends), and any event that contradicts what it knew — so a test can compare each
player's view with Redis' and with the other players' at the end."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

from websockets.exceptions import ConnectionClosed

from tests.clients import STATE, LivePlayers, LiveSocket

RECOVERY = 20.0
"""How long a test waits for something to come back after a fault: a liveness bound far above the
design's few seconds, never a speed requirement (the measured times go to tests.faults.timing)."""

UNAVAILABLE = {
    "type": "Error",
    "code": "unavailable",
    "message": "A backing service is unavailable; retry shortly.",
}
CHAT_UNAVAILABLE = {
    "type": "Error",
    "code": "chat_unavailable",
    "message": "chat is unavailable right now; the message was not sent",
}


EVENTS = ("PlayerJoined", "PlayerLeft", "Chat")
"""The room events: numbered by `seq`, and what a Resumed's `missed` holds."""


class Player(LiveSocket):
    """`room` is the room as this player's frames say; `surprises` lists the PlayerJoined of a
    player it already had and the PlayerLeft of one it did not (protocol.md: none may come).
    `events` are the room events it got, in order (a Resumed's `missed` where it came); `seq`
    and `resume_token` are what a Resume of this player sends."""

    def __init__(self, ws: Any) -> None:
        super().__init__(ws)
        self.name: str | None = None  # the name it joined with (the checks show it, not ids)
        self.room: set[str] = set()
        self.chats: dict[str, dict[str, Any]] = {}
        self.events: list[dict[str, Any]] = []
        self.surprises: list[dict[str, Any]] = []
        self.room_id: str | None = None
        self.welcome_seq = 0  # the number its Welcome or Resumed showed the room at
        self.seq = 0
        self.resume_token: str | None = None

    async def recv(self, timeout: float | None = None) -> dict[str, Any]:
        frame = await super().recv(timeout)
        kind = frame["type"]
        if kind in ("Welcome", "Resumed"):
            # The room as of `seq`: the missed events are in it already.
            self.room = {p["client_id"] for p in frame["room_state"]}
            self.room_id, self.resume_token = frame["room_id"], frame["resume_token"]
            self.welcome_seq = self.seq = frame["seq"]
            for event in frame.get("missed", []):
                self._event(event)
        elif kind in EVENTS:
            if kind == "PlayerJoined":
                if frame["client_id"] in self.room:
                    self.surprises.append(frame)
                self.room.add(frame["client_id"])
            elif kind == "PlayerLeft":
                if frame["client_id"] not in self.room:
                    self.surprises.append(frame)
                self.room.discard(frame["client_id"])
            self._event(frame)
        return frame

    def _event(self, frame: dict[str, Any]) -> None:
        self.events.append(frame)
        self.seq = max(self.seq, frame["seq"])
        if frame["type"] == "Chat":
            self.chats[frame["id"]] = frame

    async def listen(self, seconds: float) -> list[dict[str, Any]]:
        """Everything that arrives in the next `seconds`."""
        frames: list[dict[str, Any]] = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                frames.append(await self.recv(timeout=left))
            except TimeoutError:
                break
        return frames

    async def join(self, room_id: str, name: str = "p", color: str = "#00FF00") -> dict[str, Any]:
        self.name = name
        return await super().join(room_id, name, color)

    async def send_join(self, room_id: str, name: str) -> None:
        """A Join whose answer the test awaits later (answer_to_join)."""
        self.name = name
        await self.send({"type": "Join", "room_id": room_id, "name": name})

    async def resume(self, gone: Player, timeout: float = RECOVERY) -> dict[str, Any]:
        """Send the Resume of `gone` (a socket of this player that ended: its token and newest
        seq) as this socket's first message; the Resumed or Error that answers it. A Resumed
        makes this the player (client_id, name)."""
        assert gone.resume_token is not None, "it had a Welcome"
        message = {"type": "Resume", "resume_token": gone.resume_token, "last_seq": gone.seq}
        await self.send(message)
        frame = await self.recv_first("Resumed", "Error", timeout=timeout)
        if frame["type"] == "Resumed":
            self.client_id, self.name = frame["client_id"], gone.name
        return frame

    def drop(self) -> None:
        """The connection is lost: the TCP connection is aborted, no close frame (the server
        sees 1006)."""
        self.ws.transport.abort()

    async def closed(self, timeout: float = RECOVERY) -> tuple[int, str]:
        """The server's close frame (code, reason), once what came before it is read."""
        try:
            async with asyncio.timeout(timeout):
                while True:
                    await self.recv(timeout)
        except ConnectionClosed as closed:
            return (closed.rcvd.code, closed.rcvd.reason) if closed.rcvd else (1006, "")

    async def answer_to_join(self, timeout: float = RECOVERY) -> dict[str, Any]:
        """The Welcome or Error that answers the Join just sent (client_id from a Welcome)."""
        frame = await self.recv_first("Welcome", "Error", timeout=timeout)
        if frame["type"] == "Welcome":
            self.client_id = frame["client_id"]
        return frame

    async def answer_to_chat(self, message: str, timeout: float = RECOVERY) -> dict[str, Any]:
        """This player's own Chat `message` (the acknowledgement) or the Error refusing it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            frame = await self.recv_first("Chat", "Error", timeout=deadline - loop.time())
            mine = frame.get("client_id") == self.client_id and frame.get("message") == message
            if frame["type"] == "Error" or mine:
                return frame

    async def say(self, message: str, timeout: float = RECOVERY) -> dict[str, Any]:
        await self.send({"type": "Chat", "message": message})
        return await self.answer_to_chat(message, timeout)


async def connect(live_players: LivePlayers, url: str) -> Player:
    """A Player on `url`, closed with the test's other sockets."""
    player = await Player.connect(url)
    assert isinstance(player, Player)
    live_players.sockets.append(player)
    return player


async def chat_crosses(sender: Player, receiver: Player, text: str) -> float:
    """Chat from `sender` until one message reaches `receiver` (a refused one is retried); the
    time.monotonic() when it arrived. A chat the sender saw acknowledged must arrive."""
    deadline = time.monotonic() + RECOVERY
    for attempt in itertools.count(1):  # ends by the return or an assert
        message = f"{text} ({attempt})"
        answer = await sender.say(message, timeout=max(deadline - time.monotonic(), 0.1))
        if answer["type"] == "Chat":
            await receiver.recv_type("Chat", timeout=RECOVERY, message=message)
            return time.monotonic()
        assert answer in (UNAVAILABLE, CHAT_UNAVAILABLE), answer
        assert time.monotonic() < deadline, f"chat still refused after {RECOVERY} s: {answer}"
        await asyncio.sleep(0.25)


async def state_crosses(sender: Player, receiver: Player, x: int) -> None:
    """An Update of `sender` (at x) reaches `receiver` in a StateUpdate."""
    await sender.send({"type": "Update", "state": {**STATE, "position": [x, 0, 0]}})
    state = {**STATE, "name": sender.name, "position": [x, 0, 0]}  # relayed: the joined name
    relayed = {"client_id": sender.client_id, "state": state}
    deadline = time.monotonic() + RECOVERY
    while True:
        update = await receiver.recv_type("StateUpdate", timeout=deadline - time.monotonic())
        if relayed in update["players"]:
            return
