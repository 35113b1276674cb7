"""Real server processes (`manage.py serve`, uvicorn) for end-to-end tests; their clients are in
tests.clients (LiveSocket, RawSocket)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.services import free_port

ROOT = Path(__file__).resolve().parents[2]


def server_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST")}
    env.update({"DJANGO_DEBUG": "1", "WS_AUTH_REQUIRED": "0", "LOG_LEVEL": "warning"})
    # No drain period at the end of a test: a test of draining sets its own.
    env["SHUTDOWN_DRAIN_SECONDS"] = "0"
    env.update(overrides)
    return env


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "migrate", "--noinput", "-v", "0"],
        env=env,
        check=True,
        timeout=120,
    )


@dataclass
class ServerProcess:
    env: dict[str, str]
    ws_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    def argv(self) -> list[str]:
        return [
            sys.executable,
            str(ROOT / "manage.py"),
            "serve",
            "--port",
            str(self.ws_port),
            "--http-port",
            str(self.http_port),
        ]

    def spawn(self, argv: list[str]) -> subprocess.Popen[bytes]:
        """Start the process (its output goes to the test's own)."""
        return subprocess.Popen(argv, env=self.env, cwd=ROOT)

    def died(self) -> str:
        assert self.proc is not None
        return f"server exited with {self.proc.returncode}"

    def start(self, timeout: float = 30) -> ServerProcess:
        self.proc = self.spawn(self.argv())
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.died())
            try:
                if self.get("/rooms")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise TimeoutError("server did not start")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws/"

    def get(self, path: str, port: int | None = None) -> tuple[int, Any]:
        url = f"http://127.0.0.1:{port or self.http_port}{path}"
        request = urllib.request.Request(url, headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def get_text(self, path: str) -> tuple[int, str]:
        """A GET whose answer is not JSON (/metrics)."""
        url = f"http://127.0.0.1:{self.http_port}{path}"
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()

    def player_count(self, room_id: str) -> int:
        """The room's player count as GET /rooms on this server answers it (0: not listed)."""
        status, rooms = self.get("/rooms")
        assert status == 200
        return next((r["player_count"] for r in rooms if r["room_id"] == room_id), 0)

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


def unique_db() -> str:
    return f"signight_e2e_{uuid.uuid4().hex[:8]}"
