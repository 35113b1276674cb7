"""Ladders of steps (product, baseline, two processes), the idle-memory run, and py-spy.

Every step gets fresh server processes on a flushed Redis, so one step's leftovers (players a
failed leave did not remove, a wedged loop) cannot decide the next one; the server log's ERROR
lines of each step are counted and shown.
"""

from __future__ import annotations

import collections
import functools
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import PRODUCT_APP, Backing, FanoutServer, Server
from bench.step import StepSpec, Timing, read_events, run_step, start_generators

STEP_OVERHEAD_S = 12.0  # server start, connect ramp, warm-up and teardown around the measured part
IDLE_CONNECT_GRACE = 60.0  # idle bots still queued this long after the ramp give up


@dataclass
class Budget:
    """Wall-clock budget of a whole run: a step that would not fit is skipped, and says so."""

    seconds: float
    started: float = field(default_factory=time.monotonic)

    def left(self) -> float:
        return self.seconds - (time.monotonic() - self.started)

    def fits(self, seconds: float) -> bool:
        return self.left() >= seconds


def log_errors(path: Path, offset: int) -> tuple[int, list[str]]:
    """ERROR lines a server wrote since `offset`: JSON logs (production) or text (DEBUG)."""
    with open(path, "rb") as log:
        log.seek(offset)
        lines = log.read().decode(errors="replace").splitlines()
    kinds: collections.Counter[str] = collections.Counter()
    for line in lines:
        if line.startswith("{"):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if str(entry.get("level", "")).lower() not in ("error", "critical"):
                continue
            last = (entry.get("exception") or "").strip().splitlines()[-1:] or [""]
            kinds[f"{entry.get('message', '')}: {last[0]}"[:140]] += 1
        elif " ERROR " in line or " CRITICAL " in line:
            kinds[" ".join(line.split()[3:])[:140]] += 1
    return sum(kinds.values()), [f"{n}x {text}" for text, n in kinds.most_common(3)]


def run_ladder(
    backing: Backing,
    steps: list[StepSpec],
    *,
    kind: str,
    app: str,
    servers: int,
    timing: Timing,
    log_dir: Path,
    budget: Budget,
    on_record: Callable[[dict[str, Any]], None],
    stop_on_failure: bool = True,
) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    for number, spec in enumerate(steps, 1):
        if not budget.fits(timing.duration + STEP_OVERHEAD_S + spec.players / 100):
            print(f"  ({kind} {spec.label}: skipped, the run's time budget is spent)")
            break
        step = functools.partial(
            run_one,
            backing,
            spec,
            kind=kind,
            app=app,
            servers=servers,
            timing=timing,
            log_dir=log_dir,
            step_no=number,
        )
        record = step()
        records.append(record)
        on_record(record)
        if _only_generator_failed(record) and budget.fits(timing.duration + STEP_OVERHEAD_S):
            # Inconclusive, usually a burst of other work on the box: one more try, then stop.
            print(f"  ({kind} {spec.label}: generator fell behind; running the step again)")
            record = step()
            record["retry"] = True
            records.append(record)
            on_record(record)
        if stop_on_failure and not record["passed"]:
            break
    return records


def _only_generator_failed(record: dict[str, Any]) -> bool:
    return not record["passed"] and not record["generator_ok"] and len(record["reasons"]) == 1


def run_one(
    backing: Backing,
    spec: StepSpec,
    *,
    kind: str,
    app: str,
    servers: int,
    timing: Timing,
    log_dir: Path,
    step_no: int,
    on_steady: Callable[[list[Server]], Callable[[float], None]] | None = None,
) -> dict[str, Any]:
    backing.flush_redis()
    procs = [
        Server.start(backing, app=app, log_dir=log_dir, deflate=timing.deflate)
        for _ in range(servers)
    ]
    offsets = [p.log_path.stat().st_size for p in procs]
    try:
        record = run_step(
            spec,
            procs,
            backing,
            timing=timing,
            kind=kind,
            step_no=step_no,
            on_steady=on_steady(procs) if on_steady else None,
        )
    finally:
        for p in procs:
            p.stop()
    counts = [log_errors(p.log_path, off) for p, off in zip(procs, offsets, strict=True)]
    record["server_log_errors"] = sum(n for n, _ in counts)
    record["server_log_samples"] = [s for _, samples in counts for s in samples][:3]
    return record


def run_smoke(backing: Backing, *, log_dir: Path, rate: float = 20.0) -> dict[str, Any]:
    """5 seconds, 1 room x 4 players, one product server: does the whole chain work?"""
    timing = Timing(duration=5.0, rate=rate, chat_period=2.5, warmup=1.0)
    return run_one(
        backing,
        StepSpec(1, 4),
        kind="product",
        app=PRODUCT_APP,
        servers=1,
        timing=timing,
        log_dir=log_dir,
        step_no=1,
    )


# --- the generator alone -----------------------------------------------------------------------


def run_gencheck(
    steps: list[StepSpec],
    *,
    timing: Timing,
    log_dir: Path,
    on_record: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """The generator against bench.fanout: its own CPU and lateness where no server limits it."""
    records = []
    for number, spec in enumerate(steps, 1):
        server = FanoutServer.start_fanout(log_dir=log_dir)
        try:
            record = run_step(spec, [server], None, timing=timing, kind="gencheck", step_no=number)
        finally:
            server.stop()
        record["server_log_errors"] = 0
        records.append(record)
        on_record(record)
    return records


# --- idle connections ---------------------------------------------------------------------------


def run_idle(
    backing: Backing, *, connections: int, per_room: int, log_dir: Path, app: str
) -> dict[str, Any]:
    """Server RSS before any socket and after `connections` joined players that stay quiet."""
    backing.flush_redis()
    server = Server.start(backing, app=app, log_dir=log_dir)
    try:
        time.sleep(1.0)
        rss_before = server.ps.memory_info().rss
        workers = max(1, min(4, connections // 1000))
        bots = [
            {"id": i, "room": f"idle-r{i // per_room}", "url": server.url}
            for i in range(connections)
        ]
        groups = [
            [b for b in bots if (int(b["room"].split("r")[-1]) % workers) == w]
            for w in range(workers)
        ]
        epoch = time.monotonic()
        ramp = max(2.0, connections / 200)
        plans = [
            {
                "epoch": epoch,
                "bots": group,
                "connect_at": 1.0,
                "ramp": ramp,
                "updates_at": 1e9,
                "measure_at": 1e9,
                "stop_at": 1e9,
                "idle": True,
                "connect_deadline": ramp + IDLE_CONNECT_GRACE,
            }
            for group in groups
        ]
        gens = start_generators(plans, keep_stdin=True)
        started = time.monotonic()
        try:
            joined = sum(
                read_events(g, "joined", timeout=ramp + IDLE_CONNECT_GRACE + 60)["joined"]
                for g in gens
            )
            join_seconds = time.monotonic() - started - 1.0
            time.sleep(2.0)  # let the last PlayerJoined fan-out and allocator settle
            rss_after = server.ps.memory_info().rss
            server_cpu = server.ps.cpu_percent(interval=1.0)
            for g in gens:
                assert g.stdin is not None
                g.stdin.close()
            results = [read_events(g, "result", timeout=60) for g in gens]
        finally:
            for g in gens:
                if g.poll() is None:
                    g.wait(10) if g.stdin and g.stdin.closed else g.kill()
    finally:
        server.stop()
    errors = sum(r["errors"] for r in results)
    per_conn_kb = (rss_after - rss_before) / max(1, joined) / 1024
    return {
        "kind": "idle",
        "connections": connections,
        "joined": joined,
        "errors": errors,
        "error_samples": {k: v for r in results for k, v in r["error_samples"].items()},
        "join_seconds": join_seconds,
        "rss_before_mb": rss_before / 2**20,
        "rss_after_mb": rss_after / 2**20,
        "kb_per_connection": per_conn_kb,
        "mb_per_1000": per_conn_kb * 1000 / 1024,
        "idle_server_cpu_pct": server_cpu,
    }


# --- py-spy -------------------------------------------------------------------------------------


@dataclass
class Profile:
    raw_path: Path
    native: bool = False  # --native also shows idle threads parked in C as busy: not useful here
    proc: subprocess.Popen[bytes] | None = None

    def attach(self, servers: list[Server]) -> Callable[[float], None]:
        def start(duration: float) -> None:
            seconds = max(2, int(duration) - 2)
            mode = ["--native"] if self.native else ["--nonblocking", "--gil"]
            self.proc = subprocess.Popen(
                [
                    py_spy_binary(),
                    "record",
                    "--format",
                    "raw",
                    *mode,
                    "--rate",
                    "100",
                    "--duration",
                    str(seconds),
                    "--pid",
                    str(servers[0].proc.pid),
                    "--output",
                    str(self.raw_path),
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )

        return start

    def top(self, n: int = 5) -> dict[str, Any]:
        if self.proc is not None:
            _, err = self.proc.communicate(timeout=60)
            if self.proc.returncode != 0 and not self.raw_path.exists():
                raise RuntimeError(f"py-spy failed: {err.decode(errors='replace')[-500:]}")
        return top_frames(self.raw_path, n)


def py_spy_binary() -> str:
    """py-spy from the venv that runs the bench (make bench does not activate it), else PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    found = shutil.which("py-spy")
    if found is None:
        raise RuntimeError("py-spy not found: pip install -r requirements-dev.txt")
    return found


def top_frames(raw_path: Path, n: int = 5) -> dict[str, Any]:
    """py-spy's raw (collapsed) stacks -> the top frames by own and by total samples."""
    own: collections.Counter[str] = collections.Counter()
    total: collections.Counter[str] = collections.Counter()
    samples = 0
    for line in raw_path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        weight = int(count)
        samples += weight
        frames = stack.split(";")
        own[frames[-1]] += weight
        for frame in set(frames):
            total[frame] += weight
    return {
        "samples": samples,
        "own": [(f, c, 100 * c / samples) for f, c in own.most_common(n)] if samples else [],
        "total": [
            (f, c, 100 * c / samples)
            for f, c in total.most_common(n + 12)
            if not _is_frame_of_every_stack(f)
        ][:n]
        if samples
        else [],
    }


def _is_frame_of_every_stack(frame: str) -> bool:
    """The event loop's outer frames are in every sample and say nothing; skip them in 'total'."""
    boring = (
        "<module> (manage.py",
        "main (manage.py",
        "execute_from_command_line",
        "ManagementUtility.execute",
        "BaseCommand.",
        "Command.handle (signight",
        "Server.run (uvicorn",
        "asyncio_run (uvicorn",
        "Runner.run (asyncio",
        "run (asyncio/runners",
        "BaseEventLoop.run_until_complete",
        "run_until_complete",
        "run_forever",
        "_run_once",
        "Handle._run",
        "_run (asyncio/events",
        "process ",
    )
    return any(b in frame for b in boring)
