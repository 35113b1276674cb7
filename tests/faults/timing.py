"""Recovery times of the fault tests: each is printed and, when the FAULT_TIMES variable names a
file, appended to it as a JSON line {"fault": ..., "seconds": ...}. Recorded, never asserted
(STYLE.md: tests never assert timings)."""

from __future__ import annotations

import json
import os
import time


def record(fault: str, seconds: float) -> float:
    """Note how long `fault` took to recover from; returns `seconds`."""
    line = json.dumps({"fault": fault, "seconds": round(seconds, 3)}, ensure_ascii=False)
    print(f"fault recovery: {line}")
    path = os.environ.get("FAULT_TIMES")
    if path:
        with open(path, "a", encoding="utf-8") as times:
            times.write(line + "\n")
    return seconds


def since(started: float) -> float:
    """Seconds from `started` (a time.monotonic() reading) to now."""
    return time.monotonic() - started
