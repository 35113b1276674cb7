"""TcpProxy: the fault suite's own TCP relay between server processes and Redis or MongoDB, which
black-holes or resets the connections through it on demand. It runs a private asyncio loop in a
thread of the test process; every method returns once the change holds for every connection.

Modes (the start is `heal`ed: everything passes):
  blackhole()           every connection, open or new, stays open and nothing is forwarded either
                        way; a new one is accepted and hangs (upstream is dialled only at heal)
  blackhole_existing()  the connections open now go silent both ways, new ones pass: a half-open
                        connection (a NAT entry lost, a peer gone without a FIN)
  reset()               every open connection is closed with a TCP RST (SO_LINGER 0) on both
                        sides; new ones pass
  heal()                forward normally again; black-holed connections stay open and resume

Bytes sent into a black hole are held, not dropped: the proxy stops reading, so they wait in the
kernel's buffers (at most one chunk per direction in the proxy) and are delivered, in order, at
heal, as TCP's retransmissions would deliver them once a partition heals. So is a close: a peer
that gave up on a black-holed connection has its last bytes and its FIN delivered at heal. A
command that timed out on the client may therefore still run on the server, late.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

T = TypeVar("T")

CHUNK = 65536


@dataclass(eq=False)
class _Link:
    """One accepted connection and its upstream one; `flowing` is clear while black-holed."""

    client: socket.socket
    flowing: asyncio.Event
    upstream: socket.socket | None = None
    task: asyncio.Task[None] | None = None

    def sockets(self) -> list[socket.socket]:
        return [s for s in (self.client, self.upstream) if s is not None]

    def arm_rst(self) -> None:
        """Make the next close of both sockets a RST instead of a FIN."""
        for sock in self.sockets():
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def close(self) -> None:
        for sock in self.sockets():
            sock.close()


@dataclass(eq=False)
class TcpProxy:
    """`with TcpProxy(target_port) as proxy:` relays 127.0.0.1:`proxy.port` to the target."""

    target_port: int
    target_host: str = "127.0.0.1"
    port: int = field(init=False)

    def __post_init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name=f"tcp-proxy-{self.port}", daemon=True
        )
        self._links: set[_Link] = set()
        self._new_ones_flow = True
        self._acceptor: asyncio.Task[None] | None = None

    # --- the test's side (any thread but the proxy's) -----------------------------------------

    def __enter__(self) -> TcpProxy:
        self._thread.start()
        self._call(self._start())
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()
        self._listener.close()

    def blackhole(self) -> None:
        self._call(self._set(existing=False, new=False))

    def blackhole_existing(self) -> None:
        self._call(self._set(existing=False, new=True))

    def heal(self) -> None:
        self._call(self._set(existing=True, new=True))

    def reset(self) -> None:
        self._call(self._reset())

    @property
    def connections(self) -> int:
        """How many connections through the proxy are open (black-holed ones included)."""
        return self._call(self._count())

    def _call(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=10)

    # --- the proxy's loop ---------------------------------------------------------------------

    async def _start(self) -> None:
        self._acceptor = asyncio.create_task(self._accept())

    async def _stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.cancel()
        tasks = [link.task for link in self._links if link.task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _set(self, *, existing: bool, new: bool) -> None:
        self._new_ones_flow = new
        for link in self._links:
            if existing:
                link.flowing.set()
            else:
                link.flowing.clear()

    async def _reset(self) -> None:
        self._new_ones_flow = True
        links, self._links = list(self._links), set()
        for link in links:
            link.arm_rst()
            if link.task is not None:
                link.task.cancel()
        await asyncio.gather(*(link.task for link in links if link.task), return_exceptions=True)

    async def _count(self) -> int:
        return len(self._links)

    async def _accept(self) -> None:
        while True:
            client, _ = await self._loop.sock_accept(self._listener)
            client.setblocking(False)
            link = _Link(client, asyncio.Event())
            if self._new_ones_flow:
                link.flowing.set()
            self._links.add(link)
            link.task = asyncio.create_task(self._relay(link))

    async def _relay(self, link: _Link) -> None:
        try:
            await link.flowing.wait()  # accepted in a black hole: nothing reaches upstream yet
            upstream = link.upstream = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            upstream.setblocking(False)
            await self._loop.sock_connect(upstream, (self.target_host, self.target_port))
            pumps = [
                asyncio.create_task(self._pump(link, link.client, upstream)),
                asyncio.create_task(self._pump(link, upstream, link.client)),
            ]
            try:
                done, _ = await asyncio.wait(pumps, return_when=asyncio.FIRST_EXCEPTION)
            finally:
                for pump in pumps:
                    pump.cancel()
                await asyncio.gather(*pumps, return_exceptions=True)
            if any(pump.exception() for pump in done if not pump.cancelled()):
                link.arm_rst()  # one side was reset: so is the other
        except OSError:
            link.arm_rst()
        finally:
            self._links.discard(link)
            link.close()

    async def _pump(self, link: _Link, source: socket.socket, sink: socket.socket) -> None:
        """Copy one direction until EOF, which is passed on as a half-close. While the link is
        black-holed nothing is read, and what was read just before waits here for heal."""
        while True:
            await link.flowing.wait()
            try:
                data = await self._loop.sock_recv(source, CHUNK)
            except OSError:
                await link.flowing.wait()
                raise
            await link.flowing.wait()
            if not data:
                break
            await self._loop.sock_sendall(sink, data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)
