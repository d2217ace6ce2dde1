"""A level-triggered controller loop: changes enqueue keys, a worker reconciles them one at a time."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Hashable

from ..errors import APIError
from ..registry import Registry
from ..store import Change

log = logging.getLogger("kvtui.apiserver.controllers")


class Controller:
    name = "controller"

    def __init__(self, registry: Registry):
        self.registry = registry
        self.store = registry.store
        self._queue: asyncio.Queue[Hashable] = asyncio.Queue()
        self._pending: set[Hashable] = set()

    def enqueue(self, key: Hashable) -> None:
        if key not in self._pending:
            self._pending.add(key)
            self._queue.put_nowait(key)

    def observe(self, change: Change) -> None:
        """Called synchronously for every stored change; must only enqueue."""

    def resync(self) -> None:
        """Enqueue whatever needs work after a restart."""

    async def reconcile(self, key: Hashable) -> None:
        raise NotImplementedError

    async def run(self) -> None:
        self.store.subscribe_all(self.observe)
        self.resync()
        while True:
            key = await self._queue.get()
            self._pending.discard(key)
            try:
                await self.reconcile(key)
            except APIError as exc:
                if exc.code not in (404, 409):
                    log.warning("%s: %s: %s", self.name, key, exc.message)
                    asyncio.get_running_loop().call_later(1.0, self.enqueue, key)
                elif exc.code == 409:
                    self.enqueue(key)
            except Exception:
                log.exception("%s failed on %s", self.name, key)
                asyncio.get_running_loop().call_later(5.0, self.enqueue, key)
            await asyncio.sleep(0)
