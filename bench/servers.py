"""The processes under test: private Redis and SecantusDB, and `manage.py serve` servers.

Servers are started the way production starts them (uvicorn through `manage.py serve`, DEBUG
off, auth and per-address limits off for the bots) and are stopped by pid, never by name.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from devtools.services import Service, free_port, start_redis, start_secantus, wait_for_port

REPO = Path(__file__).resolve().parent.parent
PRODUCT_APP = "signight.asgi:application"
BASELINE_APP = "bench.baseline.asgi:application"


SERVICE_NICE = -5  # the system under test ahead of unrelated work on a shared box (root only)


def prioritize(pid: int) -> None:
    """Renice a process we started; without root this quietly does nothing."""
    with contextlib.suppress(psutil.Error, OSError):
        psutil.Process(pid).nice(SERVICE_NICE)


def raise_nofile_limit() -> int:
    """Lift the soft open-files limit to the hard one (thousands of sockets); returns it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


@dataclass
class Backing:
    """Redis and SecantusDB for one bench run, and the environment every server gets."""

    redis_url: str
    mongo_url: str
    env: dict[str, str]
    redis: Service | None = None  # None: attached to services someone else runs
    mongo: Service | None = None

    @classmethod
    def start(cls) -> Backing:
        """Private Redis and SecantusDB for this run (stopped by stop())."""
        redis = start_redis()
        try:
            mongo = start_secantus()
        except BaseException:
            redis.stop()
            raise
        prioritize(redis.proc.pid)
        prioritize(mongo.proc.pid)
        return cls.attach(redis.url, mongo.url, redis=redis, mongo=mongo)

    @classmethod
    def attach(
        cls,
        redis_url: str,
        mongo_url: str,
        *,
        redis: Service | None = None,
        mongo: Service | None = None,
    ) -> Backing:
        """Use running services (e.g. the test session's); a database of its own in Mongo."""
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "signight.settings",
            "DJANGO_DEBUG": "0",
            "DJANGO_SECRET_KEY": secrets.token_urlsafe(48)[:64],
            "JWT_SECRET": secrets.token_urlsafe(32),
            "WS_AUTH_REQUIRED": "0",
            "WS_MAX_CONNECTIONS_PER_IP": "0",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "ALLOWED_ORIGINS": "*",
            "LOG_LEVEL": "warning",
            # Teardown only: a step's servers are stopped after its measurement, no need to
            # wait out the production drain (SHUTDOWN_DRAIN_SECONDS, default 5 s) every step.
            "SHUTDOWN_DRAIN_SECONDS": "0",
            "REDIS_URL": redis_url,
            "MONGODB_URL": mongo_url,
            "MONGODB_DB_NAME": f"bench_{int(time.time())}_{secrets.token_hex(4)}",
            "PYTHONUNBUFFERED": "1",
        }
        backing = cls(redis_url, mongo_url, env, redis, mongo)
        try:
            backing.migrate()
        except BaseException:
            backing.stop()
            raise
        return backing

    def migrate(self) -> None:
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=REPO,
            env=self.env,
            check=True,
            stdout=subprocess.DEVNULL,
            timeout=120,
        )

    def fresh_database(self) -> None:
        """A new, migrated MONGODB_DB_NAME for the servers started from now on.

        SecantusDB's Join path (room lookup + chat history) slows down as earlier steps' chat
        messages pile up; a ladder or the idle run should not inherit that from another one.
        """
        self.env["MONGODB_DB_NAME"] = f"bench_{int(time.time())}_{secrets.token_hex(4)}"
        self.migrate()

    def pids(self) -> dict[str, int]:
        return {
            name: svc.proc.pid
            for name, svc in (("redis", self.redis), ("mongo", self.mongo))
            if svc is not None
        }

    def flush_redis(self) -> None:
        """Forget presence and channel-layer state between steps; only a Redis of our own."""
        if self.redis is None:
            return
        import redis

        client = redis.Redis.from_url(self.redis_url)
        try:
            client.flushall()
        finally:
            client.close()

    def stop(self) -> None:
        if self.mongo is not None:
            self.mongo.stop()
        if self.redis is not None:
            self.redis.stop()


@dataclass
class Server:
    """One `manage.py serve` process."""

    app: str
    port: int
    http_port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    ps: psutil.Process = field(init=False)

    def __post_init__(self) -> None:
        self.ps = psutil.Process(self.proc.pid)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws/"

    @classmethod
    def start(
        cls,
        backing: Backing,
        *,
        app: str = PRODUCT_APP,
        log_dir: Path,
        timeout: float = 60,
        deflate: bool = False,
        env: dict[str, str] | None = None,
    ) -> Server:
        """`env`: settings of this server only, over the backing's (e.g. its drain period)."""
        port, http_port = free_port(), free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        kind = "baseline" if app == BASELINE_APP else "product"
        log_path = log_dir / f"server-{kind}-{port}.log"
        argv = [
            sys.executable,
            "manage.py",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--http-port",
            str(http_port),
            "--app",
            app,
        ]
        with open(log_path, "ab") as log:
            environ = {
                **backing.env,
                "WS_PER_MESSAGE_DEFLATE": "1" if deflate else "0",
                **(env or {}),
            }
            if app == BASELINE_APP:
                environ["DJANGO_SETTINGS_MODULE"] = "bench.baseline.settings"
            proc = subprocess.Popen(
                argv, cwd=REPO, env=environ, stdout=log, stderr=subprocess.STDOUT
            )
        server = cls(app, port, http_port, proc, log_path)
        prioritize(proc.pid)
        try:
            server.wait_healthy(timeout)
        except BaseException:
            server.stop()
            raise
        return server

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        url = f"http://127.0.0.1:{self.http_port}/health"
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode}; see {self.log_path}"
                )
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise TimeoutError(f"{url} not healthy after {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


class FanoutServer(Server):
    """bench.fanout: the stand-in server of `--mode gencheck` (no Redis, no Django)."""

    @classmethod
    def start_fanout(cls, *, log_dir: Path) -> FanoutServer:
        port = free_port()
        log_dir.mkdir(parents=True, exist_ok=True)
        log_path = log_dir / f"fanout-{port}.log"
        with open(log_path, "ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench.fanout", "--port", str(port)],
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        server = cls("bench.fanout", port, port, proc, log_path)
        try:
            wait_for_port(port, timeout=15, proc=proc)
        except BaseException:
            server.stop()
            raise
        return server
