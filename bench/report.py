"""What a run prints and writes: the step table, JSON lines, a Markdown report and a PNG."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

COLUMNS: list[tuple[str, str, str]] = [
    # (header, record key, format)
    ("kind", "kind", "{}"),
    ("srv", "servers", "{}"),
    ("step", "step", "{}"),
    ("players", "players", "{}"),
    ("upd in/s", "updates_in_per_s", "{:.0f}"),
    ("states/s", "states_delivered_per_s", "{:.0f}"),
    ("frames/s", "frames_out_per_s", "{:.0f}"),
    ("KB/s", "kbytes_out_per_s", "{:.0f}"),
    ("p50 ms", "age_p50_ms", "{:.1f}"),
    ("p95 ms", "age_p95_ms", "{:.1f}"),
    ("p99 ms", "age_p99_ms", "{:.1f}"),
    ("chat p99", "chat_rtt_p99_ms", "{:.0f}"),
    ("err", "errors", "{}"),
    ("deliv %", "delivery_pct", "{:.2f}"),
    ("final", "final_ok", "{}"),
    ("srv CPU%", "server_cpu_pct", "{:.0f}"),
    ("redis%", "redis_cpu_pct", "{:.0f}"),
    ("RSS MB", "server_rss_mb", "{:.0f}"),
    ("us/upd", "cpu_us_per_update", "{:.0f}"),
    ("gen CPU%", "generator_cpu_max_pct", "{:.0f}"),
    ("late p99", "lateness_p99_ms", "{:.1f}"),
    ("other%", "other_cpu_pct", "{:.0f}"),
    ("log err", "server_log_errors", "{}"),
    ("verdict", "verdict", "{}"),
]


def _cell(record: dict[str, Any], key: str, fmt: str) -> str:
    if key == "delivery_pct":
        value: Any = 100 * record["delivery_ratio"]
    elif key == "generator_cpu_max_pct":
        value = max(record["generator_cpu_pct"])
    elif key == "final_ok":
        value = "yes" if record["final_ok"] else "NO"
    elif key == "verdict":
        value = (
            "pass"
            if record["passed"]
            # a drain's verdict is its own (bench/drain.py): the generator figures are shown
            else (
                "GEN-BOUND" if not record["generator_ok"] and record["kind"] != "drain" else "FAIL"
            )
        )
    else:
        value = record.get(key)
    if value is None:
        return "-"
    return fmt.format(value)


def header() -> list[str]:
    return [h for h, _, _ in COLUMNS]


def row(record: dict[str, Any]) -> list[str]:
    return [_cell(record, key, fmt) for _, key, fmt in COLUMNS]


def text_table(records: list[dict[str, Any]]) -> str:
    rows = [header()] + [row(r) for r in records]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.rjust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join([lines[0], "-" * len(lines[0]), *lines[1:]])


def markdown_table(records: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(header()) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(row(r)) + " |" for r in records]
    return "\n".join(lines)


def print_step(record: dict[str, Any]) -> None:
    print(text_table([record]).splitlines()[-1], flush=True)
    if record["reasons"]:
        print(f"      why: {'; '.join(record['reasons'])}", flush=True)
    if record.get("error_samples"):
        print(f"      errors: {record['error_samples']}", flush=True)
    if record.get("server_log_errors"):
        print(f"      server log: {record['server_log_samples']}", flush=True)
    if record["kind"] == "drain":
        print("\n".join(drain_lines(record, [])), flush=True)


def largest_passing(records: list[dict[str, Any]]) -> dict[str, Any] | None:
    passing = [r for r in records if r["passed"]]
    return max(passing, key=lambda r: r["players"]) if passing else None


def comparison(product: list[dict[str, Any]], baseline: list[dict[str, Any]]) -> dict[str, Any]:
    """Product / baseline: largest passing load, and server CPU per inbound Update."""
    best_p, best_b = largest_passing(product), largest_passing(baseline)
    out: dict[str, Any] = {
        "product_largest": best_p["step"] if best_p else None,
        "product_players": best_p["players"] if best_p else 0,
        "baseline_largest": best_b["step"] if best_b else None,
        "baseline_players": best_b["players"] if best_b else 0,
    }
    out["players_ratio"] = (
        out["product_players"] / out["baseline_players"] if out["baseline_players"] else None
    )
    # CPU per Update at each one's largest passing load, and at the largest step both ran.
    if best_p and best_b and best_b["cpu_us_per_update"]:
        out["cpu_ratio_at_largest"] = best_p["cpu_us_per_update"] / best_b["cpu_us_per_update"]
    common = {r["step"]: r for r in baseline}
    shared = [r for r in product if r["step"] in common]
    if shared:
        step = max(shared, key=lambda r: r["players"])
        other = common[step["step"]]
        out["common_step"] = step["step"]
        if step["cpu_us_per_update"] and other["cpu_us_per_update"]:
            out["cpu_ratio_at_common"] = step["cpu_us_per_update"] / other["cpu_us_per_update"]
            out["product_us_per_update"] = step["cpu_us_per_update"]
            out["baseline_us_per_update"] = other["cpu_us_per_update"]
    return out


def summary_lines(
    records: list[dict[str, Any]],
    idle: dict[str, Any] | None,
    profiles: dict[str, Any],
    elapsed: float,
) -> list[str]:
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] not in ("profiled", "drain"):
            by_kind.setdefault(_series(r), []).append(r)
    lines = []
    keyframes = {r.get("keyframe_seconds") for r in records} - {None}
    if keyframes:
        lines.append(
            "servers ran with KEYFRAME_SECONDS="
            + ", ".join(f"{k:g}" for k in sorted(keyframes))
            + " (a keyframe every that many seconds; 600 = practically none)"
        )
    for kind, recs in by_kind.items():
        best = largest_passing(recs)
        tried = ", ".join(f"{r['step']} {_cell(r, 'verdict', '{}')}" for r in recs)
        if best:
            lines.append(
                f"largest passing {kind}: {best['step']} = {best['players']} players "
                f"(p99 {best['age_p99_ms']:.1f} ms, server CPU "
                f"{best['server_cpu_pct']:.0f}%, "
                f"{best['cpu_us_per_update']:.0f} us/Update)  [{tried}]"
            )
        else:
            lines.append(f"largest passing {kind}: none  [{tried}]")
    if "product" in by_kind and "baseline" in by_kind:
        c = comparison(by_kind["product"], by_kind["baseline"])
        ratio = f"{c['players_ratio']:.2f}x" if c["players_ratio"] else "n/a"
        lines.append(
            f"product/baseline largest passing load: {c['product_players']} / "
            f"{c['baseline_players']} players = {ratio}"
        )
        if "cpu_ratio_at_largest" in c:
            lines.append(
                f"product/baseline CPU per inbound Update at each one's largest passing "
                f"load: {c['cpu_ratio_at_largest']:.2f}x"
            )
        if "cpu_ratio_at_common" in c:
            lines.append(
                f"product/baseline CPU per inbound Update at {c['common_step']} (both ran it): "
                f"{c['product_us_per_update']:.0f} / {c['baseline_us_per_update']:.0f} us = "
                f"{c['cpu_ratio_at_common']:.2f}x"
            )
    at300 = [r for r in by_kind.get("product", []) if r["players"] == 300]
    if at300:
        r = at300[0]
        lines.append(
            f"product p99 state age at 300 players: {_fmt(r['age_p99_ms'])} ms "
            f"({'pass' if r['passed'] else 'fail'})"
        )
    lines += _deflate_lines(by_kind.get("deflate", []), by_kind.get("product", []))
    for r in records:
        if r["kind"] == "drain":
            lines += drain_lines(r, by_kind.get("product", []))
    gen = [r for r in records if r["generator_ok"]]
    if records:
        worst = max(records, key=lambda r: max(r["generator_cpu_pct"]))
        lines.append(
            f"generator: busiest process {max(worst['generator_cpu_pct']):.0f}% of a core at "
            f"{worst['kind']} {worst['step']} ({worst['generator_workers']} processes); kept up in "
            f"{len(gen)}/{len(records)} steps"
        )
    if idle:
        lines.append(
            f"idle: {idle['joined']}/{idle['connections']} joined in {idle['join_seconds']:.1f} s; "
            f"server RSS {idle['rss_before_mb']:.0f} -> {idle['rss_after_mb']:.0f} MB = "
            f"{idle['kb_per_connection']:.1f} KB per connection "
            f"({idle['mb_per_1000']:.1f} MB per 1,000); errors {idle['errors']}"
        )
    for label, prof in profiles.items():
        lines.append(f"py-spy, {label} ({prof['samples']} samples, nonblocking, 100 Hz):")
        lines.append("  top by own samples:")
        lines += [f"    {pct:5.1f}%  {frame}" for frame, _, pct in prof["own"]]
        lines.append("  top by total samples:")
        lines += [f"    {pct:5.1f}%  {frame}" for frame, _, pct in prof["total"]]
    lines.append(f"total run time: {elapsed / 60:.1f} min")
    return lines


def _deflate_lines(deflate: list[dict[str, Any]], product: list[dict[str, Any]]) -> list[str]:
    """permessage-deflate on vs off at the same step of the same run: CPU and bytes."""
    lines = []
    plain = {r["step"]: r for r in product}
    for on in deflate:
        off = plain.get(on["step"])
        if off is None or not off.get("kbytes_out_per_s"):
            continue
        lines.append(
            f"permessage-deflate at {on['step']}: server CPU {off['server_cpu_pct']:.0f}% -> "
            f"{on['server_cpu_pct']:.0f}% ({_fmt(off['cpu_us_per_update'])} -> "
            f"{_fmt(on['cpu_us_per_update'])} us/Update), bytes to clients "
            f"{off['kbytes_out_per_s']:.0f} -> {on['kbytes_out_per_s']:.0f} KB/s "
            f"({on['kbytes_out_per_s'] / off['kbytes_out_per_s']:.2f}x), p99 "
            f"{_fmt(off['age_p99_ms'])} -> {_fmt(on['age_p99_ms'])} ms, "
            f"{'pass' if on['passed'] else 'FAIL'} with deflate"
        )
    return lines


def _series(record: dict[str, Any]) -> str:
    servers = record["servers"]
    return record["kind"] if servers == 1 else f"{record['kind']} x{servers} processes"


def _fmt(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


# --- drain mode (bench/drain.py) --------------------------------------------------------------


def drain_lines(record: dict[str, Any], single: list[dict[str, Any]]) -> list[str]:
    """The drain run in a few lines, beside the single-process steps of the same run."""
    d = record["drain"]
    verdict = "PASS" if record["passed"] else "FAIL"
    h = d["age_handover"]
    lines = [
        f"drain {record['step']} ({record['players']} players, 2 processes, A drained over "
        f"{d['drain_seconds']:g} s, resume jitter 0-{d['resume_jitter_s']:g} s, grace "
        f"{d['resume_grace_s']} s): {verdict}",
        f"  resume time (1001 close -> Resumed, the jitter included) p50 "
        f"{_fmt(d['resume_p50_ms'])} ms, p99 {_fmt(d['resume_p99_ms'])} ms, max "
        f"{_fmt(d['resume_max_ms'])} ms; of which the reconnect (TCP + WebSocket handshake) p50 "
        f"{_fmt(d['connect_p50_ms'])} ms, p99 {_fmt(d['connect_p99_ms'])} ms, and Resume -> "
        f"Resumed p50 {_fmt(d['resume_rtt_p50_ms'])} ms, p99 {_fmt(d['resume_rtt_p99_ms'])} ms",
        "  by the second of the drain a bot was closed in (bots: resume p50/max, reconnect max, "
        "Resume -> Resumed max, ms): "
        + "; ".join(
            f"+{s['second']}s {s['resumes']}: {s['p50_ms']:.0f}/{s['max_ms']:.0f}, "
            f"{s['connect_max_ms']:.0f}, {s['rtt_max_ms']:.0f}"
            for s in d["resume_by_second"]
        ),
        f"  resumed {d['resumed']}/{d['bots_on_a']} bots of A ({d['drops']} closed: "
        f"{_counts(d['drop_reasons'])}; failures: {_counts(d['resume_failures']) or 'none'}); "
        f"recovered {d['recovered']}/{d['resumed']} = {_pct(d['recovered_ratio'])}; "
        f"{d['missed_events']} events delivered in missed",
        f"  chats missed {d['chats_missed']} (of {d['chats_posted']} posted; any posted chat: "
        f"{d['chats_missed_any']}) {_ok(d['chats_missed'] == 0)}; PlayerLeft seen "
        f"{d['player_left_seen']} {_ok(d['player_left_seen'] == 0)}; PlayerJoined seen "
        f"{d['player_joined_seen']}; events: duplicate {d['duplicate_events']}, already in the "
        f"Welcome {d['events_before_welcome']}, never got (seen by others in the room) "
        f"{d['event_seq_gaps']}, out of order (live) "
        f"{d['events_out_of_order'] - d['events_out_of_order_joining']}",
        f"  state age p50/p99/max ms: before SIGTERM {_ages(d['age_before'])}; across the "
        f"handover (SIGTERM to {d['handover_tail_s']:g} s after the last Resumed, "
        f"{d['handover_window_s'][1] - d['handover_window_s'][0]:.1f} s) p99 "
        f"{_fmt(h['p99_ms'])} ({_ages(h)}); after {_ages(d['age_after'])}",
        f"  A: closes from +{_fmt(d['first_close_after_s'], 2)} to "
        f"+{_fmt(d['last_close_after_s'], 2)} s after SIGTERM, exit {d['a_exit_code']} at "
        f"+{d['a_exit_after_s']:.1f} s; CPU before SIGTERM A {_cpu(d, 'server_a')}%, "
        f"B {_cpu(d, 'server_b')}%; B alone after {d['server_b_cpu_after_pct']:.0f}%; "
        f"delivery {100 * record['delivery_ratio']:.2f}%, final states "
        f"{'yes' if record['final_ok'] else 'NO'}, errors {record['errors']}",
    ]
    if d["event_seq_gaps_joining"] or d["events_out_of_order_joining"]:
        lines.append(
            f"  NOT OK, while the bots were joining (before the measured window, not in the "
            f"verdict): {d['event_seq_gaps_joining']} room events a bot never got and its room "
            f"saw, {d['events_out_of_order_joining']} arrived after a higher seq"
        )
    if d["chats_unanswered_posted"] or d["chats_unanswered_lost"]:
        lines.append(
            f"  Chats sent on a draining socket and never answered: {d['chats_unanswered_lost']} "
            f"that no bot saw (dropped with the socket), {d['chats_unanswered_posted']} that "
            "the room saw but not their sender"
        )
    for what, kept in d["samples"].items():
        lines.append(f"  {what}: {d['anomalies'].get(what, '?')}x, e.g.")
        lines += [f"    {sample}" for sample in kept[:3]]
    if not record["passed"]:
        lines.append(f"  why: {'; '.join(record['reasons'])}")
    for r in single:
        if r["step"] in ("30x10", "60x10") and r["servers"] == 1 and r["kind"] == "product":
            lines.append(
                f"  beside one process at {r['step']}: p99 {_fmt(r['age_p99_ms'])} ms, "
                f"{_fmt(r['cpu_us_per_update'], 0)} us/Update, server CPU "
                f"{r['server_cpu_pct']:.0f}% ({'pass' if r['passed'] else 'FAIL'})"
            )
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _ok(good: bool) -> str:
    return "(ok)" if good else "(FAIL)"


def _ages(window: dict[str, Any]) -> str:
    return f"{_fmt(window['p50_ms'])}/{_fmt(window['p99_ms'])}/{_fmt(window['max_ms'])}"


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{n}x {what}" for what, n in counter.items())


def _cpu(d: dict[str, Any], name: str) -> str:
    value = d["cpu_before_pct"].get(name)
    return "-" if value is None or math.isnan(value) else f"{value:.0f}"


def write_outputs(
    out: Path,
    records: list[dict[str, Any]],
    idle: dict[str, Any] | None,
    summary: list[str],
    profiles: dict[str, Any],
) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
        if idle:
            f.write(json.dumps(idle) + "\n")
        for label, prof in profiles.items():
            f.write(json.dumps({"kind": "profile", "label": label, **prof}) + "\n")
    md = ["# Signight bench", "", markdown_table(records), "", "```", *summary, "```", ""]
    (out / "report.md").write_text("\n".join(md))
    plot(out / "p99_age.png", records)


def plot(path: Path, records: list[dict[str, Any]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    series: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        if r["kind"] not in ("profiled", "drain"):  # a drain's p99 spans its handover
            series.setdefault(_series(r), []).append(r)
    for label, recs in series.items():
        pts = [(r["players"], r["age_p99_ms"]) for r in recs if r["age_p99_ms"] is not None]
        if not pts:
            continue
        xs, ys = zip(*sorted(pts), strict=True)
        ax.plot(xs, ys, marker="o", label=label)
        for r in recs:
            if not r["passed"] and r["age_p99_ms"] is not None:
                ax.annotate(
                    "fail",
                    (r["players"], r["age_p99_ms"]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
    ax.axhline(100, color="grey", linestyle="--", linewidth=1, label="pass limit (100 ms)")
    ax.set_xlabel("players")
    ax.set_ylabel("p99 state age (ms)")
    ax.set_yscale("log")
    ax.set_title("Signight: p99 state age vs players")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
