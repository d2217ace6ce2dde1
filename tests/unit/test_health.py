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


def test_the_health_port_is_bound_before_the_launcher_has_loaded():
    """`python -m launcher` binds KVTUI_HEALTH_PORT first thing: a probe that connects while the
    launcher still loads is queued, not refused, and the health server answers it once it runs."""
    import os
    import socket
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    with socket.socket() as probe_port:
        probe_port.bind(("127.0.0.1", 0))
        port = probe_port.getsockname()[1]
    script = textwrap.dedent(f"""
        import asyncio, sys
        import launcher.early
        print("bound", flush=True)
        sys.stdin.readline()             # "the rest of the launcher loads" until the test says go
        from launcher.control import health_server
        from launcher.early import take_health_socket
        assert take_health_socket({port + 1}) is None     # another port: not this socket
        sock = take_health_socket({port})
        assert sock is not None and take_health_socket({port}) is None
        async def main():
            started = asyncio.Event()
            started.set()
            server = health_server(started)
            assert await server.start("0.0.0.0", {port}, sock=sock) == {port}
            await asyncio.sleep(5)
        asyncio.run(main())
    """)
    root = Path(__file__).resolve().parents[2]
    proc = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True, cwd=root, env={**os.environ, "KVTUI_HEALTH_PORT": str(port)})
    try:
        assert proc.stdout.readline().strip() == "bound"
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
        conn.connect()                                   # accepted by the kernel: not refused
        conn.request("GET", "/readyz")
        proc.stdin.write("go\n")
        proc.stdin.flush()
        response = conn.getresponse()
        assert (response.status, json.loads(response.read())) == (200, {"ready": True})
        conn.close()
    finally:
        proc.kill()
        proc.wait()
