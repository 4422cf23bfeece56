"""Least-connections balance between the worker processes of `recsys serve --workers N`.

The workers accept from one shared listening socket, and whichever is awake first accepts every
connection waiting: a load generator or a proxy that opens its keep-alive connections in one burst can
hand 15 of 16 to one worker, which then serves them on one core while the other idles (measured: half the
throughput). Keep-alive connections stay where they were accepted, so the split never heals by itself.

Each worker publishes on a shared board (a small memory-mapped file the supervisor creates, one slot per
worker) how many connections it holds and a heartbeat. A worker holding more than its share of all the
live workers' connections (`over_share`) answers one request with `Connection: close`; the client
reconnects and the next accept may land elsewhere, and repeats converge on an even split. It sheds at
most one connection per `SHED_EVERY_S`, so a worker whose peers stopped accepting (hung, or still
starting) costs a reconnect a few times a second, never one per request; a peer whose heartbeat is older
than `STALE_S` (dead or stuck) is not counted. Nothing else changes: the response itself is complete.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import mmap
import os
import struct
import time
from collections.abc import Callable
from pathlib import Path

from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

__all__ = ["over_share", "Board", "Balance", "CountedHttpToolsProtocol", "BOARD_ENV", "create_board"]

balance_log = logging.getLogger("recsys.service.balance")
#: The environment variable naming the board file of this worker's supervisor.
BOARD_ENV = "RECSYS_BALANCE_BOARD"
#: Per slot: worker pid (0: free), connections held, heartbeat (CLOCK_MONOTONIC, one clock machine-wide).
_SLOT = struct.Struct("<qqd")
SHED_EVERY_S = 0.05
BEAT_EVERY_S = 0.25
STALE_S = 2.0


class BoardFull(RuntimeError):
    """Every slot of the board is held by a worker that still beats."""


def over_share(mine: int, others: list[int]) -> bool:
    """Whether a worker holding `mine` connections holds more than its share when the other live workers
    hold `others`: more than the ceiling of the mean, so an odd total's extra connection stays put."""
    total = mine + sum(others)
    return mine > -(-total // (1 + len(others)))


def create_board(path: Path, slots: int) -> None:
    """An empty board with `slots` slots (the supervisor's, before it starts its workers; give it room for
    restarted workers, whose predecessors' slots stay taken until their heartbeat is stale)."""
    path.write_bytes(bytes(_SLOT.size * slots))


class Board:
    """One worker's view of the board file: it writes its own slot and reads the others'."""

    def __init__(self, path: str | Path, *, clock: Callable[[], float] = time.monotonic, pid: int | None = None
                 ) -> None:
        self._file = open(path, "r+b")  # noqa: SIM115 - held for the worker's life, closed in `release`
        self._map = mmap.mmap(self._file.fileno(), 0)
        self.slots = len(self._map) // _SLOT.size
        self._clock = clock
        self.pid = os.getpid() if pid is None else pid
        self.slot = self._claim()

    def _read(self, i: int) -> tuple[int, int, float]:
        pid, held, beat = _SLOT.unpack_from(self._map, i * _SLOT.size)
        return int(pid), int(held), float(beat)

    def _claim(self) -> int:
        """A free slot, or one whose worker stopped beating (a restarted worker takes its predecessor's)."""
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        try:
            now = self._clock()
            for i in range(self.slots):
                pid, _, beat = self._read(i)
                if pid == 0 or pid == self.pid or now - beat > STALE_S:
                    _SLOT.pack_into(self._map, i * _SLOT.size, self.pid, 0, now)
                    return i
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        raise BoardFull(f"no free slot among {self.slots} on the worker balance board {self._file.name}")

    def beat(self, held: int) -> None:
        _SLOT.pack_into(self._map, self.slot * _SLOT.size, self.pid, held, self._clock())

    def others(self) -> list[int]:
        """Connections held by each other worker whose heartbeat is fresh."""
        now = self._clock()
        out = []
        for i in range(self.slots):
            if i != self.slot:
                pid, held, beat = self._read(i)
                if pid != 0 and now - beat <= STALE_S:
                    out.append(held)
        return out

    def release(self) -> None:
        if self._map.closed:
            return
        _SLOT.pack_into(self._map, self.slot * _SLOT.size, 0, 0, 0.0)
        self._map.close()
        self._file.close()


class CountedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, counting this process's open connections in `held`."""

    held = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        CountedHttpToolsProtocol.held += 1
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        CountedHttpToolsProtocol.held -= 1
        super().connection_lost(exc)


class Balance:
    """ASGI middleware of one worker: claims its board slot when the app has started, beats while it runs,
    and closes a connection after its response when the worker holds more than its share."""

    def __init__(self, app: ASGIApp, board_path: str | Path, on_shed: Callable[[], None] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.board_path = board_path
        self.board: Board | None = None
        self.on_shed = on_shed
        self._clock = clock
        self._last_shed = -SHED_EVERY_S
        self._beats: asyncio.TimerHandle | None = None

    def _beat(self) -> None:
        if self.board is not None:
            self.board.beat(CountedHttpToolsProtocol.held)
            self._beats = asyncio.get_running_loop().call_later(BEAT_EVERY_S, self._beat)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._lifespan(send))
            return
        if scope["type"] != "http" or self.board is None:
            await self.app(scope, receive, send)
            return
        board = self.board

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                held = CountedHttpToolsProtocol.held
                board.beat(held)
                now = self._clock()
                if now - self._last_shed >= SHED_EVERY_S and over_share(held, board.others()):
                    self._last_shed = now
                    message = {**message, "headers": [*message.get("headers", []), (b"connection", b"close")]}
                    if self.on_shed is not None:
                        self.on_shed()
            await send(message)

        await self.app(scope, receive, send_wrapper)

    def _lifespan(self, send: Send) -> Send:
        async def wrapped(message: Message) -> None:
            if message["type"] == "lifespan.startup.complete":
                try:
                    self.board = Board(self.board_path)
                except (OSError, ValueError, BoardFull) as exc:  # serving unbalanced beats not serving
                    balance_log.warning("worker %d serves without connection balance: %s", os.getpid(), exc)
                else:
                    self._beat()
            elif message["type"] == "lifespan.shutdown.complete" and self.board is not None:
                if self._beats is not None:
                    self._beats.cancel()
                self.board.release()
                self.board = None
            await send(message)
        return wrapped
