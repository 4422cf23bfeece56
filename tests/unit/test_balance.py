"""The workers' connection balance (`recsys.service.balance`): the share rule, the board file and the
middleware that closes a connection after its response when its worker holds more than its share."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from recsys.service.balance import (
    SHED_EVERY_S,
    STALE_S,
    Balance,
    Board,
    BoardFull,
    CountedHttpToolsProtocol,
    create_board,
    over_share,
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("mine", "others", "shed"), [
    (9, [7], True), (8, [8], False), (9, [8], False), (16, [0], True), (1, [], False), (0, [5], False),
    (3, [0, 0], True), (2, [1, 1], False), (12, [2, 2], True),
])
def test_over_share_is_more_than_the_ceiling_of_the_mean(mine: int, others: list[int], shed: bool):
    assert over_share(mine, others) is shed


def test_board_slots_beats_and_stale_peers(tmp_path: Path):
    path = tmp_path / "board"
    create_board(path, 2)
    clock = Clock()
    a, b = Board(path, clock=clock, pid=11), Board(path, clock=clock, pid=12)
    assert (a.slot, b.slot) == (0, 1)
    a.beat(5)
    b.beat(3)
    assert b.others() == [5] and a.others() == [3]
    with pytest.raises(BoardFull):
        Board(path, clock=clock, pid=13)
    clock.now += STALE_S + 1  # a stops beating (dead or stuck): not counted, and its slot can be taken
    b.beat(3)
    assert b.others() == []
    c = Board(path, clock=clock, pid=13)
    assert c.slot == a.slot and b.others() == [0]
    c.release()
    assert b.others() == []


def _app(sent: list[dict]):
    async def app(scope, receive, send):
        if scope["type"] == "lifespan":
            await receive()
            await send({"type": "lifespan.startup.complete"})
            await receive()
            await send({"type": "lifespan.shutdown.complete"})
            return
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"{}"})

    async def send(message: dict) -> None:
        sent.append(message)

    return app, send


def _closes(sent: list[dict]) -> bool:
    start = [m for m in sent if m["type"] == "http.response.start"][-1]
    return (b"connection", b"close") in start["headers"]


def test_balance_closes_one_connection_when_over_share_at_most_every_interval(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "board"
    create_board(path, 2)
    clock = Clock()
    sent: list[dict] = []
    app, send = _app(sent)
    shed: list[int] = []
    mw = Balance(app, path, on_shed=lambda: shed.append(1), clock=clock)
    peer = Board(path, pid=os.getpid() + 1)
    mw.board = Board(path)

    async def request() -> bool:
        sent.clear()
        await mw({"type": "http"}, None, send)
        return _closes(sent)

    monkeypatch.setattr(CountedHttpToolsProtocol, "held", 8)
    peer.beat(8)
    assert not asyncio.run(request())  # an even split stays
    monkeypatch.setattr(CountedHttpToolsProtocol, "held", 12)
    peer.beat(4)
    assert asyncio.run(request())
    assert not asyncio.run(request())  # at most one per interval: a peer that stopped accepting costs little
    clock.now += 2 * SHED_EVERY_S
    assert asyncio.run(request())
    assert len(shed) == 2
    assert sent[-1] == {"type": "http.response.body", "body": b"{}"}  # the response itself is whole


def test_balance_claims_its_slot_once_started_and_frees_it_at_shutdown(tmp_path: Path):
    path = tmp_path / "board"
    create_board(path, 2)
    sent: list[dict] = []
    app, send = _app(sent)
    mw = Balance(app, path)
    peer = Board(path, pid=os.getpid() + 1)
    messages = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])
    seen: list[list[int]] = []

    async def receive() -> dict:
        seen.append(peer.others())  # what the peer sees of this worker before each lifespan step
        return next(messages)

    async def run() -> None:
        await mw({"type": "lifespan"}, receive, send)

    asyncio.run(run())
    assert seen == [[], [0]]  # not on the board while starting; on it once started
    assert peer.others() == [] and mw.board is None
    assert [m["type"] for m in sent] == ["lifespan.startup.complete", "lifespan.shutdown.complete"]


def test_a_request_without_a_board_passes_through(tmp_path: Path):
    sent: list[dict] = []
    app, send = _app(sent)
    asyncio.run(Balance(app, tmp_path / "absent")({"type": "http"}, None, send))
    assert not _closes(sent)
