"""The bench's smokes: real bots against real product servers (issues 6 and 13).

They check that the chain works (join, updates relayed, chat echoed, a drain resumed elsewhere,
results judged), not how fast it is: no timing assertions here, the numbers belong to
`make bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from bench.drain import run_drain_smoke
from bench.ladder import run_smoke
from bench.servers import Backing


@pytest.fixture(scope="module")
def backing(services: dict[str, Any]) -> Backing:
    """The session's Redis and SecantusDB (devtools.pytest_services), a database of our own."""
    return Backing.attach(settings.REDIS_URL, settings.MONGODB_URL)


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_smoke_run_relays_states_without_errors(backing: Backing, tmp_path: Path) -> None:
    record = run_smoke(backing, log_dir=tmp_path)

    assert record["players"] == 4
    assert record["joined"] == 4
    assert record["errors"] == 0, record["error_samples"]
    assert record["updates_in_per_s"] > 0
    assert record["states_delivered_per_s"] > 0
    assert record["delivery"]["final_pairs"] == 12
    assert record["final_ok"] is True
    assert record["chats"] > 0
    assert record["age_p99_ms"] is not None


@pytest.mark.e2e
@pytest.mark.timeout(120)
def test_drain_smoke_every_bot_of_the_drained_server_resumes_on_the_other(
    backing: Backing, tmp_path: Path
) -> None:
    record = run_drain_smoke(backing, log_dir=tmp_path)
    drain = record["drain"]

    assert record["joined"] == 8
    assert drain["bots_on_a"] == 4
    assert drain["drops"] == 4, drain["drop_reasons"]
    assert drain["resumed"] == 4, drain["resume_failures"]
    assert drain["resume_failures"] == {}
    assert drain["recovered"] == 4
    assert drain["a_exit_code"] == 0
    assert drain["player_left_seen"] == 0, drain["samples"]
    assert drain["chats_posted"] > 0
    assert drain["chats_missed"] == 0, drain["samples"]
    assert drain["duplicate_events"] == 0, drain["samples"]
    assert record["errors"] == 0, record["error_samples"]
    assert record["final_ok"] is True
