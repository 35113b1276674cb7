"""One load-generator process: bot players on picows + uvloop speaking the real protocol.

Run by the bench as `python -m bench.loadgen` with a JSON plan on stdin; it writes JSON lines
to stdout (an optional {"event": "joined"} when every bot has its Welcome, then one
{"event": "result"}). Each bot joins, sends Updates at `rate` Hz carrying "<seq>:<send ms>" in
`animation` (ms since the bench epoch, a CLOCK_MONOTONIC value shared by all processes of the
host), a Chat every `chat_period` seconds, and records what it receives. Whole rooms live in one
process, so delivery is judged here with every sender's send log at hand.

Drain mode (`drain` in the plan, issue 13): a bot whose server closes it with 1001 (or whose
connection drops) reconnects to its `resume_url` after a random jitter and sends Resume with its
latest resume token and the highest event seq it has seen; the run records how long each resume
took, whether it was recovered, and every event and chat each bot saw, so that chats missed,
duplicates and PlayerLeft frames are judged here, room by room.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import json
import math
import os
import random
import resource
import select
import sys
import time
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np
import uvloop
from picows import WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

HIST_BIN_MS = 0.1
HIST_BINS = 100_000  # 0.1 ms bins up to 10 s; the last bin holds everything slower
MAX_ERROR_SAMPLES = 20
SEND_EARLY = 0.0005  # a bot due within half a millisecond is sent now (timers have 1 ms grain)
PING_PERIOD = 15.0  # idle bots ping so that an idle timeout does not cut them
GENERATOR_NICE = -10
JOIN_TIMEOUT = 20.0  # seconds from connect to Welcome before the bot counts as failed
RESUME_TIMEOUT = 15.0  # seconds from the drop to Resumed before the resume counts as failed
MAX_FRAME_SAMPLES = 5  # drain mode: example frames of each anomaly, for the report
# What a browser offers; the server answers with server_no_context_takeover (signight.wsprotocol),
# so each compressed message inflates on its own.
DEFLATE_OFFER = {"Sec-WebSocket-Extensions": "permessage-deflate; client_max_window_bits"}
_DEFLATE_TAIL = b"\x00\x00\xff\xff"


# --- what the bots decode (msgspec skips every field not named here) ------------------------


class _State(msgspec.Struct):
    velocity: tuple[float, float, float] | None = None  # the bench's (seq, send ms, bot id)


class _Player(msgspec.Struct):
    client_id: str
    state: _State


class _Event(msgspec.Struct):
    """A room event (PlayerJoined, PlayerLeft, Chat) inside Resumed.missed, or a chat item."""

    type: str = ""
    seq: int = -1
    id: str = ""
    client_id: str = ""
    message: str = ""


class _Frame(msgspec.Struct):
    type: str
    players: list[_Player] = []
    client_id: str = ""
    message: str = ""
    code: str = ""
    seq: int = -1  # Welcome, Resumed and the event frames
    id: str = ""  # Chat
    resume_token: str = ""  # Welcome, Resumed
    recovered: bool = False  # Resumed
    missed: list[_Event] = []  # Resumed
    chat_history: list[_Event] = []  # Welcome, Resumed when not recovered


_decode = msgspec.json.Decoder(_Frame).decode


# --- the plan -------------------------------------------------------------------------------


@dataclass(slots=True)
class Plan:
    """Times are seconds after `epoch` (a time.monotonic() value chosen by the parent)."""

    epoch: float
    bots: list[dict[str, Any]]  # {"id": int, "room": str, "url": str[, "resume_url": str]}
    rate: float = 20.0
    chat_period: float = 10.0
    connect_at: float = 1.0
    ramp: float = 2.0
    updates_at: float = 4.0
    measure_at: float = 6.0
    stop_at: float = 26.0
    final_wait: float = 0.5
    fresh_ms: float = 100.0  # the state-age limit; see judge_delivery
    tick_ms: float = 50.0  # the server's coalescing window (1 / TICK_RATE)
    connect_concurrency: int = 64
    idle: bool = False  # join, announce "joined", hold until stdin closes; no Updates
    wait_go: bool = False  # after "joined", read {"updates_at", "measure_at", "stop_at"} on stdin
    connect_deadline: float = 0.0  # > 0: bots not yet connecting this long after connect_at give up
    deflate: bool = False  # offer permessage-deflate; inflate the frames that come compressed
    drain: bool = False  # resume after a 1001 or a lost connection (bots need "resume_url")
    resume_jitter: float = 0.25  # seconds, uniform: the wait between the drop and the reconnect
    age_slice_ms: float = 250.0  # drain mode: state ages kept per this much send time

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Plan:
        return cls(**raw)


# --- one bot ----------------------------------------------------------------------------------


class Bot(WSListener):
    """One player: its socket, what it sent (seq -> send ms) and what it saw from others."""

    def __init__(self, *, id: int, room: str, url: str, run: Run, resume_url: str = "") -> None:
        super().__init__()
        self.id = id
        self.room = room
        self.url = url
        self.resume_url = resume_url
        self.run = run
        self.name = f"b{id}"
        self.client_id = ""
        self.transport: WSTransport | None = None
        self.joined: asyncio.Future[None] | None = None
        self.closing = False
        self.seq = 0
        self.sent_ms = array.array("d", [math.nan])  # index = seq
        self.seen: dict[int, array.array[float]] = {}  # sender id -> receipt ms by seq (NaN: never)
        self.pending_chats: dict[str, float] = {}
        self.chats_sent = 0
        # What a resuming client keeps (drain mode), and what the judge needs of it.
        self.resume_token = ""
        self.join_seq = -1  # Welcome.seq: the events after it are this bot's to see
        self.last_seq = -1  # the highest event seq seen (Welcome, events, Resumed, missed)
        self.event_seqs: set[int] = set()
        self.arrivals: list[int] = []  # the first event seqs, in the order they came (samples)
        self.recent: collections.deque[tuple[int, float]] = collections.deque(maxlen=6)
        self.before_drop: list[tuple[int, float]] = []  # `recent` when it was dropped
        self.resume_last_seq = -1  # the last_seq its Resume sent
        self.resumed_seq = -1  # Resumed.seq
        self.missed_seqs: list[int] = []  # the seqs of its Resumed.missed
        self.after_resume: list[int] = []  # the first event seqs live after its Resumed
        self.chat_ids: set[str] = set()
        self.dropped_at = 0.0  # time.monotonic() of the drop being resumed
        self.connect_started = 0.0  # the reconnect of a resume: after the jitter
        self.resume_sent_at = 0.0
        self.resumed_t = 0.0  # seconds after epoch
        self.resumed: asyncio.Future[None] | None = None
        self._fragments: list[bytes] = []
        color = (id * 2654435761) & 0xFFFFFF
        # bytes %-formatting is the cheapest way to build 12,000 frames a second
        self._template = (
            f'{{"type":"Update","state":{{"name":"{self.name}","color":"#{color:06X}",'
            f'"position":[%d,0,{id % 1000}],"rotation":[1,0,0,0],"velocity":[%d,%.3f,{id}]}}}}'
        ).encode()

    # picows callbacks: keep them lean, they run for every frame of every bot.

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        kind = frame.msg_type
        self.run.wire_bytes += frame.payload_size
        if frame.rsv1:  # compressed (whole messages: the server does not fragment)
            payload = zlib.decompressobj(-15).decompress(
                frame.get_payload_as_bytes() + _DEFLATE_TAIL
            )
            self.run.on_message(self, _decode(payload))
            return
        if kind is WSMsgType.TEXT or kind is WSMsgType.CONTINUATION:
            if not frame.fin:
                self._fragments.append(frame.get_payload_as_bytes())
                return
            if self._fragments:
                self._fragments.append(frame.get_payload_as_bytes())
                payload: bytes | memoryview = b"".join(self._fragments)
                self._fragments.clear()
            else:
                payload = frame.get_payload_as_memoryview()
            self.run.on_message(self, _decode(payload))
        elif kind is WSMsgType.CLOSE:
            code = frame.get_close_code()
            if not self.closing:
                reason = frame.get_close_message()
                self.closing = True
                if self.run.plan.drain and code == GOING_AWAY and self.client_id:
                    self.run.on_drop(self, f"{int(code)} {reason.decode(errors='replace')}")
                else:
                    self.run.error(f"closed by server: {code} {reason!r}")
            transport.send_close(code)
            transport.disconnect()

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if transport is not self.transport:  # the socket a resumed bot has left behind
            return
        if not self.closing:
            self.closing = True
            if self.run.plan.drain and self.client_id and not self.run.finished:
                self.run.on_drop(self, "connection lost (no close frame)")
            else:
                self.run.error("connection lost")
        if self.joined is not None and not self.joined.done():
            self.joined.set_exception(ConnectionError("disconnected before Welcome"))
        if self.resumed is not None and not self.resumed.done():
            self.resumed.set_exception(ConnectionError("disconnected before Resumed"))

    def send_update(self, now: float) -> None:
        self.seq += 1
        ms = (now - self.run.plan.epoch) * 1000.0
        self.sent_ms.append(ms)
        assert self.transport is not None
        self.transport.send(WSMsgType.TEXT, self._template % (self.seq % 1000, self.seq, ms))

    def send_json(self, message: dict[str, Any], *, resuming: bool = False) -> None:
        """Nothing is sent on a closing socket, except the Resume of a bot that is resuming."""
        if self.transport is not None and (resuming or not self.closing):
            self.transport.send(WSMsgType.TEXT, json.dumps(message).encode())


# --- one generator process --------------------------------------------------------------------


GOING_AWAY = 1001  # a drain's close: action `resume` (rooms.protocol.codes)


class ResumeFailed(Exception):
    """The server answered a Resume with Error resume_failed."""


class Run:
    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.bots = [
            Bot(
                id=b["id"],
                room=b["room"],
                url=b["url"],
                resume_url=b.get("resume_url", ""),
                run=self,
            )
            for b in plan.bots
        ]
        self.rooms: dict[str, list[Bot]] = {}
        for bot in self.bots:
            self.rooms.setdefault(bot.room, []).append(bot)
        self.ages = array.array("d")  # ms, every state sent in the window; binned at the end
        self.lateness = array.array("d")  # ms, scheduled -> actual send, in the window
        self.chat_rtt_ms: list[float] = []
        self.errors = 0
        self.error_samples: Counter[str] = Counter()
        self.frames = Counter[str]()
        self.updates_sent = 0  # in the measured window
        self.wire_bytes = 0  # frame payloads received, as on the wire (compressed or not)
        self.finished = False  # the bots are closing on purpose: nothing after this is judged
        self.everyone_joined = False  # the measured window began: a PlayerJoined now is news
        # drain mode
        self.age_sent_ms = array.array("d")  # the send time of each age in `ages`
        self.drops: list[float] = []  # seconds after epoch
        self.drop_reasons: Counter[str] = Counter()
        self.resume_ms: list[float] = []  # drop -> Resumed
        self.resume_rtt_ms: list[float] = []  # Resume sent -> Resumed
        self.resumed_at: list[float] = []  # seconds after epoch
        # (drop s after epoch, drop -> Resumed ms, Resume -> Resumed ms, connect ms)
        self.resumes: list[tuple[float, float, float, float]] = []
        self.recovered = 0
        self.missed_events = 0  # events delivered in Resumed.missed
        self.resume_failures: Counter[str] = Counter()
        self.anomalies: Counter[str] = Counter()
        self.samples: dict[str, list[str]] = {}
        self.room_chats: dict[str, dict[str, tuple[str, str, int]]] = {
            room: {} for room in self.rooms
        }  # room -> chat id -> (sender client_id, message, seq), from whoever received it
        self.room_events: dict[str, dict[int, tuple[str, str, float]]] = {
            room: {} for room in self.rooms
        }  # room -> seq -> (type, client_id, first receipt s after epoch), from any bot
        self._tasks: set[asyncio.Task[None]] = set()
        self.retime()

    def retime(self, **times: float) -> None:
        """Set the Update schedule (the parent sends it once every process has joined)."""
        for name, value in times.items():
            setattr(self.plan, name, value)
        plan = self.plan
        self.measure_from_ms = plan.measure_at * 1000.0
        self.measure_to_ms = plan.stop_at * 1000.0
        self.seq_capacity = int(plan.rate * max(0.0, plan.stop_at - plan.updates_at)) + 64

    def error(self, what: str) -> None:
        self.errors += 1
        if len(self.error_samples) < MAX_ERROR_SAMPLES or what in self.error_samples:
            self.error_samples[what] += 1

    def now(self) -> float:
        return time.monotonic() - self.plan.epoch

    def anomaly(self, what: str, sample: Any) -> None:
        """Something the drain judge counts (PlayerLeft seen, a duplicate event ...)."""
        self.anomalies[what] += 1
        kept = self.samples.setdefault(what, [])
        if len(kept) < MAX_FRAME_SAMPLES:
            kept.append((sample if isinstance(sample, str) else _brief(sample))[:700])

    # --- receive ---------------------------------------------------------------------------

    def on_message(self, bot: Bot, msg: _Frame) -> None:
        kind = msg.type
        self.frames[kind] += 1
        if kind == "StateUpdate":
            now_ms = (time.monotonic() - self.plan.epoch) * 1000.0
            own = bot.client_id
            seen = bot.seen
            lo = self.measure_from_ms
            ages = self.ages
            sent_log = self.age_sent_ms if self.plan.drain else None
            for player in msg.players:
                tag = player.state.velocity
                if tag is None or player.client_id == own:
                    continue
                seq, sent, sender = tag
                if sent >= lo:
                    ages.append(now_ms - sent)
                    if sent_log is not None:
                        sent_log.append(sent)
                try:
                    seen[sender][int(seq)] = now_ms  # type: ignore[index]
                except (KeyError, IndexError):
                    self._mark_slow(seen, int(sender), int(seq), now_ms)
        elif kind in ("Chat", "PlayerJoined", "PlayerLeft"):
            self.on_event(bot, msg, missed=False)
        elif kind == "Welcome":
            bot.client_id = msg.client_id
            bot.join_seq = bot.last_seq = msg.seq
            bot.resume_token = msg.resume_token
            if bot.joined is not None and not bot.joined.done():
                bot.joined.set_result(None)
        elif kind == "Resumed":
            self.on_resumed(bot, msg)
        elif kind == "Error":
            if msg.code == "resume_failed" and bot.resumed is not None and not bot.resumed.done():
                bot.resumed.set_exception(ResumeFailed(f"{msg.code}: {msg.message}"))
            else:
                self.error(f"Error frame {msg.code}: {msg.message[:80]}")

    def on_event(self, bot: Bot, msg: _Frame | _Event, *, missed: bool) -> None:
        """A numbered room event, live or in Resumed.missed: each seq exactly once, in order."""
        if self.finished:
            return
        seq = msg.seq
        kind = msg.type
        phase = "measured" if self.everyone_joined else "joining"
        how = "in Resumed.missed" if missed else "live"
        if seq in bot.event_seqs:
            self.anomaly(f"duplicate event ({how})", f"{bot.name}: {_brief(msg)}")
        else:
            if seq <= bot.join_seq:
                # Its Welcome's room_state already shows this (docs: not sent again).
                self.anomaly(
                    f"event older than the bot's Welcome ({how}, {phase})",
                    f"{bot.name} got {kind} seq {seq} of {msg.client_id[:8]} at "
                    f"t={self.now():.2f}, its Welcome had seq {bot.join_seq} "
                    f"(-{bot.join_seq - seq})",
                )
            elif seq <= bot.last_seq:
                self.anomaly(
                    f"event out of order ({how}, {phase})",
                    f"{bot.name} got {kind} seq {seq} of {msg.client_id[:8]} after seq "
                    f"{bot.last_seq} (-{bot.last_seq - seq}) at t={self.now():.2f}",
                )
            bot.event_seqs.add(seq)
        if len(bot.arrivals) < 12:
            bot.arrivals.append(seq)
        bot.recent.append((seq, self.now()))
        if bot.resumed_t and not missed and len(bot.after_resume) < 6:
            bot.after_resume.append(seq)
        bot.last_seq = max(bot.last_seq, seq)
        self.room_events[bot.room].setdefault(seq, (kind, msg.client_id, self.now()))
        if kind == "Chat":
            bot.chat_ids.add(msg.id)
            self.room_chats[bot.room].setdefault(msg.id, (msg.client_id, msg.message, seq))
            if msg.client_id == bot.client_id:
                sent = bot.pending_chats.pop(msg.message, None)
                if sent is not None and not missed:
                    self.chat_rtt_ms.append((time.monotonic() - sent) * 1000.0)
        elif kind == "PlayerLeft":
            self.anomaly("PlayerLeft seen", msg)
        elif kind == "PlayerJoined" and self.everyone_joined:
            self.anomaly("PlayerJoined after everyone joined", msg)

    def on_resumed(self, bot: Bot, msg: _Frame) -> None:
        now = time.monotonic()
        if bot.resumed is None or bot.resumed.done():
            self.anomaly("Resumed not asked for", msg)
            return
        if msg.client_id != bot.client_id:
            self.anomaly("Resumed with another client_id", f"{bot.client_id} -> {msg.client_id}")
        bot.resumed_seq = msg.seq
        bot.missed_seqs = [event.seq for event in msg.missed]
        for event in msg.missed:
            self.on_event(bot, event, missed=True)
        self.missed_events += len(msg.missed)
        if msg.recovered:
            self.recovered += 1
        else:
            # The room's recent chat replaces what the bot had: it is received too.
            bot.chat_ids.update(item.id for item in msg.chat_history)
            self.anomaly("Resumed not recovered", f"seq {msg.seq}, missed {len(msg.missed)}")
        bot.last_seq = max(bot.last_seq, msg.seq)
        bot.resume_token = msg.resume_token
        self.resume_ms.append((now - bot.dropped_at) * 1000.0)
        self.resume_rtt_ms.append((now - bot.resume_sent_at) * 1000.0)
        self.resumes.append(
            (
                bot.dropped_at - self.plan.epoch,
                self.resume_ms[-1],
                self.resume_rtt_ms[-1],
                (bot.resume_sent_at - bot.connect_started) * 1000.0,
            )
        )
        self.resumed_at.append(now - self.plan.epoch)
        bot.resumed_t = now - self.plan.epoch
        bot.closing = False
        bot.resumed.set_result(None)

    # --- resume (drain mode) ---------------------------------------------------------------

    def on_drop(self, bot: Bot, why: str) -> None:
        """The bot's server closed it (1001) or its connection dropped: resume elsewhere."""
        bot.dropped_at = time.monotonic()
        bot.before_drop = list(bot.recent)
        self.drops.append(bot.dropped_at - self.plan.epoch)
        self.drop_reasons[why] += 1
        task = asyncio.get_running_loop().create_task(self.resume(bot))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def resume(self, bot: Bot) -> None:
        """What a client following the action table does on 1001: reconnect after a jitter to
        another server and send Resume first (docs/protocol.md, action `resume`)."""
        loop = asyncio.get_running_loop()
        await asyncio.sleep(random.uniform(0.0, self.plan.resume_jitter))
        bot.resumed = loop.create_future()
        bot.connect_started = time.monotonic()
        try:
            await asyncio.wait_for(
                ws_connect(lambda: bot, bot.resume_url, websocket_handshake_timeout=15),
                RESUME_TIMEOUT,
            )
            bot.resume_sent_at = time.monotonic()
            bot.resume_last_seq = bot.last_seq
            bot.send_json(
                {"type": "Resume", "resume_token": bot.resume_token, "last_seq": bot.last_seq},
                resuming=True,
            )
            left = RESUME_TIMEOUT - (time.monotonic() - bot.dropped_at)
            await asyncio.wait_for(asyncio.shield(bot.resumed), max(0.1, left))
        except Exception as exc:  # a failed resume is a result, not a crash
            if not bot.resumed.done():
                bot.resumed.cancel()  # a Resumed after the timeout is not a resume
            self.resume_failures[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
            if isinstance(exc, ResumeFailed):
                await self.rejoin(bot)
            elif bot.transport is not None:
                bot.transport.disconnect()

    async def rejoin(self, bot: Bot) -> None:
        """After resume_failed the socket stays open and a client sends Join (the contract)."""
        bot.joined = asyncio.get_running_loop().create_future()
        bot.send_json(
            {"type": "Join", "room_id": bot.room, "name": bot.name, "color": "#33AA55"},
            resuming=True,
        )
        try:
            await asyncio.wait_for(bot.joined, JOIN_TIMEOUT)
        except Exception as exc:
            self.error(f"Join after resume_failed: {type(exc).__name__}: {str(exc)[:80]}")
            return
        self.anomaly("joined again after resume_failed", bot.name)
        bot.closing = False

    def _mark_slow(
        self, seen: dict[int, array.array[float]], sender: int, seq: int, now_ms: float
    ) -> None:
        received = seen.get(sender)
        if received is None:
            received = seen[sender] = array.array("d", [math.nan]) * self.seq_capacity
        if seq >= len(received):
            received.extend(array.array("d", [math.nan]) * (seq - len(received) + 64))
        received[seq] = now_ms

    # --- connect ---------------------------------------------------------------------------

    async def connect_all(self) -> int:
        plan = self.plan
        gate = asyncio.Semaphore(plan.connect_concurrency)
        n = len(self.bots)

        async def one(i: int, bot: Bot) -> bool:
            await self.sleep_until(plan.connect_at + plan.ramp * i / max(1, n))
            async with gate:
                if plan.connect_deadline and self.now() > plan.connect_at + plan.connect_deadline:
                    self.error("not attempted: connect deadline passed")
                    return False
                try:
                    bot.joined = asyncio.get_running_loop().create_future()
                    await ws_connect(
                        lambda: bot,
                        bot.url,
                        websocket_handshake_timeout=15,
                        extra_headers=DEFLATE_OFFER if plan.deflate else None,
                    )
                    bot.send_json(
                        {"type": "Join", "room_id": bot.room, "name": bot.name, "color": "#33AA55"}
                    )
                    await asyncio.wait_for(bot.joined, timeout=JOIN_TIMEOUT)
                    return True
                except Exception as exc:  # a failed connect is a result, not a crash
                    self.error(f"connect/join failed: {type(exc).__name__}: {str(exc)[:80]}")
                    bot.closing = True
                    if bot.transport is not None:
                        bot.transport.disconnect()
                    return False

        results = await asyncio.gather(*(one(i, bot) for i, bot in enumerate(self.bots)))
        return sum(results)

    async def sleep_until(self, t: float) -> None:
        delay = t - self.now()
        if delay > 0:
            await asyncio.sleep(delay)

    # --- send ------------------------------------------------------------------------------

    async def send_updates(self) -> None:
        """One schedule for all bots: each has a fixed phase inside the period (no drift)."""
        plan = self.plan
        period = 1.0 / plan.rate
        n = len(self.bots)
        # Phases spread evenly by global bot id, so processes interleave rather than collide.
        order = sorted(self.bots, key=lambda b: (b.id * 0.6180339887) % 1.0)
        phases = [((b.id * 0.6180339887) % 1.0) * period for b in order]
        k = 0
        epoch = plan.epoch
        lateness_add = self.lateness.append
        while True:
            base = plan.updates_at + k * period
            if base >= plan.stop_at:
                return
            i = 0
            while i < n:
                due = base + phases[i]
                if due >= plan.stop_at:
                    return
                delay = due - (time.monotonic() - epoch)
                if delay > SEND_EARLY:
                    await asyncio.sleep(delay)
                now = time.monotonic()
                horizon = now - epoch + SEND_EARLY
                measured = due >= plan.measure_at
                while i < n and base + phases[i] <= horizon:
                    bot = order[i]
                    if not bot.closing and bot.client_id:
                        now = time.monotonic()
                        bot.send_update(now)
                        if measured:
                            lateness_add((now - epoch - base - phases[i]) * 1000.0)
                            self.updates_sent += 1
                    i += 1
            k += 1

    async def send_chats(self) -> None:
        plan = self.plan
        rounds = int((plan.stop_at - plan.updates_at) / plan.chat_period) + 1
        schedule = sorted(
            (plan.updates_at + 0.25 + plan.chat_period * (k + (bot.id * 0.381966) % 1.0), bot.id, k)
            for bot in self.bots
            for k in range(rounds)
        )
        by_id = {bot.id: bot for bot in self.bots}
        for due, bot_id, k in schedule:
            bot = by_id[bot_id]
            if due > plan.stop_at - 1.0:  # leave a second for the echo before the final check
                return
            await self.sleep_until(due)
            if bot.client_id and not bot.closing:
                text = f"chat {bot.name} #{k}"
                bot.pending_chats[text] = time.monotonic()
                bot.chats_sent += 1
                bot.send_json({"type": "Chat", "message": text})

    async def ping_idle(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), PING_PERIOD)
            except TimeoutError:
                for bot in self.bots:
                    bot.send_json({"type": "Ping", "t": 0})

    # --- judge -----------------------------------------------------------------------------

    def judge_delivery(self) -> dict[str, Any]:
        """Per (receiver, sender) pair in a room, over the sender's seqs sent in the window.

        A seq counts as delivered when the receiver got it, or when the receiver got a newer
        seq of that sender less than tick_ms + fresh_ms after this one was sent. The server
        coalesces: the state it read goes out in the next tick, or is replaced there by a newer
        one read in the same tick (sent at most about one tick later), and that newer state has
        fresh_ms to arrive. A seq with nothing as new arriving by then is lost (bench/README.md).
        """
        limit_ms = self.plan.tick_ms + self.plan.fresh_ms
        expected = direct = excused = final_ok = final_pairs = 0
        for members in self.rooms.values():
            live = [b for b in members if b.client_id]
            for sender in live:
                if sender.seq == 0:
                    continue
                times = np.frombuffer(sender.sent_ms, dtype=np.float64)
                window = (times >= self.measure_from_ms) & (times <= self.measure_to_ms)
                in_window = np.nonzero(window)[0]
                if in_window.size == 0:
                    continue
                lo, hi = int(in_window[0]), int(in_window[-1])
                for receiver in live:
                    if receiver is sender:
                        continue
                    final_pairs += 1
                    received = receiver.seen.get(sender.id)
                    arrived = np.full(sender.seq + 1, np.nan)
                    if received is not None:
                        m = min(len(received), sender.seq + 1)
                        arrived[:m] = np.frombuffer(received, dtype=np.float64, count=m)
                    got = ~np.isnan(arrived)
                    if got[sender.seq]:
                        final_ok += 1
                    span = got[lo : hi + 1]
                    expected += span.size
                    direct += int(span.sum())
                    # next received seq strictly after each position
                    big = sender.seq + 1
                    idx = np.where(got, np.arange(got.size), big)
                    nxt = np.minimum.accumulate(idx[::-1])[::-1]
                    nxt_after = np.append(nxt[1:], big)[lo : hi + 1]
                    missing = ~span
                    if missing.any():
                        cand = nxt_after[missing]
                        ok = cand < big
                        gaps = np.full(cand.shape, np.inf)
                        seqs = np.arange(lo, hi + 1)[missing]
                        gaps[ok] = arrived[cand[ok]] - times[seqs[ok]]
                        excused += int((gaps < limit_ms).sum())
        return {
            "expected": expected,
            "received": direct,
            "coalesced": excused,
            "final_pairs": final_pairs,
            "final_delivered": final_ok,
        }

    def judge_drain(self) -> dict[str, Any]:
        """Room by room: every chat a bot should have seen (numbered after its Welcome) and did
        not, live or in a Resumed; every event another bot of the room saw and this one did not;
        the Chats never answered, split into those the room saw (the sender alone missed its
        own) and those nobody saw (dropped with the socket they were sent on)."""
        missed_echoed = missed_posted = 0
        seq_gaps: Counter[str] = Counter()
        unanswered_posted = unanswered_lost = 0
        for room, members in self.rooms.items():
            posted = self.room_chats[room]
            by_text = {(sender, text) for sender, text, _ in posted.values()}
            live = [b for b in members if b.client_id]
            echoed = {
                cid
                for b in live
                for cid, (sender, _, _) in posted.items()
                if sender == b.client_id and cid in b.chat_ids
            }
            events = self.room_events[room]
            for bot in live:
                for cid, (sender, text, seq) in posted.items():
                    if seq > bot.join_seq and cid not in bot.chat_ids:
                        if cid in echoed:
                            missed_echoed += 1
                        else:
                            missed_posted += 1
                        self.anomaly(
                            "chat missed",
                            f"{bot.name} ({bot.client_id}, joined at seq {bot.join_seq}) "
                            f"never got chat {cid} seq {seq} {text!r} of {sender}",
                        )
                gaps = sorted(s for s in events if s > bot.join_seq and s not in bot.event_seqs)
                for seq in gaps:
                    kind, sender, first = events[seq]
                    phase = "joining" if first < self.plan.measure_at else "measured"
                    seq_gaps[phase] += 1
                    base = bot.join_seq
                    if phase == "joining":
                        order = ", ".join(f"+{s - base}" for s in bot.arrivals)
                        story = f"its first events came as {order}"
                    else:
                        drop = bot.dropped_at - self.plan.epoch if bot.dropped_at else 0.0
                        last = ", ".join(f"+{s - base} t={t:.2f}" for s, t in bot.before_drop)
                        story = (
                            f"dropped at t={drop:.2f}, its Resume's last_seq "
                            f"+{bot.resume_last_seq - base}, its last events before the drop "
                            f"came as {last}; Resumed.seq +{bot.resumed_seq - base}, missed "
                            f"{[s - base for s in bot.missed_seqs]}, then live "
                            f"{[s - base for s in bot.after_resume]}"
                            if bot.dropped_at
                            else "never dropped"
                        )
                    where = (
                        f"resumed at t={bot.resumed_t:.2f}"
                        if bot.resumed_t
                        else ("never dropped" if not bot.dropped_at else "dropped, not resumed")
                    )
                    self.anomaly(
                        f"event a bot never got ({kind}, {phase})",
                        f"{bot.name} (Welcome seq {base}, {where}) never got {kind} seq "
                        f"+{seq - base} of {sender[:8]} that its room first saw at "
                        f"t={first:.2f}; {story}",
                    )
                for text in bot.pending_chats if bot.dropped_at else ():
                    if (bot.client_id, text) in by_text:
                        unanswered_posted += 1
                    else:
                        unanswered_lost += 1
        return {
            "chats_posted": sum(len(c) for c in self.room_chats.values()),
            "chats_missed": missed_echoed,
            "chats_missed_any": missed_echoed + missed_posted,
            "event_seq_gaps": seq_gaps["measured"],
            "event_seq_gaps_joining": seq_gaps["joining"],
            "chats_unanswered_posted": unanswered_posted,
            "chats_unanswered_lost": unanswered_lost,
        }

    # --- the whole run ---------------------------------------------------------------------

    async def main(self) -> dict[str, Any]:
        plan = self.plan
        stop_pings = asyncio.Event()
        pinger = asyncio.create_task(self.ping_idle(stop_pings)) if plan.idle else None
        joined = await self.connect_all()
        emit({"event": "joined", "joined": joined, "bots": len(self.bots), "t": self.now()})
        if plan.wait_go:
            go = await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
            if not go:
                raise SystemExit("no go line on stdin")
            self.retime(**json.loads(go))
        if pinger is not None:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
            stop_pings.set()
            await pinger
            cpu, frames_window, bytes_window = None, 0, 0
        else:
            chats = asyncio.create_task(self.send_chats())
            sender = asyncio.create_task(self.send_updates())
            await self.sleep_until(plan.measure_at)
            # The last joiners' PlayerJoined may still be on its way at the go line; by now
            # one is news (a resume that joined anew, say).
            self.everyone_joined = True
            cpu_start, wall_start = _cpu_seconds(), time.monotonic()
            frames_start, bytes_start = self.frames.total(), self.wire_bytes
            await sender
            cpu = (_cpu_seconds() - cpu_start) / max(1e-9, time.monotonic() - wall_start)
            frames_window = self.frames.total() - frames_start
            bytes_window = self.wire_bytes - bytes_start
            await chats
            await self.sleep_until(plan.stop_at + plan.final_wait)
        self.finished = True
        delivery = self.judge_delivery() if not plan.idle else {}
        drain = self.judge_drain() if plan.drain else {}
        for bot in self.bots:
            if plan.drain and bot.dropped_at:
                continue  # sent on a socket that was drained: judge_drain counts them
            for _ in bot.pending_chats:
                self.error("chat never echoed")
        for bot in self.bots:
            bot.closing = True
            if bot.transport is not None:
                bot.transport.send_close()
                bot.transport.disconnect()
        await asyncio.sleep(0.05)
        return {
            "event": "result",
            "bots": len(self.bots),
            "joined": joined,
            "updates_sent": self.updates_sent,
            "states_received": len(self.ages),
            "frames": dict(self.frames),
            "frames_window": frames_window,
            "bytes_window": bytes_window,
            "age_hist": _bin(self.ages),
            "lateness_hist": _bin(self.lateness),
            "chat_rtt_ms": self.chat_rtt_ms,
            "chats_sent": sum(b.chats_sent for b in self.bots),
            "errors": self.errors,
            "error_samples": dict(self.error_samples),
            "delivery": delivery,
            "cpu": cpu,
            **(self.drain_result(drain) if plan.drain else {}),
        }

    def drain_result(self, judged: dict[str, Any]) -> dict[str, Any]:
        return {
            "drain": {
                **judged,
                "drops": len(self.drops),
                "drop_times": self.drops,
                "drop_reasons": dict(self.drop_reasons),
                "resumed": len(self.resume_ms),
                "resumed_times": self.resumed_at,
                "resume_ms": self.resume_ms,
                "resume_rtt_ms": self.resume_rtt_ms,
                "resumes": self.resumes,
                "recovered": self.recovered,
                "missed_events": self.missed_events,
                "resume_failures": dict(self.resume_failures),
                "anomalies": dict(self.anomalies),
                "samples": self.samples,
                "age_slices": _bin_slices(self.ages, self.age_sent_ms, self.plan.age_slice_ms),
            }
        }


def _bin(values: array.array[float]) -> dict[str, int]:
    """0.1 ms bins as a sparse {bin: count} map (mergeable across generator processes)."""
    if not values:
        return {}
    bins = np.minimum(
        (np.frombuffer(values, dtype=np.float64).clip(min=0) * 10).astype(np.int64), HIST_BINS - 1
    )
    index, counts = np.unique(bins, return_counts=True)
    return {str(int(i)): int(n) for i, n in zip(index, counts, strict=True)}


def _brief(msg: _Frame | _Event) -> str:
    """An event frame as the bot decoded it, without the fields it does not carry."""
    fields = {"type": msg.type, "client_id": msg.client_id, "seq": msg.seq}
    if msg.id:
        fields |= {"id": msg.id, "message": msg.message}
    return json.dumps(fields)


def _bin_slices(
    ages: array.array[float], sent_ms: array.array[float], slice_ms: float
) -> list[list[int]]:
    """[slice, bin, count] triples: ages in 0.1 ms bins per `slice_ms` of send time, so the
    parent can take the percentiles of any window (the handover's) after the run."""
    if not ages:
        return []
    age = np.frombuffer(ages, dtype=np.float64)
    sent = np.frombuffer(sent_ms, dtype=np.float64)[: age.size]
    bins = np.minimum((age.clip(min=0) * 10).astype(np.int64), HIST_BINS - 1)
    slices = (sent // slice_ms).astype(np.int64)
    keys, counts = np.unique(slices * HIST_BINS + bins, return_counts=True)
    return [
        [int(k // HIST_BINS), int(k % HIST_BINS), int(n)] for k, n in zip(keys, counts, strict=True)
    ]


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def emit(event: dict[str, Any]) -> None:
    """One JSON line to the parent. Written with os.write until done: after uvloop has run,
    a large sys.stdout.write() to the pipe was cut at 64 KiB without an error (seen here)."""
    view = memoryview((json.dumps(event) + "\n").encode())
    while view:
        try:
            view = view[os.write(1, view) :]
        except BlockingIOError:
            select.select([], [1], [], 1.0)


def main() -> None:
    plan = Plan.from_json(json.loads(sys.stdin.readline()))
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    # Ahead of the server in the CPU queue: on a shared 2-core box the bots must not be what
    # is late (production clients use no server CPU at all). Needs root; skipped otherwise.
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, 0, GENERATOR_NICE)
    run = Run(plan)
    emit(uvloop.run(run.main()))


if __name__ == "__main__":
    main()
