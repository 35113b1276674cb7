"""A real server for the security tests: `manage.py serve` with its output kept for the test to
read. Its clients are in tests.clients (LiveSocket, RawSocket).
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.servers import ROOT, ServerProcess


@dataclass
class LoggedServer(ServerProcess):
    """ServerProcess whose stdout and stderr go to files in `logs`, to be read by the test."""

    logs: Path = field(default_factory=Path)

    def spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        with (self.logs / "stdout").open("wb") as out, (self.logs / "stderr").open("wb") as err:
            return subprocess.Popen(argv, env=self.env, cwd=ROOT, stdout=out, stderr=err)

    def died(self) -> str:
        return f"{super().died()}: {self.stderr()}"

    def stdout(self) -> str:
        return (self.logs / "stdout").read_text(errors="replace")

    def stderr(self) -> str:
        return (self.logs / "stderr").read_text(errors="replace")

    def log_entries(self) -> list[dict[str, Any]]:
        """Every stderr line, parsed as the JSON log line it must be."""
        return [json.loads(line) for line in self.stderr().splitlines() if line.strip()]
