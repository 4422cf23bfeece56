"""A worker of `recsys serve --workers N` stops once its supervisor is gone, also when the supervisor died
while the worker was still starting (the worker then already has init as its parent)."""

from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor

from recsys.service.app import stop_with_supervisor, supervisor_pid


def test_a_worker_whose_supervisor_is_already_gone_stops() -> None:
    stopped = threading.Event()
    # Our parent is never ourselves: the supervisor this watch waits on is gone from the start.
    stop_with_supervisor(0.01, parent=os.getpid(), stop=stopped.set)
    assert stopped.wait(5)


def test_a_worker_whose_supervisor_lives_keeps_serving() -> None:
    stopped = threading.Event()
    thread = stop_with_supervisor(0.05, parent=os.getppid(), stop=stopped.set)
    assert not stopped.wait(0.3)
    assert thread.is_alive()


def test_the_supervisor_is_the_process_that_spawned_the_worker() -> None:
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        assert pool.submit(supervisor_pid).result(timeout=120) == os.getpid()
    assert supervisor_pid() == os.getppid()  # not started by multiprocessing: the parent as it is
