"""The suite's TCP proxy, mode by mode, against a real private redis-server: redis-py clients (short
socket timeouts, no retries) and bare sockets speaking Redis' inline protocol through it, and a
direct client showing what reached Redis."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from devtools.services import Service, start_redis
from tests.faults.proxy import TcpProxy

SILENCE = 0.5  # how long a black-holed connection is watched for a reply that must not come
ANSWER = 5.0  # how long a reply that must come may take (a loaded machine)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[Service]:
    service = start_redis()
    yield service
    service.stop()


@pytest.fixture
def direct(redis_server: Service) -> redis.Redis:
    client = redis.Redis(port=redis_server.port, socket_timeout=2)
    client.flushdb()
    return client


@pytest.fixture
def proxy(redis_server: Service) -> Iterator[TcpProxy]:
    with TcpProxy(redis_server.port) as running:
        yield running


def through(proxy: TcpProxy, name: str, *, timeout: float = ANSWER) -> redis.Redis:
    """A redis-py client via the proxy that gives up after `timeout` s and never retries."""
    return redis.Redis(
        port=proxy.port,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 0),
        client_name=name,
    )


def bare(proxy: TcpProxy) -> socket.socket:
    return socket.create_connection(("127.0.0.1", proxy.port), timeout=ANSWER)


def reply(sock: socket.socket, expected: bytes) -> bytes:
    """Read until as many bytes as `expected` came (TimeoutError after ANSWER s)."""
    sock.settimeout(ANSWER)
    data = b""
    while len(data) < len(expected):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def client_names(direct: redis.Redis) -> list[str]:
    return sorted(c["name"] for c in direct.client_list() if c["name"])


def eventually(check: Callable[[], bool], within: float = 10) -> bool:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_healthy_proxy_passes_commands_both_ways(proxy, direct) -> None:
    client = through(proxy, "healthy")
    assert client.set("key", "value") is True
    assert client.get("key") == b"value"
    assert direct.get("key") == b"value"
    assert client_names(direct) == ["healthy"]


def test_blackhole_silences_open_connections_and_hangs_new_ones_until_heal(proxy, direct) -> None:
    opened = bare(proxy)
    opened.sendall(b"PING\r\n")
    assert reply(opened, b"+PONG\r\n") == b"+PONG\r\n"

    proxy.blackhole()
    opened.sendall(b"SET held 1\r\n")
    opened.settimeout(SILENCE)
    with pytest.raises(TimeoutError):
        opened.recv(4096)
    late = bare(proxy)  # accepted: the connect succeeds ...
    late.sendall(b"PING\r\n")
    late.settimeout(SILENCE)
    with pytest.raises(TimeoutError):
        late.recv(4096)  # ... and hangs
    hung = through(proxy, "in-the-hole", timeout=SILENCE)
    with pytest.raises(redis.TimeoutError):
        hung.ping()
    assert direct.get("held") is None, "nothing went through"
    assert proxy.connections == 3, "every connection stays open"

    proxy.heal()
    assert reply(opened, b"+OK\r\n") == b"+OK\r\n", "the held command is delivered"
    assert direct.get("held") == b"1"
    assert reply(late, b"+PONG\r\n") == b"+PONG\r\n"
    assert through(proxy, "after").ping() is True


def test_blackhole_existing_silences_the_open_connections_only(proxy, direct) -> None:
    old = through(proxy, "old", timeout=SILENCE)
    assert old.ping() is True

    proxy.blackhole_existing()
    with pytest.raises(redis.TimeoutError):
        old.ping()
    new = through(proxy, "new")
    assert new.ping() is True
    # `old` gave up and closed its end; Redis is never told: the connection is half-open.
    assert client_names(direct) == ["new", "old"]

    proxy.heal()  # the held close goes through at last
    assert eventually(lambda: client_names(direct) == ["new"])


def test_reset_closes_every_open_connection_with_rst_and_new_ones_pass(proxy, direct) -> None:
    opened = bare(proxy)
    pooled = through(proxy, "pooled")
    first_id = pooled.client_id()
    proxy.blackhole_existing()  # reset also ends a black hole

    proxy.reset()
    with pytest.raises(ConnectionResetError):  # a RST, not an orderly EOF (b"")
        opened.recv(4096)
    assert eventually(lambda: client_names(direct) == []), "Redis' side was reset too"
    assert pooled.client_id() != first_id, "redis-py reconnects, and the new connection passes"
    assert client_names(direct) == ["pooled"]
    assert proxy.connections == 1
