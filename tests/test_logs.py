"""Expected states are not errors in the logs (issue 11): a library's traceback for an unreachable
Redis (channels-redis logs one from its receive loop each second of an outage) is one WARNING
line that names the error; a line a client can cause at will is throttled."""

from __future__ import annotations

import logging
import sys

import redis

from signight.logs import OneLineOutages, TextFormatter, Throttled


def test_a_librarys_traceback_for_an_unreachable_redis_is_one_warning_line() -> None:
    try:
        raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")
    except redis.ConnectionError:
        record = logging.LogRecord(
            "channels_redis.pubsub", logging.ERROR, __file__, 1, "Unexpected %s", ("error",), None
        )
        record.exc_info = sys.exc_info()
    assert OneLineOutages().filter(record)
    line = TextFormatter("%(levelname)s %(message)s").format(record)
    assert line == (
        "WARNING Unexpected error: ConnectionError: Error 111 connecting to 127.0.0.1:6379. "
        "Connection refused."
    )


def test_other_errors_keep_their_traceback() -> None:
    try:
        raise KeyError("a bug")
    except KeyError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())
    assert OneLineOutages().filter(record)
    assert "Traceback" in TextFormatter("%(message)s").format(record)


def test_a_throttled_line_is_written_a_few_times_and_counts_the_rest(caplog) -> None:
    throttled = Throttled(logging.getLogger("t"), limit=2, interval=3600)
    with caplog.at_level(logging.INFO, logger="t"):
        written = [throttled.log(logging.INFO, "bad input from %s", n) for n in range(5)]
    assert written == [True, True, False, False, False]
    assert [r.getMessage() for r in caplog.records] == ["bad input from 0", "bad input from 1"]
