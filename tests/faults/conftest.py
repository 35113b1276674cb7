"""Every test under tests/faults carries the `faults` marker (`make check` deselects it)."""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A conftest's hook sees the whole session's items: mark only this directory's.
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(pytest.mark.faults)
