"""pods/log, exec, attach and port-forward end to end: the real kubectl and the Python client talk to
the real API server, which proxies to the agent's streaming server over TLS with its token.

The boundary mocked is the pod runtime: no node agent runs pods here. A fake runtime hands the
streaming server log files this test writes and `exec_argv` that returns the command itself, so
"containers" are plain local processes in the host's namespaces (and, for one pod, a network
namespace the test creates). The Node and Pod objects are created by the test so that the API
server routes to this streaming server.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64decode
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest
import websocket
from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.stream import portforward, stream

from cluster.apiserver import pki
from cluster.embedded import EmbeddedCluster
from cluster.nodeagent.streaming import StreamingServer, tls_context

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"
NODE = "node-stream"
NS = "default"
T0 = 1767225600  # 2026-01-01T00:00:00Z


def cri(seconds: float, text: str, stream_name: str = "stdout", tag: str = "F") -> str:
    whole, frac = divmod(round(seconds * 1_000_000_000), 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(T0 + whole)) + f".{frac:09d}Z"
    return f"{stamp} {stream_name} {tag} {text}\n"


# --------------------------------------------------------------------------------------------
# The fake runtime


@dataclass
class FakeContainer:
    directory: Path
    running: bool = True
    stdin: Path | None = None

    @property
    def current(self) -> Path:
        return self.directory / "1.log"

    @property
    def previous(self) -> Path:
        return self.directory / "0.log"

    def append(self, *lines: str, previous: bool = False) -> None:
        with open(self.previous if previous else self.current, "a") as out:
            out.write("".join(lines))


@dataclass
class FakePod:
    namespace: str
    name: str
    root: Path
    container_list: list[str]
    netns: str | None = None
    uid: str = field(default_factory=lambda: str(uuid.uuid4()))
    containers: dict[str, FakeContainer] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.container_list:
            directory = self.root / self.name / name
            directory.mkdir(parents=True)
            self.containers[name] = FakeContainer(directory)

    def container_names(self) -> list[str]:
        return list(self.container_list)

    def log_files(self, container: str, previous: bool) -> list[Path]:
        c = self.containers[container]
        path = c.previous if previous else c.current
        return [path] if path.exists() else []

    def is_running(self, container: str) -> bool:
        return self.containers[container].running

    def exec_argv(self, container: str, command: list[str], tty: bool) -> tuple[list[str], dict[str, str]]:
        # Plain local commands: the fake's "container" is the host.
        return command, {"PATH": os.environ["PATH"], "HOME": "/tmp", "POD_NAME": self.name, "PS1": "pod$ "}

    def stdin_fifo(self, container: str) -> Path | None:
        return self.containers[container].stdin


class FakeRuntime:
    def __init__(self) -> None:
        self.pods: dict[tuple[str, str], FakePod] = {}

    def find(self, namespace: str, pod: str) -> FakePod | None:
        return self.pods.get((namespace, pod))


class AgentThread:
    """The streaming server on its own event loop in a thread, as the agent runs it."""

    def __init__(self, runtime: FakeRuntime, token: str, cert: tuple[Path, Path]):
        self.server = StreamingServer(runtime, token)
        self.context = tls_context(*cert)
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def start(self) -> int:
        self.thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start("127.0.0.1", 0, self.context), self.loop).result(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.server.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


# --------------------------------------------------------------------------------------------
# Fixtures


@dataclass
class World:
    data_dir: Path
    kubeconfig: Path
    env: dict[str, str]
    runtime: FakeRuntime
    root: Path
    api: k8s.ApiClient
    url: str
    agent_port: int

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 30,
                env: dict[str, str] | None = None):
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              env={**self.env, **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def add_pod(self, name: str, containers: list[str] | None = None, status: dict | None = None,
                netns: str | None = None) -> FakePod:
        containers = containers or ["main"]
        pod = FakePod(NS, name, self.root, containers, netns=netns)
        self.runtime.pods[(NS, name)] = pod
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
                "spec": {"nodeName": NODE, "containers": [{"name": c, "image": "local/host"} for c in containers]}}
        k8s.CoreV1Api(self.api).create_namespaced_pod(NS, body)
        status = status if status is not None else running_status(containers)
        self.kubectl("patch", "pod", name, "--subresource=status", "--type=merge", "-p", json.dumps({"status": status}))
        return pod


def running_status(containers: list[str], restarted: bool = False) -> dict:
    statuses = []
    for c in containers:
        status = {"name": c, "ready": True, "started": True, "restartCount": 1 if restarted else 0,
                  "image": "local/host", "imageID": "", "containerID": "kvtui://100",
                  "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}}}
        if restarted:
            status["lastState"] = {"terminated": {"exitCode": 1, "reason": "Error", "containerID": "kvtui://99",
                                                  "startedAt": "2025-12-31T23:59:00Z",
                                                  "finishedAt": "2025-12-31T23:59:59Z"}}
        statuses.append(status)
    return {"phase": "Running", "containerStatuses": statuses}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streaming")
    handle = EmbeddedCluster(tmp / "data")
    extra = {"nodes": 0} if "nodes" in inspect.signature(handle.start).parameters else {}
    status = handle.start(port=0, crds=[], **extra)
    runtime = FakeRuntime()
    # The API server loaded the streaming token and the CA at start; the agent gets the same token
    # and a serving certificate from the same CA.
    pki.issue_serving_cert(handle.data_dir, NODE, ["127.0.0.1"])
    serving = handle.data_dir / "pki" / "serving"
    agent = AgentThread(runtime, pki.ensure_streaming_token(handle.data_dir),
                        (serving / f"{NODE}.crt", serving / f"{NODE}.key"))
    port = agent.start()
    env = {**os.environ, "KUBECONFIG": str(status.kubeconfig), "KUBECACHEDIR": str(tmp / "kubecache")}
    api = k8s_config.new_client_from_config(str(status.kubeconfig))
    w = World(handle.data_dir, status.kubeconfig, env, runtime, tmp / "pods", api, status.url, port)
    k8s.CoreV1Api(api).create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": NODE}})
    w.kubectl("patch", "node", NODE, "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}, {"type": "Hostname", "address": NODE}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))
    yield w
    api.close()
    agent.stop()
    handle.stop()


@pytest.fixture(scope="module")
def logger(world):
    """A running pod with a previous run and a current one, and a partial line."""
    pod = world.add_pod("logger", status=running_status(["main"], restarted=True))
    c = pod.containers["main"]
    c.append(cri(0.5, "old run"), previous=True)
    c.append(cri(1, "one"), cri(2, "two", "stderr"), cri(3, "three"), cri(4, "par", tag="P"), cri(4.25, "tial"))
    return pod


# --------------------------------------------------------------------------------------------
# kubectl logs


def test_logs_decode_cri_lines_and_join_partial_ones(world, logger):
    assert world.kubectl("logs", "logger").stdout == "one\ntwo\nthree\npartial\n"


def test_logs_tail_timestamps_limit_since_and_previous(world, logger):
    # As the kubelet, tail counts the file's lines: a partial line is a line of its own.
    assert world.kubectl("logs", "logger", "--tail=2").stdout == "partial\n"
    assert world.kubectl("logs", "logger", "--tail=3").stdout == "three\npartial\n"
    assert world.kubectl("logs", "logger", "--tail=1", "--timestamps").stdout == (
        "2026-01-01T00:00:04.250000000Z tial\n")
    assert world.kubectl("logs", "logger", "--timestamps", "--tail=3").stdout == (
        "2026-01-01T00:00:03.000000000Z three\n"
        "2026-01-01T00:00:04.000000000Z par2026-01-01T00:00:04.250000000Z tial\n")
    assert world.kubectl("logs", "logger", "--limit-bytes=6").stdout == "one\ntw"
    assert world.kubectl("logs", "logger", "--since-time=2026-01-01T00:00:02Z").stdout == "two\nthree\npartial\n"
    assert world.kubectl("logs", "logger", "--previous").stdout == "old run\n"


def test_logs_of_one_stream_through_the_python_client(world, logger):
    v1 = k8s.CoreV1Api(world.api)
    assert v1.read_namespaced_pod_log("logger", NS, stream="Stderr") == "two\n"
    assert v1.read_namespaced_pod_log("logger", NS, tail_lines=4, container="main") == "two\nthree\npartial\n"


def test_logs_follow_streams_until_the_container_exits(world):
    pod = world.add_pod("follower")
    c = pod.containers["main"]
    c.append(cri(1, "first"))
    proc = subprocess.Popen([KUBECTL, "logs", "-f", "follower"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=world.env)
    try:
        assert proc.stdout.readline() == "first\n"
        c.append(cri(2, "second"))
        assert proc.stdout.readline() == "second\n"
        c.append(cri(3, "last words"))
        c.running = False
        out, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert out == "last words\n"
    assert proc.returncode == 0, err


def test_log_errors_speak_like_kube_apiserver(world, logger):
    world.add_pod("pair", containers=["a", "b"])
    v1 = k8s.CoreV1Api(world.api)
    with pytest.raises(k8s.ApiException) as info:
        v1.read_namespaced_pod_log("pair", NS)
    assert info.value.status == 400
    assert json.loads(info.value.body)["message"] == "a container name must be specified for pod pair, choose one of: [a b]"

    world.add_pod("pending", status={"phase": "Pending", "containerStatuses": [
        {"name": "main", "ready": False, "restartCount": 0, "image": "local/host", "imageID": "",
         "state": {"waiting": {"reason": "ContainerCreating"}}}]})
    out = world.kubectl("logs", "pending", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'Error from server (BadRequest): container "main" in pod "pending" is waiting to start: ContainerCreating')

    out = world.kubectl("logs", "follower", "--previous", check=False)
    assert out.stderr.strip() == (
        'Error from server (BadRequest): previous terminated container "main" in pod "follower" not found')

    out = world.kubectl("logs", "logger", "-c", "nope", check=False)
    assert "container nope is not valid for pod logger" in out.stderr


# --------------------------------------------------------------------------------------------
# kubectl exec


def test_exec_exit_code_and_separate_streams(world, logger):
    out = world.kubectl("exec", "logger", "--", "sh", "-c", "exit 3", check=False)
    assert out.returncode == 3
    assert out.stderr.strip() == "command terminated with exit code 3"
    out = world.kubectl("exec", "logger", "--", "sh", "-c", "echo out; echo err >&2; echo $POD_NAME")
    assert (out.stdout, out.stderr) == ("out\nlogger\n", "err\n")


def test_exec_with_stdin(world, logger):
    out = world.kubectl("exec", "-i", "logger", "--", "sh", "-c", "tr a-z A-Z; echo done")
    assert out.stdout == "done\n"
    out = world.kubectl("exec", "-i", "logger", "--", "sh", "-c", "tr a-z A-Z; echo done", input="hello\nworld\n")
    assert out.stdout == "HELLO\nWORLD\ndone\n"


def test_exec_tty_runs_a_shell_through_a_pty(world, logger):
    shell = pexpect.spawn(KUBECTL, ["exec", "-it", "logger", "--", "sh"], env=world.env, dimensions=(30, 100),
                          encoding="utf-8", timeout=20)
    try:
        shell.expect_exact("pod$ ")
        shell.sendline("stty size; tty; echo $((6*7))")
        shell.expect_exact("30 100")
        shell.expect(r"/dev/pts/\d+")
        shell.expect_exact("42")
        shell.sendline("exit 5")
        shell.expect(pexpect.EOF)
    finally:
        shell.close()
    assert shell.exitstatus == 5


def test_exec_into_a_stopped_container_says_so(world):
    pod = world.add_pod("stopped")
    pod.containers["main"].running = False
    out = world.kubectl("exec", "stopped", "--", "true", check=False)
    assert out.returncode == 1
    assert out.stderr.strip() == (
        'error: Internal error occurred: unable to upgrade connection: container not found ("main")')


def test_exec_of_a_missing_command(world, logger):
    out = world.kubectl("exec", "logger", "--", "no-such-command", check=False)
    assert out.stderr.strip() == ('error: Internal error occurred: error executing command in container: exec: '
                                  '"no-such-command": executable file not found in $PATH')


def test_exec_over_the_base64_channel_protocol(world, logger):
    """The pre-v4 protocols: base64 text frames, and only a failure's message on the error channel."""
    token = (world.data_dir / "pki" / "admin.token").read_text().strip()
    url = world.url.replace("https://", "wss://") + f"/api/v1/namespaces/{NS}/pods/logger/exec?" + urllib.parse.urlencode(
        [("command", "sh"), ("command", "-c"), ("command", "echo hi; exit 2"), ("stdout", "1"), ("stderr", "1")])
    ws = websocket.create_connection(url, header=[f"Authorization: Bearer {token}"], timeout=10,
                                     subprotocols=["base64.channel.k8s.io"],
                                     sslopt={"ca_certs": str(world.data_dir / "pki" / "ca.crt")})
    assert ws.subprotocol == "base64.channel.k8s.io"
    frames = []
    while (frame := ws.recv()):
        frames.append((frame[0], b64decode(frame[1:])))
    assert frames == [("1", b""), ("1", b"hi\n"),
                      ("3", b"command terminated with non-zero exit code: error executing command "
                            b"[sh -c echo hi; exit 2], exit code 2")]


def test_native_spdy_is_refused_with_what_to_use_instead(world, logger):
    out = world.kubectl("exec", "logger", "--", "true", check=False, env={"KUBECTL_REMOTE_COMMAND_WEBSOCKETS": "false"})
    assert out.stderr.strip() == (
        "error: unable to upgrade connection: pods/exec over native SPDY (POST with Upgrade: SPDY/3.1) is not "
        "served by this API server: use a client that speaks WebSocket (kubectl 1.30+ for exec and attach, "
        "1.31+ for port-forward, or the kubernetes Python client)")


def test_the_agent_answers_only_the_api_server(world, logger):
    context = ssl.create_default_context(cafile=str(world.data_dir / "pki" / "ca.crt"))
    url = f"https://127.0.0.1:{world.agent_port}/containerLogs/{NS}/logger/main"
    for headers in ({}, {"Authorization": "Bearer not-the-token"}):
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(urllib.request.Request(url, headers=headers), context=context, timeout=10)
        assert info.value.code == 401
    token = pki.ensure_streaming_token(world.data_dir)
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert response.read() == b"one\ntwo\nthree\npartial\n"


def test_an_unreachable_agent_is_reported_as_kube_apiserver_does(world):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    k8s.CoreV1Api(world.api).create_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-gone"}})
    world.kubectl("patch", "node", "node-gone", "--subresource=status", "--type=merge", "-p", json.dumps({"status": {
        "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
        "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}))
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan"},
            "spec": {"nodeName": "node-gone", "containers": [{"name": "main", "image": "local/host"}]}}
    k8s.CoreV1Api(world.api).create_namespaced_pod(NS, body)
    world.kubectl("patch", "pod", "orphan", "--subresource=status", "--type=merge", "-p",
                  json.dumps({"status": running_status(["main"])}))
    reason = f"dial tcp 127.0.0.1:{port}: connect: connection refused"
    out = world.kubectl("logs", "orphan", check=False)
    assert out.stderr.strip() == (f'Error from server (InternalError): Get "https://127.0.0.1:{port}/containerLogs/'
                                  f'default/orphan/main": {reason}')
    out = world.kubectl("exec", "orphan", "--", "true", check=False)
    assert out.stderr.strip() == (f'error: unable to upgrade connection: error dialing backend: Get '
                                  f'"https://127.0.0.1:{port}/healthz": {reason}')


def test_python_client_exec(world, logger):
    v1 = k8s.CoreV1Api(world.api)
    out = stream(v1.connect_get_namespaced_pod_exec, "logger", NS, command=["sh", "-c", "echo hi; echo there >&2"],
                 stdout=True, stderr=True, stdin=False, tty=False)
    assert out == "hi\nthere\n"
    resp = stream(v1.connect_get_namespaced_pod_exec, "logger", NS, command=["sh", "-c", "read x; echo got $x; exit 7"],
                  stdout=True, stderr=True, stdin=True, tty=False, _preload_content=False)
    resp.write_stdin("it\n")
    resp.run_forever(timeout=20)
    assert resp.read_stdout() == "got it\n"
    assert resp.returncode == 7


# --------------------------------------------------------------------------------------------
# attach


def test_attach_follows_output_and_feeds_the_stdin_fifo(world, tmp_path):
    pod = world.add_pod("attached")
    c = pod.containers["main"]
    c.append(cri(1, "before attach"))
    c.stdin = tmp_path / "stdin"
    os.mkfifo(c.stdin)
    reader = os.open(c.stdin, os.O_RDONLY | os.O_NONBLOCK)  # the "container" end
    try:
        resp = stream(k8s.CoreV1Api(world.api).connect_get_namespaced_pod_attach, "attached", NS, stdout=True,
                      stderr=True, stdin=True, tty=False, _preload_content=False)
        resp.write_stdin("typed\n")
        c.append(cri(2, "after attach"), cri(3, "oops", "stderr"))
        resp.update(timeout=5)
        deadline = time.monotonic() + 20
        out = err = ""
        while ("after attach" not in out or "oops" not in err) and time.monotonic() < deadline:
            resp.update(timeout=1)
            out += resp.read_stdout(timeout=0) or ""
            err += resp.read_stderr(timeout=0) or ""
        assert (out, err) == ("after attach\n", "oops\n")
        typed = b""
        while b"\n" not in typed and time.monotonic() < deadline:
            try:
                typed += os.read(reader, 100)
            except BlockingIOError:
                time.sleep(0.05)
        assert typed == b"typed\n"
        c.running = False
        resp.run_forever(timeout=20)
        assert resp.returncode == 0
    finally:
        os.close(reader)


# --------------------------------------------------------------------------------------------
# port-forward


class EchoServer:
    """A TCP server that answers every line with 'echo: <line>'."""

    def __init__(self, host: str = "127.0.0.1"):
        self.sock = socket.create_server((host, 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    @staticmethod
    def _answer(conn: socket.socket) -> None:
        with conn, conn.makefile("rwb") as stream_:
            for line in stream_:
                stream_.write(b"echo: " + line)
                stream_.flush()

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def echo():
    server = EchoServer()
    yield server
    server.close()


def _talk(port: int, *lines: bytes) -> list[bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn, conn.makefile("rwb") as f:
        answers = []
        for line in lines:
            f.write(line)
            f.flush()
            answers.append(f.readline())
        return answers


def test_kubectl_port_forward_reaches_a_server_in_the_pod(world, logger, echo):
    proc = subprocess.Popen([KUBECTL, "port-forward", "pod/logger", f":{echo.port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=world.env)
    try:
        banner = proc.stdout.readline()
        assert banner.startswith("Forwarding from 127.0.0.1:") and banner.endswith(f" -> {echo.port}\n"), banner
        local = int(banner.split("127.0.0.1:")[1].split()[0])
        assert _talk(local, b"hello\n", b"again\n") == [b"echo: hello\n", b"echo: again\n"]
        # A second connection is a second pair of SPDY streams on the same session.
        assert _talk(local, b"second\n") == [b"echo: second\n"]
        assert proc.poll() is None
    finally:
        proc.terminate()
        proc.communicate(timeout=10)


def test_kubectl_port_forward_to_a_closed_port_says_why_and_stops(world, logger):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    proc = subprocess.Popen([KUBECTL, "port-forward", "pod/logger", f":{port}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=world.env)
    try:
        local = int(proc.stdout.readline().split("127.0.0.1:")[1].split()[0])
        with socket.create_connection(("127.0.0.1", local), timeout=10) as conn:
            assert conn.recv(10) == b""
        _, err = proc.communicate(timeout=20)
    finally:
        proc.kill()
    assert proc.returncode == 1
    assert (f"error forwarding port {port} to pod logger, uid {logger.uid}: failed to connect to "
            f"localhost:{port} inside the host network namespace, IPv4: Connection refused") in err
    assert err.endswith("error: lost connection to pod\n")


def test_python_client_port_forward(world, logger, echo):
    pf = portforward(k8s.CoreV1Api(world.api).connect_get_namespaced_pod_portforward, "logger", NS,
                     ports=str(echo.port))
    sock = pf.socket(echo.port)
    sock.settimeout(10)
    sock.sendall(b"over channels\n")
    data = b""
    while not data.endswith(b"\n"):
        data += sock.recv(100)
    assert data == b"echo: over channels\n"
    sock.close()
    assert pf.error(echo.port) is None


def test_port_forward_to_a_closed_port_reports_the_error(world, logger):
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    pf = portforward(k8s.CoreV1Api(world.api).connect_get_namespaced_pod_portforward, "logger", NS, ports=str(port))
    sock = pf.socket(port)
    sock.settimeout(10)
    assert sock.recv(100) == b""
    assert pf.error(port).startswith(f"error forwarding port {port} to pod logger, uid {logger.uid}: "
                                     f"failed to connect to localhost:{port} inside")


@pytest.fixture
def pod_netns():
    """A network namespace with a loopback device and an echo server inside, as a pod has."""
    name = f"kvtui-test-{uuid.uuid4().hex[:8]}"
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("creating a network namespace needs root and iproute2")
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        pytest.skip("this machine does not allow creating network namespaces")
    server = None
    try:
        subprocess.run(["ip", "netns", "exec", name, "ip", "link", "set", "lo", "up"], check=True)
        code = ("import socket,sys\ns=socket.create_server(('127.0.0.1',0))\nprint(s.getsockname()[1],flush=True)\n"
                "c,_=s.accept()\nf=c.makefile('rwb')\nfor l in f:\n f.write(b'in netns: '+l);f.flush()\n")
        server = subprocess.Popen(["ip", "netns", "exec", name, sys.executable, "-c", code], stdout=subprocess.PIPE,
                                  text=True)
        yield name, int(server.stdout.readline())
    finally:
        if server is not None:
            server.kill()
            server.wait()
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


def test_port_forward_connects_inside_the_pods_network_namespace(world, pod_netns):
    netns, port = pod_netns
    world.add_pod("isolated", netns=netns)
    with pytest.raises(OSError):  # not reachable from the host's namespace
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    pf = portforward(k8s.CoreV1Api(world.api).connect_get_namespaced_pod_portforward, "isolated", NS,
                     ports=str(port))
    sock = pf.socket(port)
    sock.settimeout(10)
    sock.sendall(b"ping\n")
    data = b""
    while not data.endswith(b"\n"):
        data += sock.recv(100)
    assert data == b"in netns: ping\n"
    sock.close()
