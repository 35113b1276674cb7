"""`make run`'s Ctrl-C drains like a SIGTERM (issue 11, part): the terminal's SIGINT reaches
devtools.run's process group, and every client gets close 1001 with the reconnect reason
(not 1012 without one), then everything exits cleanly: exit status 0 and no traceback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed

from devtools.services import free_port
from tests.e2e.servers import ROOT, unique_db

pytestmark = pytest.mark.e2e


@pytest.fixture
def make_run(tmp_path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`python -m devtools.run` on the session's Redis and MongoDB (so it starts neither), in a
    process group of its own, as a terminal runs it."""
    ws_port, http_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update(
        MONGODB_DB_NAME=unique_db(),
        SERVER_PORT=str(ws_port),
        HTTP_PORT=str(http_port),
        SHUTDOWN_DRAIN_SECONDS="1",
        LOG_LEVEL="info",  # as `make run` logs
    )
    log = open(tmp_path / "make-run.log", "wb")  # noqa: SIM115  # closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "devtools.run"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/health/ready", timeout=2):
                break
        except OSError:
            assert proc.poll() is None, "devtools.run exited"
            time.sleep(0.2)
    yield proc, ws_port
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    log.close()


async def test_ctrl_c_closes_every_client_with_1001_and_exits_cleanly(
    make_run, room_id, live_players, tmp_path
) -> None:
    proc, ws_port = make_run
    player = await live_players.connect(f"ws://127.0.0.1:{ws_port}/ws/")
    await player.join(room_id, "P")

    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            json.loads(await player.ws.recv())
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (
        1001,
        "server shutting down; resume",
    )
    assert proc.wait(30) == 0
    log = (tmp_path / "make-run.log").read_text()
    assert "Traceback" not in log, log
