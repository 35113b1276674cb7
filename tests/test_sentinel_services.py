"""devtools' Sentinel setup (issue 11): a master, a replica and three sentinels of the same
redis-server binary, and a real failover when the master is SIGKILLed.

Timings are not asserted: sentinels are polled up to a generous deadline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest
import redis
from redis.sentinel import Sentinel

from devtools.services import Service, start_redis, start_sentinel

MASTER_NAME = "signight-test"
# Sentinels find each other through the master's hello channel (every 2 s), then a failover
# takes down_after_ms (1 s) plus an election and the promotion: a few seconds; allow far more.
DEADLINE_SECONDS = 45

T = TypeVar("T")


@dataclass
class SentinelSet:
    master: Service
    replica: Service
    sentinels: list[Service]

    def client(self, service: Service) -> redis.Redis:
        return redis.Redis(port=service.port, decode_responses=True, socket_timeout=2)

    def master_addr(self, sentinel: Service) -> tuple[str, int] | None:
        """SENTINEL get-master-addr-by-name, as the app's clients ask it."""
        with self.client(sentinel) as client:
            answer = client.execute_command("SENTINEL", "get-master-addr-by-name", MASTER_NAME)
        if not answer:
            return None
        host, port = answer
        return host, int(port)


def eventually(probe: Callable[[], T | None], what: str) -> T:
    """Poll `probe` until it returns something truthy; fail after DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    last: object = None
    while time.monotonic() < deadline:
        try:
            answer = probe()
        except redis.RedisError as exc:  # a sentinel busy failing over may refuse for a moment
            last = exc
        else:
            if answer:
                return answer
            last = answer
        time.sleep(0.2)
    raise AssertionError(f"not within {DEADLINE_SECONDS}s: {what} (last answer: {last!r})")


@pytest.fixture
def sentinel_set(tmp_path: Path) -> Iterator[SentinelSet]:
    started: list[Service] = []
    try:
        master = start_redis()
        started.append(master)
        replica = start_redis(replica_of=master.port)
        started.append(replica)
        sentinels = []
        for index in range(3):
            sentinel = start_sentinel(
                MASTER_NAME, master.port, config_dir=tmp_path / f"sentinel-{index}"
            )
            started.append(sentinel)
            sentinels.append(sentinel)
        yield SentinelSet(master, replica, sentinels)
    finally:
        for service in reversed(started):
            service.stop(kill=True)


def ready_for_failover(group: SentinelSet) -> bool:
    """The replica is in sync and every sentinel knows it and the two other sentinels: before
    that, a dead master may be seen down but no sentinel can win the vote to replace it."""
    with group.client(group.replica) as replica:
        if replica.info("replication").get("master_link_status") != "up":
            return False
    for sentinel in group.sentinels:
        with group.client(sentinel) as client:
            replicas = client.sentinel_slaves(MASTER_NAME)
            others = client.sentinel_sentinels(MASTER_NAME)
        if [r["port"] for r in replicas] != [group.replica.port] or len(others) != 2:
            return False
    return True


def test_every_sentinel_names_the_master_it_was_given(sentinel_set: SentinelSet) -> None:
    for sentinel in sentinel_set.sentinels:
        assert sentinel_set.master_addr(sentinel) == ("127.0.0.1", sentinel_set.master.port)
    with sentinel_set.client(sentinel_set.replica) as replica:
        assert replica.info("replication")["role"] == "slave"


def test_sentinels_promote_the_replica_when_the_master_is_killed(
    sentinel_set: SentinelSet,
) -> None:
    eventually(lambda: ready_for_failover(sentinel_set), "sentinels know the replica, each other")
    with (
        sentinel_set.client(sentinel_set.master) as master,
        sentinel_set.client(sentinel_set.replica) as replica,
    ):
        master.set("written-before", "1")
        eventually(lambda: replica.get("written-before"), "the replica has the master's write")

        sentinel_set.master.stop(kill=True)

        promoted = ("127.0.0.1", sentinel_set.replica.port)
        for sentinel in sentinel_set.sentinels:
            eventually(
                lambda sentinel=sentinel: sentinel_set.master_addr(sentinel) == promoted,
                f"sentinel on {sentinel.port} names the replica as master",
            )
        eventually(
            lambda: replica.info("replication")["role"] == "master", "the replica is promoted"
        )
        assert replica.get("written-before") == "1"
        assert replica.set("written-after", "1")
    # redis-py's Sentinel client (what signight.redis uses, in its asyncio form) follows it.
    addresses = [("127.0.0.1", sentinel.port) for sentinel in sentinel_set.sentinels]
    assert Sentinel(addresses, socket_timeout=2).discover_master(MASTER_NAME) == promoted
