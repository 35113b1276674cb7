"""The bench's 5-second smoke: real bots against one real product server (issue 6).

It checks that the chain works (join, updates relayed, chat echoed, results judged), not how
fast it is: no timing assertions here, the numbers belong to `make bench`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

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
