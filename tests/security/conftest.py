"""Fixtures of the security tests: a clock the rate limits can be frozen on."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest


class Clock:
    """time.monotonic as rooms.consumers and rooms.limits see it; moves only when told to.

    The rest of the process (the event loop, the hub's idle check) keeps the real clock.
    """

    def __init__(self) -> None:
        # A whole number, so that advancing by 1.0 moves it by exactly one second.
        self.now = float(int(time.monotonic()))

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    frozen = SimpleNamespace(monotonic=clock.monotonic)
    monkeypatch.setattr("rooms.consumers.time", frozen)
    monkeypatch.setattr("rooms.limits.time", frozen)
    return clock
