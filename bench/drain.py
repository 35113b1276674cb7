"""Drain mode (issue 13): two servers, one gets SIGTERM mid-run, every bot resumes on the other.

R rooms x P bots, each room split across servers A and B (bots alternate), Updates at `rate` Hz
and Chats as in a ladder step. `lead` seconds into the measured window A gets SIGTERM; it runs
with SHUTDOWN_DRAIN_SECONDS=`seconds`, so it closes each socket with 1001 at its own moment of
the drain, and each of its bots reconnects to B after a random jitter and sends Resume first.
The run then goes on past the resume grace, so a player wrongly left away would be seen leaving.
"""

from __future__ import annotations

import dataclasses
import json
import math
import signal
import subprocess
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.ladder import log_errors
from bench.servers import PRODUCT_APP, Backing, Server
from bench.step import (
    P99_AGE_LIMIT_MS,
    Sampler,
    StepSpec,
    Timing,
    percentile,
    plan_bots,
    read_events,
    rss_of,
    sleep_until,
    start_generators,
    summarize,
    system_busy,
    workers_for,
)

SERVER_RESUME_GRACE = 20  # RESUME_GRACE_SECONDS' default in signight/settings.py
AFTER_GRACE = 5.0  # the run outlasts drain + grace by this much: the housekeeping runs each second
AGE_SLICE_MS = 250.0  # the generators keep state ages per this much send time (handover window)


@dataclass(frozen=True)
class Drain:
    """How the handover is staged."""

    seconds: float = 5.0  # A's SHUTDOWN_DRAIN_SECONDS: its 1001 closes are spread over it
    lead: float = 5.0  # measured seconds before A gets SIGTERM
    resume_jitter: float = 0.25  # a bot waits uniform(0, this) between its close and reconnect
    grace: int | None = None  # RESUME_GRACE_SECONDS of both servers; None: theirs (20 s)
    tail: float = 5.0  # the handover window ends this long after the last Resumed


def run_drain(
    backing: Backing,
    spec: StepSpec,
    *,
    timing: Timing,
    drain: Drain,
    log_dir: Path,
    step_no: int = 1,
) -> dict[str, Any]:
    """Start A and B on the backing's Redis and database, run the handover, judge it."""
    backing.flush_redis()
    grace = {} if drain.grace is None else {"RESUME_GRACE_SECONDS": str(drain.grace)}
    a = Server.start(
        backing,
        app=PRODUCT_APP,
        log_dir=log_dir,
        env={**grace, "SHUTDOWN_DRAIN_SECONDS": f"{drain.seconds:g}"},
    )
    try:
        b = Server.start(backing, app=PRODUCT_APP, log_dir=log_dir, env=grace)
    except BaseException:
        a.stop()
        raise
    servers = [a, b]
    offsets = [s.log_path.stat().st_size for s in servers]
    try:
        record = _handover(spec, a, b, backing, timing=timing, drain=drain, step_no=step_no)
    finally:
        for s in servers:
            s.stop()
    counts = [log_errors(s.log_path, off) for s, off in zip(servers, offsets, strict=True)]
    record["server_log_errors"] = sum(n for n, _ in counts)
    record["server_log_samples"] = [s for _, samples in counts for s in samples][:3]
    return record


def _handover(
    spec: StepSpec,
    a: Server,
    b: Server,
    backing: Backing,
    *,
    timing: Timing,
    drain: Drain,
    step_no: int,
) -> dict[str, Any]:
    started = time.monotonic()
    grace = drain.grace if drain.grace is not None else _server_grace(backing)
    workers = timing.gen_procs or workers_for(spec.players)
    prefix = f"drain-{step_no}-{int(time.time() * 1000) % 10**8}"
    groups = plan_bots(spec, [a, b], first_id=0, prefix=prefix, workers=workers)
    for bots in groups:
        for bot in bots:
            bot["resume_url"] = b.url  # A is the one drained
    on_a = sum(bot["url"] == a.url for bots in groups for bot in bots)
    ramp = max(1.0, spec.players / 150)
    epoch = time.monotonic()
    far = 1e9  # the schedule is sent once every bot has joined
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
            "drain": True,
            "resume_jitter": drain.resume_jitter,
            "age_slice_ms": AGE_SLICE_MS,
        }
        for bots in groups
    ]
    gens = start_generators(plans, keep_stdin=True)
    try:
        joined = [read_events(g, "joined", timeout=ramp + 90) for g in gens]
        join_seconds = max(e["t"] for e in joined) - 1.0
        updates_at = time.monotonic() - epoch + 0.3
        measure_at = updates_at + timing.warmup
        sigterm_at = measure_at + drain.lead
        # Past the drain and the grace: a player left away by mistake would leave in view.
        measured = max(timing.duration, drain.lead + drain.seconds + grace + AFTER_GRACE)
        stop_at = measure_at + measured
        go = {"updates_at": updates_at, "measure_at": measure_at, "stop_at": stop_at}
        for g in gens:
            assert g.stdin is not None
            g.stdin.write(json.dumps(go) + "\n")
            g.stdin.close()
        others = {name: psutil.Process(pid) for name, pid in backing.pids().items()}
        others |= {f"gen{i}": psutil.Process(g.pid) for i, g in enumerate(gens)}
        whole = Sampler({"server_b": b.ps, **others})
        before = Sampler({"server_a": a.ps, "server_b": b.ps})
        after = Sampler({"server_b": b.ps})
        sleep_until(epoch + measure_at)
        whole.begin()
        before.begin()
        system_start = psutil.cpu_times()
        sleep_until(epoch + sigterm_at)
        cpu_before = before.end()
        a.proc.send_signal(signal.SIGTERM)
        sigterm_t = time.monotonic() - epoch
        a_exit = _wait_exit(a.proc, drain.seconds + 30)
        a_exit_t = time.monotonic() - epoch
        sleep_until(epoch + sigterm_at + drain.seconds + 1.0)
        after.begin()
        sleep_until(epoch + stop_at)
        cpu_after = after.end()
        cpu = whole.end()
        system = system_busy(system_start, psutil.cpu_times())
        rss = {"server_b": rss_of(b.ps)}
        results = [read_events(g, "result", timeout=60 + spec.players / 20) for g in gens]
        for g in gens:
            g.wait(10)
    finally:
        for g in gens:
            if g.poll() is None:
                g.kill()
                g.wait(5)
    timing_measured = dataclasses.replace(timing, duration=measured)
    record = summarize(
        spec,
        results,
        cpu=cpu,
        rss=rss,
        system=system,
        timing=timing_measured,
        servers=2,
        kind="drain",
    )
    record["join_seconds"] = join_seconds
    record["cpu_us_per_update"] = None  # B's CPU alone over both servers' Updates: no meaning
    record["drain"] = judge(
        [r["drain"] for r in results],
        bots_on_a=on_a,
        measure_at=measure_at,
        sigterm_at=sigterm_t,
        stop_at=stop_at,
        drain=drain,
        grace=grace,
        a_exit=(a_exit, a_exit_t - sigterm_t),
        cpu_before=cpu_before,
        cpu_after=cpu_after,
    )
    record["drain"]["final_ok"] = record["final_ok"]
    record["drain"]["errors"] = record["errors"]
    record["reasons"] = _reasons(record)
    record["passed"] = not record["reasons"]
    record["step_seconds"] = time.monotonic() - started
    return record


def judge(
    parts: list[dict[str, Any]],
    *,
    bots_on_a: int,
    measure_at: float,
    sigterm_at: float,
    stop_at: float,
    drain: Drain,
    grace: int,
    a_exit: tuple[int | None, float],
    cpu_before: dict[str, float],
    cpu_after: dict[str, float],
) -> dict[str, Any]:
    """The generators' drain results merged into the figures the issue asks for."""

    def total(key: str) -> int:
        return sum(p[key] for p in parts)

    def merged(key: str) -> Counter[str]:
        out: Counter[str] = Counter()
        for p in parts:
            out.update(p[key])
        return out

    resume_ms = sorted(x for p in parts for x in p["resume_ms"])
    rtt_ms = sorted(x for p in parts for x in p["resume_rtt_ms"])
    drops = sorted(x for p in parts for x in p["drop_times"])
    resumed_times = sorted(x for p in parts for x in p["resumed_times"])
    samples: dict[str, list[str]] = {}
    for p in parts:
        for what, kept in p["samples"].items():
            samples.setdefault(what, []).extend(kept)
    anomalies = merged("anomalies")
    resumed = total("resumed")
    handover_end = (resumed_times[-1] if resumed_times else sigterm_at + drain.seconds) + drain.tail
    slices = [s for p in parts for s in p["age_slices"]]
    return {
        "bots_on_a": bots_on_a,
        "drain_seconds": drain.seconds,
        "resume_jitter_s": drain.resume_jitter,
        "resume_grace_s": grace,
        "a_exit_code": a_exit[0],
        "a_exit_after_s": a_exit[1],
        "drops": total("drops"),
        "drop_reasons": dict(merged("drop_reasons")),
        "first_close_after_s": drops[0] - sigterm_at if drops else None,
        "last_close_after_s": drops[-1] - sigterm_at if drops else None,
        "resumed": resumed,
        "last_resumed_after_s": resumed_times[-1] - sigterm_at if resumed_times else None,
        "resume_failures": dict(merged("resume_failures")),
        "resume_p50_ms": _quantile(resume_ms, 0.50),
        "resume_p99_ms": _quantile(resume_ms, 0.99),
        "resume_max_ms": resume_ms[-1] if resume_ms else None,
        "resume_rtt_p50_ms": _quantile(rtt_ms, 0.50),
        "resume_rtt_p99_ms": _quantile(rtt_ms, 0.99),
        "connect_p50_ms": _quantile(sorted(r[3] for p in parts for r in p["resumes"]), 0.5),
        "connect_p99_ms": _quantile(sorted(r[3] for p in parts for r in p["resumes"]), 0.99),
        "resume_by_second": _by_second([r for p in parts for r in p["resumes"]], sigterm_at),
        "recovered": total("recovered"),
        "recovered_ratio": total("recovered") / resumed if resumed else None,
        "missed_events": total("missed_events"),
        "chats_posted": total("chats_posted"),
        "chats_missed": total("chats_missed"),
        "chats_missed_any": total("chats_missed_any"),
        "chats_unanswered_posted": total("chats_unanswered_posted"),
        "chats_unanswered_lost": total("chats_unanswered_lost"),
        "event_seq_gaps": total("event_seq_gaps"),
        "event_seq_gaps_joining": total("event_seq_gaps_joining"),
        "player_left_seen": anomalies["PlayerLeft seen"],
        "player_joined_seen": anomalies["PlayerJoined after everyone joined"],
        "duplicate_events": _starting(anomalies, "duplicate event"),
        "events_out_of_order": _starting(anomalies, "event out of order"),
        "events_out_of_order_joining": _starting(anomalies, "event out of order (live, joining"),
        "missed_out_of_order": _starting(anomalies, "event out of order (in Resumed.missed"),
        "events_before_welcome": _starting(anomalies, "event older than the bot's Welcome"),
        "anomalies": dict(anomalies),
        "samples": samples,
        "age_before": _window(slices, measure_at, sigterm_at),
        "age_handover": _window(slices, sigterm_at, handover_end),
        "age_after": _window(slices, handover_end, stop_at),
        "handover_window_s": [sigterm_at, handover_end],
        "handover_tail_s": drain.tail,
        "cpu_before_pct": {k: 100 * v for k, v in cpu_before.items()},
        "server_b_cpu_after_pct": 100 * cpu_after["server_b"],
    }


def _reasons(record: dict[str, Any]) -> list[str]:
    """The verdict: every bot of A resumed on B and nothing of the room was lost or repeated
    from the measured window on. What went wrong while the bots were joining (before any drain)
    is reported beside it, not counted: it is not the handover's doing."""
    d = record["drain"]
    reasons = []
    if d["drops"] < d["bots_on_a"] or d["resumed"] < d["bots_on_a"]:
        reasons.append(
            f"{d['bots_on_a']} bots on A, {d['drops']} closed, {d['resumed']} resumed "
            f"({sum(d['resume_failures'].values())} failed)"
        )
    if d["chats_missed"]:
        reasons.append(f"{d['chats_missed']} chats missed")
    if d["player_left_seen"]:
        reasons.append(f"{d['player_left_seen']} PlayerLeft seen")
    if d["duplicate_events"] or d["missed_out_of_order"]:
        reasons.append(
            f"{d['duplicate_events']} duplicate events, {d['missed_out_of_order']} out of order "
            "in Resumed.missed"
        )
    if d["events_before_welcome"]:
        reasons.append(f"{d['events_before_welcome']} events already in the bot's Welcome")
    if d["event_seq_gaps"]:
        reasons.append(
            f"{d['event_seq_gaps']} events after everyone joined that a bot never got and its "
            "room saw"
        )
    if record["errors"]:
        reasons.append(f"{record['errors']} errors")
    if not record["final_ok"]:
        f = record["delivery"]
        reasons.append(f"final states {f['final_delivered']}/{f['final_pairs']}")
    return reasons


def _window(slices: list[list[int]], start_s: float, end_s: float) -> dict[str, Any]:
    """Ages of the states sent in [start, end) s after the epoch, widened to whole slices."""
    lo = math.floor(start_s * 1000 / AGE_SLICE_MS)
    hi = math.ceil(end_s * 1000 / AGE_SLICE_MS)
    hist: Counter[int] = Counter()
    for piece, index, count in slices:
        if lo <= piece < hi:
            hist[index] += count
    return {
        "from_s": lo * AGE_SLICE_MS / 1000,
        "to_s": hi * AGE_SLICE_MS / 1000,
        "states": sum(hist.values()),
        "p50_ms": percentile(hist, 0.50),
        "p99_ms": percentile(hist, 0.99),
        "max_ms": (max(hist) + 1) * 0.1 if hist else None,
    }


def _by_second(resumes: list[list[float]], sigterm_at: float) -> list[dict[str, Any]]:
    """Resume times by the second of the drain the bot was closed in: where the slow ones are."""
    seconds: dict[int, list[list[float]]] = {}
    for drop, *times in resumes:
        seconds.setdefault(math.floor(drop - sigterm_at), []).append(times)
    out = []
    for second, rows in sorted(seconds.items()):
        totals, rtts, connects = (sorted(column) for column in zip(*rows, strict=True))
        out.append(
            {
                "second": second,
                "resumes": len(rows),
                "p50_ms": _quantile(totals, 0.5),
                "max_ms": totals[-1],
                "rtt_p50_ms": _quantile(rtts, 0.5),
                "rtt_max_ms": rtts[-1],
                "connect_p50_ms": _quantile(connects, 0.5),
                "connect_max_ms": connects[-1],
            }
        )
    return out


def _starting(counts: Counter[str], prefix: str) -> int:
    return sum(n for what, n in counts.items() if what.startswith(prefix))


def _quantile(values: list[float], q: float) -> float | None:
    return values[min(len(values) - 1, int(q * len(values)))] if values else None


def _server_grace(backing: Backing) -> int:
    return int(backing.env.get("RESUME_GRACE_SECONDS", SERVER_RESUME_GRACE))


def _wait_exit(proc: subprocess.Popen[bytes], timeout: float) -> int | None:
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def run_drain_smoke(backing: Backing, *, log_dir: Path) -> dict[str, Any]:
    """2 rooms x 4 bots, a 1-second drain, a 3-second grace: does the handover chain work?"""
    timing = Timing(duration=0.0, chat_period=2.5, warmup=1.0)
    drain = Drain(seconds=1.0, lead=2.0, grace=3, tail=2.0)
    return run_drain(backing, StepSpec(2, 4), timing=timing, drain=drain, log_dir=log_dir)
