"""The processes of a fault test: `manage.py serve` servers on the suite's one migrated database,
started side by side (they boot in parallel on two cores) and stopped side by side, with the
suite's short timings (a dead node reaped within seconds, no drain at teardown), and the proxies
between them and their backing services."""

from __future__ import annotations

import signal
from concurrent.futures import ThreadPoolExecutor

from rooms.hub import RECONCILE_INTERVAL
from tests.e2e.servers import ServerProcess, migrate, server_env, unique_db
from tests.faults.proxy import TcpProxy

TTL = 3  # PRESENCE_TTL_SECONDS: a heartbeat every second, a dead node reaped within TTL + 5 s
SETTLED = TTL + 5 + RECONCILE_INTERVAL
"""Seconds within which a room is whole again after a fault: each process removes its ghosts
every RECONCILE_INTERVAL s, and a dead process's players are reaped within TTL + 5 s."""
FAST = {
    "PRESENCE_TTL_SECONDS": str(TTL),
    "SHUTDOWN_DRAIN_SECONDS": "0",  # a test that drains sets its own
    # the recovery loops retry refused chats a few times a second: no rate_limited for them
    "WS_CHAT_RATE": "100",
    "WS_CHAT_BURST": "50",
}


def migrated_database() -> str:
    """A fresh database, migrated once for the whole suite (each test has its own rooms)."""
    name = unique_db()
    migrate(server_env(MONGODB_DB_NAME=name))
    return name


class Cluster:
    """The servers and proxies one test starts (`start`, `proxy`), all stopped at its end."""

    def __init__(self, database: str) -> None:
        self.database = database
        self.servers: list[ServerProcess] = []
        self.proxies: list[TcpProxy] = []

    def proxy(self, target_port: int) -> TcpProxy:
        """A running TcpProxy to `target_port`; at the end it is healed before the servers stop
        (a failed test may leave a black hole) and closed after."""
        proxy = TcpProxy(target_port).__enter__()
        self.proxies.append(proxy)
        return proxy

    def start(self, count: int, **overrides: str) -> list[ServerProcess]:
        """`count` servers with the suite's env plus `overrides` (REDIS_URL, MONGODB_URL ...; a
        MONGODB_DB_NAME of its own must be migrated by the test)."""
        return self.start_each(*[overrides] * count)

    def start_each(self, *overrides: dict[str, str]) -> list[ServerProcess]:
        """One server per mapping of `overrides` (as `start`'s), started side by side: servers
        that differ (one drains for longer than the other)."""
        servers = [
            ServerProcess(server_env(**{"MONGODB_DB_NAME": self.database, **FAST, **each}))
            for each in overrides
        ]
        self.servers.extend(servers)
        with ThreadPoolExecutor(len(servers)) as pool:
            list(pool.map(ServerProcess.start, servers))
        return servers

    def stop(self) -> None:
        for proxy in self.proxies:
            proxy.heal()
        for server in self.servers:
            if server.proc is not None and server.proc.poll() is None:
                server.signal(signal.SIGCONT)  # a test that failed while it was paused
        if self.servers:
            with ThreadPoolExecutor(len(self.servers)) as pool:
                list(pool.map(ServerProcess.stop, self.servers))
        for proxy in self.proxies:
            proxy.__exit__(None, None, None)
