"""The Guard's verdicts, as docs/security.md states the limits: Updates up to WS_UPDATE_RATE (and
bunched bursts of 2 s of them) pass; more are dropped, told once per 10 s; only a sustained rate
above twice WS_UPDATE_RATE for WS_FLOOD_CLOSE_SECONDS closes. Chats over their bucket, and Joins
with Leaves over theirs, are refused and told every time."""

from __future__ import annotations

import time

import msgspec

from rooms import protocol
from rooms.limits import ALLOW, CLOSE, DROP, Action, Guard, TokenBucket, Verdict

UPDATE = protocol.parse('{"type":"Update","state":{"position":[0,0,0],"rotation":[1,0,0,0]}}')
CHAT = protocol.Chat(message="hi")
JOIN = protocol.Join(room_id="r", name="n")
LEAVE = protocol.Leave()
PING = protocol.Ping(t=msgspec.Raw(b"1"))
TOO_FAST = Verdict(Action.REFUSE, "more than 60 Updates per second: the extra ones are dropped")


def later() -> float:
    """A moment after every bucket made so far was filled (buckets start full, now)."""
    return time.monotonic() + 1000.0


def guard(**overrides: float) -> Guard:
    limits = {
        "update_rate": 60,
        "chat_rate": 5,
        "chat_period": 10,
        "chat_burst": 3,
        "join_rate": 2,
        "join_burst": 5,
        "flood_close_seconds": 10,
    }
    limits.update(overrides)
    return Guard(**limits)


def updates(g: Guard, start: float, rate: float, seconds: float) -> list[Verdict]:
    return [g.check(UPDATE, start + i / rate) for i in range(int(rate * seconds))]


def test_a_bucket_allows_its_capacity_at_once_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2, capacity=2)
    now = later()
    assert [bucket.take(now) for _ in range(3)] == [True, True, False]
    assert bucket.take(now + 0.5) is True  # one token back after 1/rate seconds
    assert bucket.take(now + 0.5) is False


def test_a_render_loop_at_the_update_rate_for_30_s_is_never_refused() -> None:
    g, t = guard(), later()
    assert set(updates(g, t, 60, 30)) == {ALLOW}


def test_two_seconds_of_updates_arriving_at_once_all_pass() -> None:
    g, t = guard(), later()
    assert set(updates(g, t, 60, 10)) == {ALLOW}
    assert {g.check(UPDATE, t + 12.0) for _ in range(120)} == {ALLOW}  # a radio waking up


def test_updates_over_the_rate_are_dropped_and_told_once_per_10_s() -> None:
    g, t = guard(), later()
    verdicts = updates(g, t, 90, 30)  # 1.5 x the rate
    refused = [i / 90 for i, v in enumerate(verdicts) if v is not ALLOW]
    told = [i / 90 for i, v in enumerate(verdicts) if v == TOO_FAST]
    assert set(verdicts) == {ALLOW, DROP, TOO_FAST}
    assert refused[0] > 3.9  # the 2 s burst lasts 120 / (90 - 60) = 4 s
    assert len(told) == 3 and told[1] - told[0] > 9.99 and told[2] - told[1] > 9.99


def test_one_and_a_half_times_the_rate_is_never_closed() -> None:
    g, t = guard(), later()
    assert CLOSE not in updates(g, t, 90, 120)


def test_a_sustained_rate_over_twice_the_update_rate_closes_after_flood_close_seconds() -> None:
    g, t = guard(flood_close_seconds=3), later()
    verdicts = updates(g, t, 240, 30)  # 4 x the rate
    first_close = verdicts.index(CLOSE) / 240
    # The flood bucket (2 s of 120/s) lasts 240 / (240 - 120) = 2 s, then 3 s of flooding.
    assert 4.9 < first_close < 5.5


def test_every_refused_chat_is_told() -> None:
    g, t = guard(chat_burst=1), later()
    assert g.check(CHAT, t) is ALLOW
    refused = Verdict(Action.REFUSE, "chat rate limit reached")
    assert [g.check(CHAT, t + i * 0.1) for i in range(1, 4)] == [refused] * 3


def test_joins_and_leaves_share_a_bucket_of_5_refilled_at_2_a_second() -> None:
    g, t = guard(), later()
    refused = Verdict(Action.REFUSE, "too many Joins and Leaves")
    assert [g.check(m, t) for m in (JOIN, LEAVE, JOIN, LEAVE, JOIN, LEAVE)] == [ALLOW] * 5 + [
        refused
    ]
    assert g.check(JOIN, t + 0.5) is ALLOW
    assert g.check(JOIN, t + 0.5) == refused


def test_pings_have_no_limit() -> None:
    g, t = guard(update_rate=1, chat_burst=1), later()
    assert all(g.check(PING, t) is ALLOW for _ in range(1000))


def test_a_quiet_second_restarts_the_flood_clock() -> None:
    g, t = guard(chat_burst=1, flood_close_seconds=3), later()
    for i in range(9):  # chats refused for 2 s
        g.check(CHAT, t + i * 0.25)
    verdicts = [g.check(CHAT, t + 4.0 + i * 0.25) for i in range(15)]  # after a quiet second
    assert CLOSE not in verdicts[:13], "the flood clock restarted after the quiet second"
    assert verdicts[14] is CLOSE  # refused since t + 4.25 (t + 4.0 was allowed): 3 s at t + 7.5
