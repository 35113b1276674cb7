"""The Guard's verdicts, as docs/security.md states the limits: Updates over WS_UPDATE_RATE are
dropped (told at most once a second), chats over their bucket are refused and told every time,
and a client over its limits for WS_FLOOD_CLOSE_SECONDS without a quiet second is closed."""

from __future__ import annotations

import time

import msgspec

from rooms import protocol
from rooms.limits import ALLOW, CLOSE, DROP, Action, Guard, TokenBucket, Verdict

UPDATE = protocol.parse(
    '{"type":"Update","state":{"name":"p","color":"#00FF00",'
    '"position":[0,0,0],"rotation":[1,0,0,0]}}'
)
CHAT = protocol.Chat(message="hi")
PING = protocol.Ping(t=msgspec.Raw(b"1"))


def later() -> float:
    """A moment after every bucket made so far was filled (buckets start full, now)."""
    return time.monotonic() + 1000.0


def guard(**overrides: float) -> Guard:
    limits = {
        "update_rate": 30,
        "chat_rate": 5,
        "chat_period": 10,
        "chat_burst": 3,
        "flood_close_seconds": 10,
    }
    limits.update(overrides)
    return Guard(**limits)


def test_a_bucket_allows_its_capacity_at_once_then_refills_at_its_rate() -> None:
    bucket = TokenBucket(rate=2, capacity=2)
    now = later()
    assert [bucket.take(now) for _ in range(3)] == [True, True, False]
    assert bucket.take(now + 0.5) is True  # one token back after 1/rate seconds
    assert bucket.take(now + 0.5) is False


def test_updates_within_the_rate_are_allowed() -> None:
    g, t = guard(), later()
    assert all(g.check(UPDATE, t + i / 30) is ALLOW for i in range(60))


def test_the_first_update_over_the_rate_is_refused_with_a_reason_then_dropped_quietly() -> None:
    g, t = guard(update_rate=2), later()
    assert [g.check(UPDATE, t) for _ in range(2)] == [ALLOW, ALLOW]
    assert g.check(UPDATE, t) == Verdict(Action.REFUSE, "more than 2 Updates per second")
    assert g.check(UPDATE, t + 0.1) is DROP
    assert g.check(UPDATE, t + 0.2) is DROP


def test_every_refused_chat_is_told() -> None:
    g, t = guard(chat_burst=1), later()
    assert g.check(CHAT, t) is ALLOW
    refused = Verdict(Action.REFUSE, "chat rate limit reached")
    assert [g.check(CHAT, t + i * 0.1) for i in range(1, 4)] == [refused] * 3


def test_other_messages_have_no_limit() -> None:
    g, t = guard(update_rate=1, chat_burst=1), later()
    assert all(g.check(PING, t) is ALLOW for _ in range(100))


def test_flooding_without_a_quiet_second_closes() -> None:
    g, t = guard(update_rate=1, flood_close_seconds=3), later()
    verdicts = [g.check(UPDATE, t + i * 0.25) for i in range(15)]  # 4 a second
    assert verdicts[0] is ALLOW
    assert CLOSE not in verdicts[:13], "refused since t + 0.25: not yet 3 s"
    assert verdicts[13] is CLOSE


def test_a_quiet_second_restarts_the_flood_clock() -> None:
    g, t = guard(update_rate=1, flood_close_seconds=3), later()
    for i in range(9):  # over the limit for 2 s
        g.check(UPDATE, t + i * 0.25)
    # back within the rate for a while: two Updates two seconds apart
    assert g.check(UPDATE, t + 4.0) is ALLOW
    assert g.check(UPDATE, t + 6.0) is ALLOW
    verdicts = [g.check(UPDATE, t + 6.0 + i * 0.25) for i in range(1, 11)]
    assert CLOSE not in verdicts, "the flood clock restarted after the quiet seconds"
