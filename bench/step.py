"""One step of a ladder: R rooms x P players against one or more servers, and its verdict.

The parent plans the timeline on a shared CLOCK_MONOTONIC epoch, starts the generator processes
(bench.loadgen), samples the CPU of the servers, Redis, SecantusDB and the generators over the
measured window with psutil, then merges what the generators saw and judges the step.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import psutil

from bench.servers import REPO, Backing, Server

# A step passes only when all of these hold (bench/README.md, "Pass criteria").
P99_AGE_LIMIT_MS = 100.0
DELIVERY_MIN = 0.999
# The generator kept up: its sends were on time and no generator process was near a full core.
LATENESS_P99_LIMIT_MS = 10.0
GENERATOR_CPU_LIMIT = 0.90

BOTS_PER_WORKER = 200  # measured: bench/README.md, "Generator"
MAX_WORKERS = 3


@dataclass(frozen=True)
class StepSpec:
    rooms: int
    per_room: int

    @property
    def players(self) -> int:
        return self.rooms * self.per_room

    @property
    def label(self) -> str:
        return f"{self.rooms}x{self.per_room}"

    @classmethod
    def parse(cls, text: str) -> StepSpec:
        rooms, per_room = text.lower().split("x")
        return cls(int(rooms), int(per_room))


@dataclass(frozen=True)
class Timing:
    duration: float = 20.0  # measured, steady
    rate: float = 20.0  # Updates per second per bot
    chat_period: float = 10.0
    warmup: float = 2.0  # Updates flowing, not measured
    final_wait: float = 0.5
    tick_rate: float = 20.0  # the server's TICK_RATE (its default), for the delivery judge
    gen_procs: int = 0  # generator processes; 0 = workers_for(players)
    deflate: bool = False  # servers with WS_PER_MESSAGE_DEFLATE=1, bots offering the extension


def workers_for(players: int) -> int:
    return max(1, min(MAX_WORKERS, math.ceil(players / BOTS_PER_WORKER)))


def percentile(hist: dict[int, int], q: float, bin_ms: float = 0.1) -> float | None:
    """Upper edge of the bin holding the q-quantile (conservative by at most one bin)."""
    total = sum(hist.values())
    if not total:
        return None
    rank = q * total
    seen = 0
    for index in sorted(hist):
        seen += hist[index]
        if seen >= rank:
            return (index + 1) * bin_ms
    return None


def merge_hist(parts: list[dict[str, int]]) -> dict[int, int]:
    merged: Counter[int] = Counter()
    for part in parts:
        for key, count in part.items():
            merged[int(key)] += count
    return dict(merged)


def plan_bots(
    spec: StepSpec, servers: list[Server], *, first_id: int, prefix: str, workers: int
) -> list[list[dict[str, Any]]]:
    """Whole rooms per generator process; within a room, bots alternate between servers."""
    per_worker: list[list[dict[str, Any]]] = [[] for _ in range(workers)]
    bot_id = first_id
    for r in range(spec.rooms):
        room = f"{prefix}-r{r}"
        for j in range(spec.per_room):
            server = servers[j % len(servers)]
            per_worker[r % workers].append({"id": bot_id, "room": room, "url": server.url})
            bot_id += 1
    return [bots for bots in per_worker if bots]


class Sampler:
    """CPU seconds and RSS of a set of processes, between two instants."""

    def __init__(self, procs: dict[str, psutil.Process]) -> None:
        self.procs = procs
        self.start: dict[str, float] = {}
        self.wall = 0.0

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        try:
            times = proc.cpu_times()
            return times.user + times.system
        except psutil.Error:
            return math.nan

    def begin(self) -> None:
        self.wall = time.monotonic()
        self.start = {name: self._cpu(p) for name, p in self.procs.items()}

    def end(self) -> dict[str, float]:
        wall = time.monotonic() - self.wall
        return {name: (self._cpu(p) - self.start[name]) / wall for name, p in self.procs.items()}


def start_generators(
    plans: list[dict[str, Any]], *, keep_stdin: bool = False
) -> list[subprocess.Popen[str]]:
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    procs = []
    for plan in plans:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bench.loadgen"],
            cwd=REPO,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(json.dumps(plan) + "\n")
        proc.stdin.flush()
        if not keep_stdin:
            proc.stdin.close()
        procs.append(proc)
    return procs


def read_events(proc: subprocess.Popen[str], until: str, timeout: float) -> dict[str, Any]:
    """Read a generator's JSON lines until an event named `until`; raise if it dies first."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"generator {proc.pid} exited ({proc.wait()}) before {until!r}")
        event = json.loads(line)
        if event.get("event") == until:
            return event
    raise TimeoutError(f"generator {proc.pid}: no {until!r} within {timeout}s")


def run_step(
    spec: StepSpec,
    servers: list[Server],
    backing: Backing | None,
    *,
    timing: Timing,
    kind: str,
    step_no: int,
    workers: int | None = None,
    on_steady: Any = None,
) -> dict[str, Any]:
    """Run one step and return its record (what the table, JSON lines and plot show)."""
    started = time.monotonic()
    workers = workers or timing.gen_procs or workers_for(spec.players)
    prefix = f"{kind}-{step_no}-{int(time.time() * 1000) % 10**8}"
    groups = plan_bots(spec, servers, first_id=0, prefix=prefix, workers=workers)
    ramp = max(1.0, spec.players / 150)
    epoch = time.monotonic()
    far = 1e9  # the Update schedule is sent once every bot has joined
    plans = [
        {
            "epoch": epoch,
            "bots": bots,
            "rate": timing.rate,
            "chat_period": timing.chat_period,
            "connect_at": 1.0,
            "ramp": ramp,
            "updates_at": far,
            "measure_at": far,
            "stop_at": far,
            "final_wait": timing.final_wait,
            "fresh_ms": P99_AGE_LIMIT_MS,
            "tick_ms": 1000.0 / timing.tick_rate,
            "wait_go": True,
            "deflate": timing.deflate,
        }
        for bots in groups
    ]
    gens = start_generators(plans, keep_stdin=True)
    try:
        joined = [read_events(g, "joined", timeout=ramp + 90) for g in gens]
        join_seconds = max(e["t"] for e in joined) - 1.0
        updates_at = time.monotonic() - epoch + 0.3
        measure_at = updates_at + timing.warmup
        stop_at = measure_at + timing.duration
        go = json.dumps({"updates_at": updates_at, "measure_at": measure_at, "stop_at": stop_at})
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(go + "\n")
            g.stdin.close()
        procs = {f"server{i}": s.ps for i, s in enumerate(servers)}
        if backing is not None:
            procs |= {name: psutil.Process(pid) for name, pid in backing.pids().items()}
        procs |= {f"gen{i}": psutil.Process(g.pid) for i, g in enumerate(gens)}
        sampler = Sampler(procs)
        sleep_until(epoch + measure_at)
        sampler.begin()
        system_start = psutil.cpu_times()
        if on_steady is not None:
            on_steady(timing.duration)
        sleep_until(epoch + stop_at)
        cpu = sampler.end()
        system = system_busy(system_start, psutil.cpu_times())
        rss = {name: rss_of(p) for name, p in procs.items() if name.startswith("server")}
        results = [read_events(g, "result", timeout=60 + spec.players / 20) for g in gens]
        for g in gens:
            g.wait(10)
    finally:
        for g in gens:
            if g.poll() is None:
                g.kill()
                g.wait(5)
    record = summarize(
        spec,
        results,
        cpu=cpu,
        rss=rss,
        system=system,
        timing=timing,
        servers=len(servers),
        kind=kind,
    )
    record["join_seconds"] = join_seconds
    record["step_seconds"] = time.monotonic() - started
    return record


def summarize(
    spec: StepSpec,
    results: list[dict[str, Any]],
    *,
    cpu: dict[str, float],
    rss: dict[str, int],
    system: float,
    timing: Timing,
    servers: int,
    kind: str,
) -> dict[str, Any]:
    duration = timing.duration
    age = merge_hist([r["age_hist"] for r in results])
    lateness = merge_hist([r["lateness_hist"] for r in results])
    chat = sorted(x for r in results for x in r["chat_rtt_ms"])
    delivery: Counter[str] = Counter()
    for r in results:
        delivery.update(r["delivery"])
    errors = sum(r["errors"] for r in results)
    error_samples: Counter[str] = Counter()
    for r in results:
        error_samples.update(r["error_samples"])
    joined = sum(r["joined"] for r in results)
    updates = sum(r["updates_sent"] for r in results)
    expected = delivery["expected"]
    delivered_ratio = (delivery["received"] + delivery["coalesced"]) / expected if expected else 0.0
    server_cpu = sum(v for k, v in cpu.items() if k.startswith("server"))
    gen_cpu = [r["cpu"] for r in results]
    p99 = percentile(age, 0.99)
    late_p99 = percentile(lateness, 0.99)
    # No sends measured (nobody joined) leaves nothing to judge the generator by: not "behind".
    generator_ok = (late_p99 is None or late_p99 <= LATENESS_P99_LIMIT_MS) and max(
        gen_cpu
    ) < GENERATOR_CPU_LIMIT
    reasons = []
    if p99 is None or p99 >= P99_AGE_LIMIT_MS:
        reasons.append(f"p99 age {p99} ms")
    if errors:
        reasons.append(f"{errors} errors")
    if joined < spec.players:
        reasons.append(f"{spec.players - joined} not joined")
    if delivered_ratio < DELIVERY_MIN:
        reasons.append(f"delivery {delivered_ratio:.4%}")
    if delivery["final_delivered"] < delivery["final_pairs"]:
        reasons.append(f"final states {delivery['final_delivered']}/{delivery['final_pairs']}")
    if not generator_ok:
        reasons.append(f"GENERATOR BEHIND (lateness p99 {late_p99} ms, cpu {max(gen_cpu):.0%})")
    return {
        "kind": kind,
        "servers": servers,
        "step": spec.label,
        "rooms": spec.rooms,
        "per_room": spec.per_room,
        "players": spec.players,
        "duration_s": duration,
        "joined": joined,
        "updates_in_per_s": updates / duration,
        "states_delivered_per_s": sum(r["states_received"] for r in results) / duration,
        "frames_out_per_s": sum(r["frames_window"] for r in results) / duration,
        "kbytes_out_per_s": sum(r.get("bytes_window", 0) for r in results) / duration / 1000,
        "age_p50_ms": percentile(age, 0.50),
        "age_p95_ms": percentile(age, 0.95),
        "age_p99_ms": p99,
        "age_max_ms": (max(age) + 1) * 0.1 if age else None,
        "chat_rtt_p99_ms": chat[min(len(chat) - 1, int(0.99 * len(chat)))] if chat else None,
        "chats": len(chat),
        "errors": errors,
        "error_samples": dict(error_samples.most_common(10)),
        "delivery_ratio": delivered_ratio,
        "delivery_direct_ratio": delivery["received"] / expected if expected else 0.0,
        "delivery": dict(delivery),
        "final_ok": delivery["final_delivered"] == delivery["final_pairs"],
        "server_cpu_pct": 100 * server_cpu,
        "server_cpu_each_pct": [100 * v for k, v in sorted(cpu.items()) if k.startswith("server")],
        "redis_cpu_pct": 100 * cpu.get("redis", 0.0),
        "mongo_cpu_pct": 100 * cpu.get("mongo", 0.0),
        "server_rss_mb": sum(rss.values()) / 2**20,
        "cpu_us_per_update": 1e6 * server_cpu * duration / updates if updates else None,
        "generator_cpu_pct": [100 * c for c in gen_cpu],
        "generator_workers": len(results),
        "lateness_p99_ms": late_p99,
        "machine_busy_pct": system,
        # CPU of processes outside the bench (e.g. a test run) in % of one core: noise to watch.
        "other_cpu_pct": max(0.0, system * (psutil.cpu_count() or 1) - 100 * sum(cpu.values())),
        "generator_ok": generator_ok,
        "passed": not reasons,
        "reasons": reasons,
    }


def rss_of(proc: psutil.Process) -> int:
    try:
        return proc.memory_info().rss
    except psutil.Error:
        return 0


def system_busy(start: Any, end: Any) -> float:
    """Busy share of the whole machine (both cores) over the window, in percent."""
    idle = (end.idle + getattr(end, "iowait", 0)) - (start.idle + getattr(start, "iowait", 0))
    total = sum(end) - sum(start)
    return 100.0 * (1 - idle / total) if total else 0.0


def sleep_until(t: float) -> None:
    delay = t - time.monotonic()
    if delay > 0:
        time.sleep(delay)
