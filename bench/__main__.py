"""`python -m bench`: the product ladder, the baseline ladder, two processes, a drain, idle memory.

Examples:
  python -m bench                          # everything, about 11 minutes
  python -m bench --smoke                  # 5 s, 1 room x 4 players, one product server
  python -m bench --mode ladder --steps 10x10,30x10 --duration 10 --profile
  python -m bench --mode drain             # 30x10 on two processes, one drained mid-run
  python -m bench --mode ladder --steps 30x10,60x10 --keyframe-seconds 600   # keyframes off
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from bench import report
from bench.drain import Drain, run_drain
from bench.ladder import (
    Budget,
    Profile,
    run_gencheck,
    run_idle,
    run_ladder,
    run_one,
    run_smoke,
)
from bench.servers import BASELINE_APP, PRODUCT_APP, REPO, Backing, raise_nofile_limit
from bench.step import StepSpec, Timing

PRODUCT_STEPS = "1x10,5x10,10x10,20x10,30x10,40x10,60x10"
GENCHECK_STEPS = "10x10,30x10,60x10"
DEFLATE_STEPS = "30x10"
DRAIN_STEPS = "30x10"
ALL_MODES = ("ladder", "baseline", "two-process", "drain", "deflate", "idle")
SERVER_KEYFRAME_SECONDS = 2.0  # KEYFRAME_SECONDS' default in signight/settings.py
BASELINE_STEPS = "1x5,1x10,2x10,5x10,10x10,20x10,30x10,40x10,60x10"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--mode",
        default="all",
        choices=(*ALL_MODES, "gencheck", "all"),
        help="ladder = product ladder only; deflate = the product with permessage-deflate on; "
        "drain = two processes, one SIGTERMed mid-run, its bots resume on the other; "
        "gencheck = the generator against bench.fanout "
        "(default: all = product, baseline, two-process, drain, deflate, idle)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=20.0,
        help="measured seconds per step, after the ramp (default 20)",
    )
    parser.add_argument(
        "--steps",
        default=None,
        help=f"product and two-process ladder, ROOMSxPLAYERS,... ({PRODUCT_STEPS})",
    )
    parser.add_argument("--baseline-steps", default=BASELINE_STEPS)
    parser.add_argument(
        "--two-process-steps",
        default=None,
        help="default: in --mode all, 30x10 and the largest passing product "
        "step; alone, the product ladder",
    )
    parser.add_argument(
        "--deflate-steps",
        default=DEFLATE_STEPS,
        help="the product's steps with WS_PER_MESSAGE_DEFLATE=1 and bots that "
        f"offer it, to set beside the same steps without ({DEFLATE_STEPS})",
    )
    parser.add_argument(
        "--drain-steps",
        default=DRAIN_STEPS,
        help=f"drain mode's ROOMSxPLAYERS, each a run of its own ({DRAIN_STEPS})",
    )
    parser.add_argument(
        "--drain-seconds",
        type=float,
        default=5.0,
        help="the drained server's SHUTDOWN_DRAIN_SECONDS (default 5)",
    )
    parser.add_argument(
        "--drain-lead",
        type=float,
        default=5.0,
        help="measured seconds before the SIGTERM (default 5)",
    )
    parser.add_argument(
        "--resume-jitter",
        type=float,
        default=0.25,
        help="a drained bot reconnects after uniform(0, this) seconds (default 0.25)",
    )
    parser.add_argument(
        "--resume-grace",
        type=int,
        default=None,
        help="RESUME_GRACE_SECONDS of the drain's servers (default: theirs, 20); the run "
        "goes on this long after the drain and 5 s more",
    )
    parser.add_argument(
        "--keyframe-seconds",
        type=float,
        default=None,
        help="KEYFRAME_SECONDS of every product server of the run (the server's default: 2; "
        "600 turns keyframes practically off, to measure what they cost)",
    )
    parser.add_argument("--idle-connections", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=20.0, help="Updates per second per bot")
    parser.add_argument(
        "--chat-period",
        type=float,
        default=10.0,
        help="seconds between one bot's Chats (staggered across bots)",
    )
    parser.add_argument(
        "--gen-procs",
        type=int,
        default=0,
        help="generator processes per step (default: one per 200 bots, up to 3)",
    )
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="a 5-second 1x4 run against one product server (used by the test)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy the product server at its largest passing load (and at the first failing one)",
    )
    parser.add_argument(
        "--no-stop", action="store_true", help="run every step of a ladder even after one fails"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=630.0,
        help="seconds for the whole run; steps that would not fit are skipped",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="output folder (default bench/results/<time>)"
    )
    return parser.parse_args(argv)


def steps(text: str) -> list[StepSpec]:
    return [StepSpec.parse(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    out = args.out or REPO / "bench" / "results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    log_dir = out / "logs"
    raise_nofile_limit()
    timing = Timing(
        duration=args.duration,
        rate=args.rate,
        chat_period=args.chat_period,
        gen_procs=args.gen_procs,
    )
    budget = Budget(args.budget)
    records: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    idle: dict[str, Any] | None = None

    def on_record(record: dict[str, Any]) -> None:
        record["keyframe_seconds"] = keyframes
        records.append(record)
        report.print_step(record)
        with open(out / "results.jsonl", "a") as f:
            f.write(json.dumps(record) + "\n")

    crashed: list[str] = []

    @contextlib.contextmanager
    def guard(what: str) -> Iterator[None]:
        """A part that crashes is reported and the run goes on to the rest and the summary."""
        try:
            yield
        except Exception as exc:
            traceback.print_exc()
            crashed.append(f"{what}: {type(exc).__name__}: {exc}"[:300])
            print(f"  ({what} crashed: {exc!r}; going on)", flush=True)

    print(f"bench: results in {out}", flush=True)
    busy = psutil.cpu_percent(interval=2.0)
    print(
        f"bench: machine {busy:.0f}% busy before start (2 cores); the other% column shows "
        "what runs beside the bench during each step",
        flush=True,
    )
    if busy > 25:
        print("bench: WARNING: the box is busy; numbers will be noisy", flush=True)
    backing = Backing.start()
    if args.keyframe_seconds is not None:
        backing.env["KEYFRAME_SECONDS"] = f"{args.keyframe_seconds:g}"
    keyframes = float(backing.env.get("KEYFRAME_SECONDS", SERVER_KEYFRAME_SECONDS))
    print(f"bench: the product servers run with KEYFRAME_SECONDS={keyframes:g}", flush=True)
    try:
        print(" ".join(report.header()), flush=True)
        product_steps = steps(args.steps or PRODUCT_STEPS)
        ladder_kw: dict[str, Any] = dict(
            timing=timing,
            log_dir=log_dir,
            budget=budget,
            on_record=on_record,
            stop_on_failure=not args.no_stop,
        )
        product: list[dict[str, Any]] = []
        two_process: list[dict[str, Any]] = []
        modes = {args.mode} if args.mode != "all" else set(ALL_MODES)
        if args.smoke:
            modes = set()
            with guard("smoke"):
                on_record(run_smoke(backing, log_dir=log_dir, rate=args.rate))
        if "ladder" in modes:
            with guard("product ladder"):
                product = run_ladder(
                    backing, product_steps, kind="product", app=PRODUCT_APP, servers=1, **ladder_kw
                )
        if "baseline" in modes:
            with guard("baseline ladder"):
                run_ladder(
                    backing,
                    steps(args.baseline_steps),
                    kind="baseline",
                    app=BASELINE_APP,
                    servers=1,
                    **ladder_kw,
                )
        if "two-process" in modes:
            if args.two_process_steps:
                two = steps(args.two_process_steps)
            elif product:
                two = _two_process_steps(product)
            else:
                two = product_steps
            with guard("two-process ladder"):
                backing.fresh_database()
                two_process = run_ladder(
                    backing,
                    two,
                    kind="product",
                    app=PRODUCT_APP,
                    servers=2,
                    **{**ladder_kw, "stop_on_failure": False},
                )
        if "drain" in modes:
            drain = Drain(
                seconds=args.drain_seconds,
                lead=args.drain_lead,
                resume_jitter=args.resume_jitter,
                grace=args.resume_grace,
            )
            for number, spec in enumerate(steps(args.drain_steps), 1):
                if not budget.fits(drain.lead + drain.seconds + 40 + spec.players / 50):
                    print(f"  (drain {spec.label}: skipped, the run's time budget is spent)")
                    break
                with guard(f"drain {spec.label}"):
                    backing.fresh_database()
                    on_record(
                        run_drain(
                            backing,
                            spec,
                            timing=timing,
                            drain=drain,
                            log_dir=log_dir,
                            step_no=number,
                        )
                    )
        if "deflate" in modes:
            with guard("deflate"):
                backing.fresh_database()
                deflate_timing = dataclasses.replace(timing, deflate=True)
                run_ladder(
                    backing,
                    steps(args.deflate_steps),
                    kind="deflate",
                    app=PRODUCT_APP,
                    servers=1,
                    **{**ladder_kw, "timing": deflate_timing, "stop_on_failure": False},
                )
        if "gencheck" in modes:
            with guard("gencheck"):
                run_gencheck(
                    steps(args.steps or GENCHECK_STEPS),
                    timing=timing,
                    log_dir=log_dir,
                    on_record=on_record,
                )
        if "idle" in modes:
            if budget.fits(30 + args.idle_connections / 100):
                with guard("idle"):
                    backing.fresh_database()
                    idle = run_idle(
                        backing,
                        connections=args.idle_connections,
                        per_room=10,
                        log_dir=log_dir,
                        app=PRODUCT_APP,
                    )
                    print(f"idle: {json.dumps(idle)}", flush=True)
            else:
                print("  (idle: skipped, the run's time budget is spent)")
        if args.profile:
            ran = [r for r in records if r["kind"] == "product" and r["servers"] == 1]
            targets = _profile_targets(product or ran) if (product or ran) else []
            failed_two = [r for r in two_process if not r["passed"]]
            if failed_two:
                spec = StepSpec(failed_two[0]["rooms"], failed_two[0]["per_room"])
                targets.append(("two processes (server 1 of 2), first failing load", spec, 2))
            if not targets:
                targets.append(("first step", product_steps[0], 1))
            for label, spec, servers in targets:
                with guard(f"profile {spec.label}"):
                    prof = Profile(out / f"pyspy-{servers}p-{spec.label}.txt")
                    record = run_one(
                        backing,
                        spec,
                        kind="product",
                        app=PRODUCT_APP,
                        servers=servers,
                        timing=timing,
                        log_dir=log_dir,
                        step_no=99,
                        on_steady=prof.attach,
                    )
                    record["kind"] = "profiled"
                    on_record(record)
                    profiles[f"{label} {spec.label}"] = prof.top(5)
    finally:
        backing.stop()

    elapsed = time.monotonic() - started
    summary = report.summary_lines(records, idle, profiles, elapsed)
    summary += [f"CRASHED: {line}" for line in crashed]
    print()
    print(report.text_table(records))
    print()
    print("\n".join(summary))
    report.write_outputs(out, records, idle, summary, profiles)
    print(f"\nwrote {out / 'results.jsonl'}, {out / 'report.md'}, {out / 'p99_age.png'}")
    if args.smoke:
        last = records[-1] if records else None
        return 0 if last and last["states_delivered_per_s"] > 0 and not last["errors"] else 1
    return 1 if crashed else 0


def _two_process_steps(product: list[dict[str, Any]]) -> list[StepSpec]:
    """30x10 (the goal: 300 players) and the largest single-process pass, split across two
    processes: the same rooms at the same latency?"""
    best = report.largest_passing(product)
    picked = {(30, 10)} | ({(best["rooms"], best["per_room"])} if best else set())
    return [StepSpec(r, p) for r, p in sorted(picked, key=lambda rp: rp[0] * rp[1])]


def _profile_targets(product: list[dict[str, Any]]) -> list[tuple[str, StepSpec, int]]:
    best = report.largest_passing(product)
    failed = [r for r in product if not r["passed"]]
    targets = []
    if best:
        targets.append(("largest passing load", StepSpec(best["rooms"], best["per_room"]), 1))
    if failed:
        first = failed[0]
        targets.append(("first failing load", StepSpec(first["rooms"], first["per_room"]), 1))
    return targets


if __name__ == "__main__":
    sys.exit(main())
