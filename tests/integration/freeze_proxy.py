"""A TCP proxy on 127.0.0.1 that can go silent: a half-open connection on demand.

``pass`` forwards bytes both ways. ``freeze`` keeps every socket open and forwards
nothing (what a NAT table that lost its entry, a dead load balancer or a suspended VM
looks like to a client: no reset, no answer); new connections are accepted and never
connected upstream. Runs its own event loop on a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading


class FreezeProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.frozen = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        assert started.wait(10)

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def _run(self, started: threading.Event) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(
            asyncio.start_server(self._accept, "127.0.0.1", self.port))
        started.set()
        self._loop.run_forever()
        server.close()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        if self.frozen:
            return  # accepted, never answered
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        self._writers.add(up_writer)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, asyncio.CancelledError):
            while data := await reader.read(65536):
                while self.frozen:  # hold the bytes: never delivered while frozen
                    await asyncio.sleep(0.05)
                writer.write(data)
                await writer.drain()
        writer.close()

    def freeze(self) -> None:
        self.frozen = True

    def thaw(self) -> None:
        """Forward again; connections that were open while frozen are reset (their
        peer gave up on them long ago)."""
        def reset() -> None:
            for w in list(self._writers):
                w.transport.abort()
            self._writers.clear()
            self.frozen = False
        self._loop.call_soon_threadsafe(reset)

    def close(self) -> None:
        self.thaw()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
