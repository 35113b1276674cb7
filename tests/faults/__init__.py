"""The fault suite (issue 11): real `manage.py serve` processes on a private Redis and SecantusDB,
with faults injected for real (kill, pause, restart, black-hole or reset through tests.faults.proxy)
and what clients see asserted. Marker `faults`; `make check` skips it, `make test` runs it."""

from __future__ import annotations

import pytest

# The suite's helpers assert too: give their failures pytest's diffs.
pytest.register_assert_rewrite(
    "tests.faults.checks", "tests.faults.players", "tests.faults.redis_blackhole"
)
