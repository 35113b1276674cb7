"""Expected states are not errors, and a client cannot write the server's logs at will (issue
11): invalid UTF-8 closes the socket with 1007 and is one throttled INFO line, never a
traceback; a readiness probe answered 503 during a drain is INFO."""

from __future__ import annotations

import signal
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.e2e.servers import ServerProcess, server_env
from tests.security.servers import LoggedServer

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path) -> Iterator[LoggedServer]:
    env = server_env(LOG_LEVEL="info", LOG_FORMAT="text", SHUTDOWN_DRAIN_SECONDS="3")
    process = LoggedServer(env, logs=tmp_path).start()
    yield process
    process.stop()


def test_invalid_utf8_closes_with_1007_and_logs_a_few_info_lines(server, live_players) -> None:
    for _ in range(20):
        raw = live_players.raw(server.ws_port)
        raw.send_frame(b'{"type": "Chat", "message": "\xff"}')
        assert raw.close_code() == 1007

    lines = (server.stdout() + server.stderr()).splitlines()
    assert not [line for line in lines if "Traceback" in line or " ERROR " in line], lines
    told = [line for line in lines if "invalid UTF-8" in line]
    assert 1 <= len(told) <= 5, told
    assert all(" INFO " in line for line in told), told


def readiness(server: ServerProcess) -> int:
    url = f"http://127.0.0.1:{server.http_port}/health/ready"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_readiness_503_during_a_drain_is_logged_as_info(server) -> None:
    assert readiness(server) == 200
    server.signal(signal.SIGTERM)
    deadline = time.monotonic() + 10
    while readiness(server) != 503:
        assert time.monotonic() < deadline, "readiness never turned 503 during the drain"
        time.sleep(0.1)
    assert server.proc is not None and server.proc.wait(30) == 0

    lines = (server.stdout() + server.stderr()).splitlines()
    draining = [line for line in lines if "draining" in line and "not ready" in line]
    assert draining and all(" INFO " in line for line in draining), lines
    assert not [line for line in lines if " ERROR " in line or "Service Unavailable" in line], lines
