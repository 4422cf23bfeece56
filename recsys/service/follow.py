"""Manifest pointer polling: every service process follows its tenants' `current` pointers.

`recsys build` writes a new version into the shared index folder and moves `current` atomically. Each process
runs one `IndexFollower` thread that, every `reload_poll_interval` seconds, compares each tenant's pointer
with the version it serves and, when it moved, switches with `Tenant.follow` (which loads, verifies and
smoke-tests like `POST /v1/admin/reload`). So an admin reload on one node switches that node at once and
every other worker and node within the poll interval. A version that is refused (broken, mismatched) is
logged once and retried only when the pointer moves again; the old version keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping

from recsys.service.tenants import ReloadRefusedError, Tenant
from recsys.store import EventStore

__all__ = ["IndexFollower"]

log = logging.getLogger("recsys.service.follow")

#: Called after each switch the follower made: (tenant, previous version, new version).
OnSwitch = Callable[[str, str, str], None]
#: Called after each version the follower was refused: (tenant,).
OnRefused = Callable[[str], None]


class IndexFollower:
    """A daemon thread that, every `interval` seconds, switches each tenant whose `current` pointer moved."""

    def __init__(self, tenants: Mapping[str, Tenant], store: EventStore, interval: float, *,
                 on_switch: OnSwitch | None = None, on_refused: OnRefused | None = None) -> None:
        self._tenants = tenants
        self._store = store
        self._interval = interval
        self._on_switch = on_switch
        self._on_refused = on_refused
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recsys-index-follower", daemon=True)

    def start(self) -> IndexFollower:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def poll_once(self) -> None:
        for tenant in self._tenants.values():
            try:
                switched = tenant.follow(self._store)
            except ReloadRefusedError as exc:  # not retried until the pointer moves again
                log.warning("tenant %s: %s", tenant.name, exc)
                if self._on_refused is not None:
                    self._on_refused(tenant.name)
                continue
            except Exception:  # a thread that died here would stop following: log, poll again next time
                log.exception("tenant %s: following %s failed; still serving %s", tenant.name, tenant.index_root,
                              tenant.served.version)
                continue
            if switched is not None and self._on_switch is not None:
                self._on_switch(tenant.name, *switched)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.poll_once()
