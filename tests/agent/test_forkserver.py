"""The node's fork server (shim.py --fork-server, forkserver.py): container monitors forked from one
process that has done the imports, and Python containers run in-process — with everything a new
process would have had (argv, environment, working directory, session, exit status).

Real processes throughout; the shim enters mount and UTS namespaces, so this needs root.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import sys
import time
from pathlib import Path

import pytest

from cluster.nodeagent.forkserver import ForkServer
from cluster.nodeagent.images import ImageMap, ImageMapError
from cluster.nodeagent.runtime import SHIM, ContainerSpec, PodRuntime, process_alive

MAIN = """
import json, os, sys, time
import probe.heavy
if len(sys.argv) > 1 and sys.argv[1] == "sleep":
    print("sleeping", flush=True)
    time.sleep(60)
print(json.dumps({"argv": sys.argv, "env": dict(os.environ), "cwd": os.getcwd(), "pid": os.getpid(),
                  "sid": os.getsid(0), "heavy_from": probe.heavy.LOADED_BY, "name": __name__,
                  "optimize": sys.flags.optimize}))
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
"""


@pytest.fixture
def package(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("the shim enters mount and UTS namespaces: needs root")
    root = tmp_path / "pkg"
    (root / "probe").mkdir(parents=True)
    (root / "probe" / "__init__.py").write_text("")
    (root / "probe" / "heavy.py").write_text(
        f"import os\nLOADED_BY = os.getpid()\nwith open({str(tmp_path / 'imports')!r}, 'a') as f:\n"
        "    f.write(f'{LOADED_BY}\\n')\n")
    (root / "probe" / "__main__.py").write_text(MAIN)
    return root


@pytest.fixture
def server(tmp_path, package):
    fork_server = ForkServer(SHIM, tmp_path / "fs.sock", tmp_path / "fs.log", ["probe.heavy"], ["probe"],
                             [str(package)])
    assert fork_server.start(), (tmp_path / "fs.log").read_text()
    yield fork_server
    fork_server.stop()


def _spec(tmp_path: Path, name: str, argv: list[str], env: dict[str, str]) -> Path:
    directory = tmp_path / name
    directory.mkdir()
    spec = {"argv": argv, "env": env, "workingDir": str(tmp_path), "mounts": [], "hostname": "", "netns": None,
            "cgroups": [], "scratch": str(directory), "logFile": str(directory / "log"),
            "stateFile": str(directory / "state.json"), "exitFile": str(directory / "exit.json"),
            "stdinFifo": None}
    (directory / "spec.json").write_text(json.dumps(spec))
    return directory


def _run(server: ForkServer, directory: Path) -> tuple[int, dict]:
    forked = server.spawn(directory / "spec.json", directory / "shim.log")
    assert forked is not None
    monitor, report_fd = forked
    with os.fdopen(report_fd, "rb") as report:
        started = json.loads(report.readline())
    assert "pid" in started, started
    return monitor, started


def _exit(directory: Path, timeout: float = 20) -> dict:
    deadline = time.monotonic() + timeout
    while not (directory / "exit.json").exists():
        assert time.monotonic() < deadline, (directory / "shim.log").read_text()
        time.sleep(0.02)
    return json.loads((directory / "exit.json").read_text())


def _stdout(directory: Path) -> list[str]:
    return [line.split(" ", 3)[3] for line in (directory / "log").read_text().splitlines() if " stdout " in line]


def test_a_preloaded_module_runs_in_process_as_python_m_would(tmp_path, package, server):
    env = {"PYTHONPATH": str(package), "GREETING": "hello"}
    directory = _spec(tmp_path, "c", [sys.executable, "-m", "probe", "3"], env)
    monitor, started = _run(server, directory)
    assert _exit(directory)["exitCode"] == 3
    seen = json.loads(_stdout(directory)[0])
    assert seen["argv"][1:] == ["3"] and seen["argv"][0].endswith("probe/__main__.py")
    assert seen["name"] == "__main__"
    assert seen["env"] == env  # the container's environment, and only it
    assert seen["cwd"] == str(tmp_path)
    assert seen["pid"] == started["pid"] and seen["sid"] == started["pid"]  # leads its own session
    assert seen["pid"] != monitor
    # Imported once, by the fork server, not by the container.
    assert (tmp_path / "imports").read_text().split() == [str(seen["heavy_from"])]
    assert seen["heavy_from"] not in (seen["pid"], monitor)


def test_a_fork_server_at_OO_runs_only_OO_containers_in_process(tmp_path, package):
    optimized = ForkServer(SHIM, tmp_path / "oo.sock", tmp_path / "oo.log", ["probe.heavy"], ["probe"],
                           [str(package)], optimize=2)
    assert optimized.start(), (tmp_path / "oo.log").read_text()
    try:
        env = {"PYTHONPATH": str(package)}
        seen = {}
        for name, flags in (("oo", ["-OO"]), ("plain", [])):
            directory = _spec(tmp_path, name, [sys.executable, *flags, "-m", "probe", "0"], env)
            _run(optimized, directory)
            assert _exit(directory)["exitCode"] == 0
            seen[name] = json.loads(_stdout(directory)[0])
        assert seen["oo"]["optimize"] == 2 and seen["oo"]["argv"][1:] == ["0"]
        assert seen["plain"]["optimize"] == 0 and seen["plain"]["argv"][1:] == ["0"]
        # The -OO one ran on the server's import; the plain one imported it again, in a new interpreter.
        importers = (tmp_path / "imports").read_text().split()
        assert importers == [str(seen["oo"]["heavy_from"]), str(seen["plain"]["pid"])]
    finally:
        optimized.stop()


def test_other_commands_are_executed_as_usual(tmp_path, package, server):
    directory = _spec(tmp_path, "sh", ["sh", "-c", "echo from sh; exit 4"], {"PATH": os.environ["PATH"]})
    _run(server, directory)
    assert _exit(directory)["exitCode"] == 4
    assert _stdout(directory) == ["from sh"]
    # The same module under another PYTHONPATH is a different program: a new interpreter runs it.
    other = tmp_path / "other"
    (other / "probe").mkdir(parents=True)
    (other / "probe" / "__init__.py").write_text("")
    (other / "probe" / "__main__.py").write_text("print('the other probe')\n")
    directory = _spec(tmp_path, "other-path", [sys.executable, "-m", "probe"], {"PYTHONPATH": str(other)})
    _run(server, directory)
    assert _exit(directory)["exitCode"] == 0
    assert _stdout(directory) == ["the other probe"]


def test_a_failed_start_is_reported_as_before(tmp_path, package, server):
    directory = _spec(tmp_path, "missing", ["/no/such/program"], {})
    forked = server.spawn(directory / "spec.json", directory / "shim.log")
    assert forked is not None
    with os.fdopen(forked[1], "rb") as report:
        assert "no such file or directory" in json.loads(report.readline())["error"]
    assert _exit(directory)["startError"].startswith('exec: "/no/such/program"')


def test_containers_outlive_the_fork_server(tmp_path, package, server):
    directory = _spec(tmp_path, "long", [sys.executable, "-m", "probe", "sleep"], {"PYTHONPATH": str(package)})
    monitor, started = _run(server, directory)
    server_pid = server._proc.pid  # type: ignore[union-attr]
    os.kill(server_pid, signal.SIGKILL)
    server._proc.wait()  # type: ignore[union-attr]
    time.sleep(0.3)
    assert process_alive(monitor) and process_alive(started["pid"])
    assert server.spawn(directory / "spec.json", directory / "shim.log") is None  # the caller starts its own
    os.kill(started["pid"], signal.SIGTERM)
    result = _exit(directory)
    assert (result["exitCode"], result["signal"]) == (143, 15)  # the monitor still recorded the exit


def test_the_server_ends_with_its_agent_and_its_socket_is_private(tmp_path, package, server):
    assert stat.S_IMODE(os.stat(tmp_path / "fs.sock").st_mode) == 0o600
    proc = server._proc
    assert proc is not None and proc.stdin is not None
    proc.stdin.close()  # what the agent's death does to the pipe
    assert proc.wait(10) == 0


def test_requests_without_the_report_pipe_are_refused(tmp_path, package, server):
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
        conn.connect(str(tmp_path / "fs.sock"))
        conn.send(json.dumps({"spec": "/etc/passwd", "log": str(tmp_path / "x.log")}).encode())
        assert "error" in json.loads(conn.recv(4096))


def test_the_runtime_falls_back_to_its_own_monitor_when_the_server_is_gone(tmp_path, package, server):
    import asyncio

    runtime = PodRuntime(tmp_path / "root")
    runtime.fork_server = server
    server_pid = server._proc.pid  # type: ignore[union-attr]
    server.stop()
    sandbox = runtime.sandbox("uid-1", "default", "p")
    spec = ContainerSpec(argv=[sys.executable, "-m", "probe", "5"], env={"PYTHONPATH": str(package)},
                         working_dir=None, mounts=[], resources={}, hostname="")

    async def start():
        instance = await runtime.start(sandbox, "main", spec)
        deadline = time.monotonic() + 20
        while not instance.path("exit.json").exists():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        return instance

    try:
        instance = asyncio.run(start())
        assert json.loads(instance.path("exit.json").read_text())["exitCode"] == 5
    finally:
        runtime.forget("uid-1")   # its cgroups too
    importers = (tmp_path / "imports").read_text().split()
    assert importers[0] == str(server_pid) and len(importers) == 2  # a new interpreter imported it again


def test_image_map_preload_needs_a_python_module_entrypoint(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text('images:\n  - image: "x/*"\n    entrypoint: ["{python}", "-m", "app"]\n'
                    '    env: {PYTHONPATH: "/opt/app:/opt/lib"}\n    preload: app.deps\n')
    preload, modules, paths, optimize = ImageMap(good).fork_server_modules()
    assert (preload, modules, paths[:2], optimize) == (["app.deps"], ["app"], ["/opt/app", "/opt/lib"], 0)
    # Alone, the built-in launcher entry: run as python -OO, so the fork server is.
    assert ImageMap().fork_server_modules()[::3] == (["launcher.preload"], 2)
    optimized = tmp_path / "optimized.yaml"
    optimized.write_text('images:\n  - image: "x/*"\n    entrypoint: ["{python}", "-OO", "-m", "app"]\n'
                         '    preload: app.deps\n')
    preload, modules, _, optimize = ImageMap(optimized).fork_server_modules()
    assert (preload, modules, optimize) == (["app.deps", "launcher.preload"], ["app", "launcher"], 2)
    bad = tmp_path / "bad.yaml"
    bad.write_text('images:\n  - image: "x/*"\n    entrypoint: ["/usr/bin/app"]\n    preload: app.deps\n')
    with pytest.raises(ImageMapError, match=r"images\[0\]\.preload needs an entrypoint"):
        ImageMap(bad)


def test_the_launchers_preload_leaves_the_health_port_to_each_launcher():
    import subprocess

    code = ("import sys, launcher.preload; "
            "print(sorted(m for m in ('launcher.early', 'launcher.__main__') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
