"""The launcher's health endpoint, as the node agent's startup probe uses it: `GET /readyz`
answers 503 until the domain has started, holds the answer with `?wait=` until it does, and
serves nothing else (the control verbs stay on the loopback endpoint)."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Iterator

import pytest

from launcher.control import health_server


class Health:
    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.started = asyncio.Event()
        self.server = health_server(self.started)
        threading.Thread(target=self.loop.run_forever, daemon=True).start()
        self.port = asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0), self.loop).result(10)

    def get(self, path: str, method: str = "GET") -> tuple[int, dict]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        conn.request(method, path)
        response = conn.getresponse()
        body = json.loads(response.read() or b"{}")
        conn.close()
        return response.status, body

    def start_domain(self) -> None:
        self.loop.call_soon_threadsafe(self.started.set)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.close(timeout=0.5), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)


@pytest.fixture
def health() -> Iterator[Health]:
    handle = Health()
    yield handle
    handle.close()


def test_not_ready_until_the_domain_starts(health):
    assert health.get("/readyz") == (503, {"ready": False, "message": "the domain has not started yet"})
    health.start_domain()
    assert health.get("/readyz") == (200, {"ready": True})


def test_wait_holds_the_answer_until_the_domain_starts(health):
    answers: list[tuple[int, dict]] = []
    waiter = threading.Thread(target=lambda: answers.append(health.get("/readyz?wait=15")))
    waiter.start()
    # The probe is parked in the server; nothing has answered it yet.
    waiter.join(0.3)
    assert answers == []
    health.start_domain()
    waiter.join(15)
    assert answers == [(200, {"ready": True})]


def test_a_bad_wait_and_other_paths_are_refused(health):
    status, body = health.get("/readyz?wait=soon")
    assert status == 400 and "wait must be a number of seconds" in body["message"]
    assert health.get("/pause", "POST")[0] == 404
    assert health.get("/console")[0] == 404
