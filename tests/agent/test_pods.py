"""Pods run by the real node agent as host processes, driven with the real kubectl.

One embedded cluster with one node agent for the module; the agent's crash-loop back-off starts at
1 s (instead of the kubelet's 10 s) so restarts are quick to observe. Needs root (namespaces, the
pod bridge); the fixture stops every pod and removes their network namespaces even on failure.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from cluster.embedded import EmbeddedCluster
from cluster.nodeagent.envvars import expand
from cluster.nodeagent.images import ImageMap, ImageMapError
from cluster.nodeagent.shim import LogWriter
from cluster.nodeagent.status import go_duration, pod_phase
from tests.api.conftest import Cluster

NEEDS_ROOT = ("the node agent needs root: it creates network namespaces, the kvtui0 bridge and a mount "
              "namespace per container")

AGENT_ARGS = ["--crash-loop-backoff-initial", "1", "--crash-loop-backoff-max", "8", "--startup-boost-slots", "1"]
CRI_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] ")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip(NEEDS_ROOT)
    tmp = tmp_path_factory.mktemp("agent")
    handle = EmbeddedCluster(tmp / "data")
    try:
        status = handle.start(port=0, crds=[], nodes=1, agent_args=AGENT_ARGS)
        yield Cluster(handle.data_dir, status.kubeconfig, status.url or "", tmp / "kubecache", handle)
    finally:
        uids = _pod_uids(handle.data_dir)   # before stopping: the clean-up removes the pods' records
        handle.stop(kill_pods=True)
        _assert_nothing_left(uids)


def _netns_names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _pod_uids(data_dir: Path) -> set[str]:
    return {p.name for p in (data_dir / "nodes" / "node-0" / "pods").glob("*")}


def _assert_nothing_left(uids: set[str]) -> None:
    netns = {"kvtui-" + uid.replace("-", "")[:12] for uid in uids}
    assert not [n for n in _netns_names() if n in netns], "network namespaces left behind"
    left = [str(d) for uid in uids for d in Path("/sys/fs/cgroup").glob(f"*/kvtui/{uid}")]
    assert not left, f"cgroups left behind: {left}"


def _create(cluster: Cluster, name: str, spec: dict, labels: dict | None = None) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels or {}}, "spec": spec}
    cluster.kubectl("create", "--validate=false", "-f", "-", input=json.dumps(body))


def _host_container(name: str, script: str, **extra) -> dict:
    return {"name": name, "image": "local/host", "command": ["sh", "-c", script], **extra}


def _pod(cluster: Cluster, name: str) -> dict:
    return cluster.kubectl_json("get", "pod", name)


def _until(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _phase(cluster: Cluster, name: str, phase: str) -> dict:
    return _until(lambda: (p := _pod(cluster, name))["status"].get("phase") == phase and p,
                  what=f"pod {name} to be {phase}")


def _status(pod: dict, container: str | None = None) -> dict:
    statuses = pod["status"].get("containerStatuses") or []
    return next((s for s in statuses if container is None or s["name"] == container),
                {"state": {}, "restartCount": 0, "ready": False})


def _agent_root(cluster: Cluster) -> Path:
    return cluster.data_dir / "nodes" / "node-0"


def _delete(cluster: Cluster, *names: str) -> None:
    cluster.kubectl("delete", "pod", *names, "--grace-period=1", "--wait=true", timeout=60)


# -- running, logs, environment, volumes -----------------------------------------------


def test_host_pod_output_shows_in_kubectl_logs_and_cri_log_files(cluster):
    cluster.kubectl("create", "configmap", "settings", "--from-literal=mode=fast", "--from-literal=greeting=hi")
    cluster.kubectl("create", "secret", "generic", "creds", "--from-literal=password=s3cret")
    _create(cluster, "hello", {"restartPolicy": "Never", "containers": [_host_container(
        "main", 'echo "hello from $POD_NAME in $POD_NAMESPACE on $NODE"; echo "mode=$mode pw=$PASSWORD '
                'greet=$(cat /etc/settings/greeting) ip=$POD_IP"; echo oops >&2',
        env=[{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
             {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}},
             {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
             {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
             {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password"}}}],
        envFrom=[{"configMapRef": {"name": "settings"}}],
        volumeMounts=[{"name": "settings", "mountPath": "/etc/settings"}])],
        "volumes": [{"name": "settings", "configMap": {"name": "settings"}}]})
    pod = _phase(cluster, "hello", "Succeeded")
    ip = pod["status"]["podIP"]
    assert ip.startswith("10.244.0.") and pod["status"]["hostIP"] == "10.244.0.1"
    terminated = _status(pod)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (0, "Completed")
    assert _status(pod)["containerID"].startswith("kvtui://")

    log_file = _agent_root(cluster) / "pods" / pod["metadata"]["uid"] / "main" / "0.log"
    lines = log_file.read_text().splitlines()
    assert all(CRI_LINE.match(line) for line in lines), lines
    assert [line.split(" ", 3)[1:] for line in lines if " stderr " in line] == [["stderr", "F", "oops"]]

    logs = cluster.kubectl("logs", "hello").stdout
    assert logs.splitlines()[:2] == ["hello from hello in default on node-0", f"mode=fast pw=s3cret greet=hi ip={ip}"]
    assert not Path("/etc/settings").exists()  # mounted in the container's namespace only
    _delete(cluster, "hello")


def test_in_cluster_config_lists_pods_through_the_python_client(cluster):
    script = ("from kubernetes import client, config\n"
              "config.load_incluster_config()\n"
              "names = sorted(p.metadata.name for p in client.CoreV1Api().list_namespaced_pod('default').items)\n"
              "print('sees', names)\n")
    _create(cluster, "incluster", {"restartPolicy": "Never", "containers": [
        {"name": "main", "image": "local/host", "command": [sys.executable, "-c", script]}]})
    _phase(cluster, "incluster", "Succeeded")
    assert "sees ['incluster']" in cluster.kubectl("logs", "incluster").stdout
    _delete(cluster, "incluster")


def test_the_agents_api_calls_keep_their_connection(cluster, monkeypatch):
    """Calls whose answer the agent does not read (events, leases) still hand their connection back:
    a burst of pod starts must not cost a TLS handshake per event."""
    import ssl

    from cluster.nodeagent.apiclient import NodeAPI

    handshakes = []
    original = ssl.SSLSocket.do_handshake

    def counting(self, *args):
        handshakes.append(1)
        return original(self, *args)

    monkeypatch.setattr(ssl.SSLSocket, "do_handshake", counting)
    api = NodeAPI(cluster.kubeconfig)
    try:
        for index in range(10):
            api.create_event("default", {"metadata": {"name": f"conn-probe-{index}"}, "type": "Normal",
                                         "involvedObject": {"kind": "Pod", "namespace": "default", "name": "x"},
                                         "reason": "Probe", "message": "m"})
            api.patch_event("default", f"conn-probe-{index}", {"count": 2})
        api.list_pods("node-0")
    finally:
        api.close()
    assert len(handshakes) == 1


def test_init_containers_run_first_and_in_order(cluster):
    work = [{"name": "work", "mountPath": "/work"}]
    _create(cluster, "ordered", {"restartPolicy": "Never", "volumes": [{"name": "work", "emptyDir": {}}],
                                 "initContainers": [
                                     _host_container("first", "sleep 0.5; echo first > /work/order", volumeMounts=work),
                                     _host_container("second", "echo second >> /work/order", volumeMounts=work)],
                                 "containers": [_host_container("main", "echo main >> /work/order; cat /work/order",
                                                                volumeMounts=work)]})
    pod = _phase(cluster, "ordered", "Succeeded")
    assert [s["state"]["terminated"]["reason"] for s in pod["status"]["initContainerStatuses"]] == ["Completed"] * 2
    assert cluster.kubectl("logs", "ordered", "-c", "main").stdout.split() == ["first", "second", "main"]
    assert not Path("/work/order").exists()  # the emptyDir was mounted in the pod's namespace only
    _delete(cluster, "ordered")


def test_unknown_image_waits_with_image_not_local(cluster):
    _create(cluster, "nginx", {"containers": [{"name": "web", "image": "nginx:1.27"}]})
    waiting = _until(lambda: _status(_pod(cluster, "nginx"))["state"].get("waiting", {}).get("reason") ==
                     "ImageNotLocal" and _status(_pod(cluster, "nginx"))["state"]["waiting"])
    assert waiting["message"].startswith('image "nginx:1.27" has no local meaning on this node: add it to the '
                                         "built-in image map (give one with --image-map FILE)")
    assert cluster.kubectl("get", "pod", "nginx", "--no-headers").stdout.split()[2] == "ImageNotLocal"
    _delete(cluster, "nginx")


def test_unschedulable_pod_says_why_in_describe(cluster):
    _create(cluster, "huge", {"containers": [_host_container("main", "sleep 100",
                                                              resources={"requests": {"memory": "100Ti"}})]})
    described = _until(lambda: (out := cluster.kubectl("describe", "pod", "huge").stdout) and
                       "FailedScheduling" in out and out)
    assert ("0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: 1 No "
            "preemption victims found for incoming pod.") in " ".join(described.split())
    cluster.kubectl("delete", "pod", "huge")


# -- networking ------------------------------------------------------------------------


def test_two_pods_listen_on_port_8080_at_once(cluster):
    server = ("mkdir -p /srv/www && cd /srv/www && echo \"I am $HOSTNAME\" > index.html && "
              f"exec {sys.executable} -m http.server 8080 --bind 0.0.0.0")
    www = [{"name": "www", "mountPath": "/srv/www"}]
    for name in ("web-a", "web-b"):
        _create(cluster, name, {"volumes": [{"name": "www", "emptyDir": {}}], "containers": [_host_container(
            "web", server, volumeMounts=www, readinessProbe={"tcpSocket": {"port": 8080}, "periodSeconds": 1})]})
    answers = {}
    for name in ("web-a", "web-b"):
        pod = _until(lambda n=name: (p := _pod(cluster, n)) and _status(p).get("ready") and p,
                     what=f"{name} to be ready")
        with urllib.request.urlopen(f"http://{pod['status']['podIP']}:8080/", timeout=5) as response:
            answers[name] = response.read().decode().strip()
    assert answers == {"web-a": "I am web-a", "web-b": "I am web-b"}
    _delete(cluster, "web-a", "web-b")


# -- lifecycle -------------------------------------------------------------------------


def test_crash_loop_back_off_grows_and_shows_in_kubectl_get(cluster):
    _create(cluster, "crasher", {"containers": [_host_container("main", "echo crashing; exit 3")]})
    seen_backoffs: list[str] = []
    seen_columns: set[str] = set()

    def enough() -> bool:
        status = _status(_pod(cluster, "crasher"))
        message = status["state"].get("waiting", {}).get("message", "")
        match = re.match(r"back-off (\S+) restarting failed container=main pod=crasher_default\(", message)
        if match and match.group(1) not in seen_backoffs:
            seen_backoffs.append(match.group(1))
        seen_columns.add(cluster.kubectl("get", "pod", "crasher", "--no-headers").stdout.split()[2])
        return status["restartCount"] >= 4

    _until(enough, timeout=30, what="four restarts")
    assert seen_backoffs[:3] == ["1s", "2s", "4s"]
    assert "CrashLoopBackOff" in seen_columns
    last = _status(_pod(cluster, "crasher"))["lastState"]["terminated"]
    assert (last["exitCode"], last["reason"]) == (3, "Error")
    assert cluster.kubectl("logs", "crasher", "--previous").stdout == "crashing\n"
    _delete(cluster, "crasher")


def test_delete_sends_sigterm_waits_the_grace_period_then_kills(cluster, tmp_path):
    from kubernetes import client, config, watch

    marks = tmp_path / "marks"
    marks.mkdir()
    _create(cluster, "stubborn", {"terminationGracePeriodSeconds": 2,
                                  "volumes": [{"name": "marks", "hostPath": {"path": str(marks)}}],
                                  "containers": [_host_container(
                                      "main", "trap 'echo TERM >> /marks/seen' TERM; while true; do sleep 0.1; done",
                                      volumeMounts=[{"name": "marks", "mountPath": "/marks"}])]})
    pod = _phase(cluster, "stubborn", "Running")
    pid = int(_status(pod)["containerID"].removeprefix("kvtui://"))

    api = config.new_client_from_config(str(cluster.kubeconfig))
    events: list[tuple[str, dict]] = []

    def follow() -> None:
        stream = watch.Watch().stream(client.CoreV1Api(api).list_namespaced_pod, "default",
                                      field_selector="metadata.name=stubborn", timeout_seconds=30,
                                      resource_version=pod["metadata"]["resourceVersion"])
        for event in stream:
            events.append((event["type"], api.sanitize_for_serialization(event["object"])))
            if event["type"] == "DELETED":
                return

    watcher = threading.Thread(target=follow)
    watcher.start()
    cluster.kubectl("delete", "pod", "stubborn", timeout=60)
    watcher.join(30)
    api.close()

    assert (marks / "seen").read_text() == "TERM\n"   # SIGTERM arrived, the trap ran and the shell went on
    assert not Path(f"/proc/{pid}").exists()
    final = [obj for kind, obj in events if kind == "MODIFIED"][-1]
    terminated = _status(final)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (137, "Error")  # SIGKILL after the grace period
    assert final["status"]["phase"] == "Failed"
    assert events[-1][0] == "DELETED"


def test_readiness_probe_flips_ready(cluster):
    flag = [{"name": "flags", "mountPath": "/flags"}]
    _create(cluster, "gated", {"volumes": [{"name": "flags", "emptyDir": {}}], "containers": [_host_container(
        "main", "sleep 1000", volumeMounts=flag,
        readinessProbe={"exec": {"command": ["test", "-f", "/flags/ready"]}, "periodSeconds": 1,
                        "failureThreshold": 1})]})
    pod = _phase(cluster, "gated", "Running")
    assert _status(pod)["ready"] is False
    assert cluster.kubectl("get", "pod", "gated", "--no-headers").stdout.split()[1] == "0/1"
    cluster.kubectl("exec", "gated", "--", "touch", "/flags/ready")
    _until(lambda: _status(_pod(cluster, "gated"))["ready"], what="ready")
    ready = next(c for c in _pod(cluster, "gated")["status"]["conditions"] if c["type"] == "Ready")
    assert ready["status"] == "True"
    cluster.kubectl("exec", "gated", "--", "rm", "/flags/ready")
    _until(lambda: not _status(_pod(cluster, "gated"))["ready"], what="not ready")
    unhealthy = cluster.kubectl("get", "events", "--field-selector", "involvedObject.name=gated,reason=Unhealthy",
                                "-o", "jsonpath={.items[0].message}").stdout
    assert unhealthy.startswith("Readiness probe failed")
    _delete(cluster, "gated")


def _pod_cpu_shares(uid: str) -> int | None:
    path = Path("/sys/fs/cgroup/cpu/kvtui") / uid / "cpu.shares"
    return int(path.read_text()) if path.exists() else None


def _boosted_pod(name: str, cpu: str) -> dict:
    flag = [{"name": "flags", "mountPath": "/flags"}]
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {"kvtui.io/startup-cpu-boost": "2"}},
            "spec": {"volumes": [{"name": "flags", "emptyDir": {}}], "containers": [
                _host_container("main", "sleep 1000", volumeMounts=flag, resources={"requests": {"cpu": cpu}},
                                startupProbe={"exec": {"command": ["test", "-f", "/flags/up"]}, "periodSeconds": 1,
                                              "failureThreshold": 100}),
                _host_container("side", "sleep 1000", resources={"requests": {"cpu": "50m"}})]}}


def _started(cluster, name: str) -> None:
    cluster.kubectl("exec", name, "-c", "main", "--", "touch", "/flags/up")
    _until(lambda: any(c["type"] == "Ready" and c["status"] == "True"
                       for c in _pod(cluster, name)["status"]["conditions"]), what=f"{name} Ready")


def test_pod_cgroup_weighs_requests_and_the_startup_boost_until_ready(cluster):
    """This agent runs with one startup slot: a second boosted pod waits in ContainerCreating until
    the first is Ready, then starts and holds the boost until it is Ready itself."""
    if not Path("/sys/fs/cgroup/cpu").is_dir():
        pytest.skip("no cgroup v1 cpu controller on this host")
    cluster.kubectl("create", "-f", "-", input=json.dumps(_boosted_pod("boosted", "250m")))
    _create(cluster, "plain", {"containers": [_host_container("main", "sleep 1000",
                                                              resources={"requests": {"cpu": "250m"}})]})
    uid = _phase(cluster, "boosted", "Running")["metadata"]["uid"]
    plain = _phase(cluster, "plain", "Running")["metadata"]["uid"]
    cluster.kubectl("create", "-f", "-", input=json.dumps(_boosted_pod("queued", "100m")))
    waiting = _until(lambda: [s["state"].get("waiting", {}).get("reason")
                              for s in (_pod(cluster, "queued").get("status") or {}).get("containerStatuses") or []],
                     what="the second pod's container statuses")
    queued = _pod(cluster, "queued")["metadata"]["uid"]
    # Not started, so not Ready: the first pod weighs the boost (2 CPUs) against other pods...
    assert _pod_cpu_shares(uid) == 2048
    assert _pod_cpu_shares(plain) == 256        # 250m, as the kubelet derives shares
    # ... and the second waits for the node's one slot, its containers not started yet.
    assert waiting == ["ContainerCreating", "ContainerCreating"]
    time.sleep(1)
    assert _pod(cluster, "queued")["status"]["phase"] == "Pending" and _pod_cpu_shares(queued) == 153
    _started(cluster, "boosted")
    # Ready: back to the sum of its requests, 300m; the slot passes to the waiting pod, which starts.
    _until(lambda: _pod_cpu_shares(uid) == 307, what="the boost to end")
    _phase(cluster, "queued", "Running")
    assert _pod_cpu_shares(queued) == 2048
    _started(cluster, "queued")
    _until(lambda: _pod_cpu_shares(queued) == 153, what="the second boost to end")
    _delete(cluster, "boosted", "plain", "queued")


def test_stopping_with_kill_pods_leaves_no_process_cgroup_or_namespace(tmp_path):
    """A process that left its container's process group (as QEMU does when libvirt starts it)
    is killed too, and every pod's cgroups and network namespace are gone afterwards."""
    handle = EmbeddedCluster(tmp_path / "data")
    marks = tmp_path / "marks"
    marks.mkdir()
    try:
        status = handle.start(port=0, crds=[], nodes=1, agent_args=AGENT_ARGS)
        cluster = Cluster(handle.data_dir, status.kubeconfig, status.url or "", tmp_path / "kubecache", handle)
        for name in ("apart-a", "apart-b"):
            _create(cluster, name, {"volumes": [{"name": "marks", "hostPath": {"path": str(marks)}}],
                                    "containers": [_host_container(
                # $$ is Kubernetes' escape for a literal $: the shell sees $$, its own pid.
                "main", f"setsid sh -c 'echo $$$$ > /marks/{name}; exec sleep 600' & exec sleep 600",
                volumeMounts=[{"name": "marks", "mountPath": "/marks"}],
                resources={"requests": {"cpu": "100m", "memory": "32Mi"}})]})
        for name in ("apart-a", "apart-b"):
            _phase(cluster, name, "Running")
        apart = [int(_until(lambda n=name: (marks / n).exists() and (marks / n).read_text().strip(),
                            what=f"{name}'s detached process")) for name in ("apart-a", "apart-b")]
        uids = _pod_uids(handle.data_dir)
        assert len(uids) == 2 and all(Path("/sys/fs/cgroup").glob(f"*/kvtui/{uid}") for uid in uids)
    finally:
        handle.stop(kill_pods=True)
    for pid in apart:
        _until(lambda p=pid: not Path(f"/proc/{p}").exists() or "Z" in Path(f"/proc/{p}/stat").read_text().split()[2],
               what=f"the detached process {pid} to be killed")
    _assert_nothing_left(uids)


def test_an_invalid_startup_boost_is_reported_and_ignored(cluster):
    body = {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "badboost", "annotations": {"kvtui.io/startup-cpu-boost": "lots"}},
            "spec": {"containers": [_host_container("main", "sleep 1000")]}}
    cluster.kubectl("create", "-f", "-", input=json.dumps(body))
    _phase(cluster, "badboost", "Running")
    message = _until(lambda: cluster.kubectl(
        "get", "events", "--field-selector", "involvedObject.name=badboost,reason=InvalidStartupCPUBoost",
        "-o", "jsonpath={.items[0].message}").stdout, what="the InvalidStartupCPUBoost event")
    assert "kvtui.io/startup-cpu-boost='lots'" in message and "'500m'" in message
    _delete(cluster, "badboost")


def test_agent_kill_9_and_restart_adopts_running_pods(cluster):
    _create(cluster, "survivor", {"containers": [_host_container("main", "while true; do sleep 0.2; done")]})
    _create(cluster, "casualty", {"restartPolicy": "Never",
                                  "containers": [_host_container("main", "while true; do sleep 0.2; done")]})
    before = {n: _status(_phase(cluster, n, "Running"))["containerID"] for n in ("survivor", "casualty")}
    agent_pid = int((_agent_root(cluster) / "agent.pid").read_text())
    os.kill(agent_pid, signal.SIGKILL)
    _until(lambda: not Path(f"/proc/{agent_pid}/cmdline").exists() or
           Path(f"/proc/{agent_pid}/stat").read_text().split(") ")[1].startswith("Z"), what="agent gone")
    victim = int(before["casualty"].removeprefix("kvtui://"))
    os.kill(victim, signal.SIGTERM)  # dies while no agent watches

    cluster.handle.start(port=0, crds=[], nodes=1, agent_args=AGENT_ARGS)
    assert int((_agent_root(cluster) / "agent.pid").read_text()) != agent_pid
    casualty = _phase(cluster, "casualty", "Failed")  # the new agent has looked at its pods
    terminated = _status(casualty)["state"]["terminated"]
    assert (terminated["exitCode"], terminated["reason"]) == (143, "Error")  # the monitor kept its exit code
    survivor = _pod(cluster, "survivor")
    assert survivor["status"]["phase"] == "Running"
    assert _status(survivor)["containerID"] == before["survivor"]
    assert _status(survivor)["restartCount"] == 0
    assert Path(f"/proc/{before['survivor'].removeprefix('kvtui://')}").exists()
    container_dir = _agent_root(cluster) / "pods" / survivor["metadata"]["uid"] / "main"
    assert [p.name for p in container_dir.glob("*.spec.json")] == ["0.spec.json"]  # adopted, not started again
    shim = json.loads((container_dir / "0.state.json").read_text())["shimPid"]
    assert Path(f"/proc/{shim}").exists()  # its monitor lived through the agent's death too
    _delete(cluster, "survivor", "casualty")


# -- the rules on their own (no root needed) -------------------------------------------


def test_variable_references_expand_as_in_kubernetes():
    assert expand("$(A)-$$(A)-$(B)-$", {"A": "1"}) == "1-$(A)-$(B)-$"


def test_pod_phase_follows_the_restart_policy():
    crashed = {"state": {"waiting": {"reason": "CrashLoopBackOff"}},
               "lastState": {"terminated": {"exitCode": 1}}}
    failed = {"state": {"terminated": {"exitCode": 1}}}
    done = {"state": {"terminated": {"exitCode": 0}}}
    assert pod_phase("Always", [], [crashed], init_failed=False) == "Running"
    assert pod_phase("Never", [], [failed, done], init_failed=False) == "Failed"
    assert pod_phase("OnFailure", [], [done, done], init_failed=False) == "Succeeded"
    assert pod_phase("OnFailure", [], [crashed], init_failed=False) == "Running"
    assert pod_phase("Always", [{"state": {"running": {}}}], [{"state": {"waiting": {}}}],
                     init_failed=False) == "Pending"
    assert [go_duration(s) for s in (10, 80, 300)] == ["10s", "1m20s", "5m0s"]


def test_log_writer_marks_partial_and_long_lines(tmp_path):
    log = LogWriter(str(tmp_path / "0.log"))
    log.feed("stdout", b"one\ntw")
    log.feed("stdout", b"o\n" + b"x" * 20000 + b"\n")
    log.feed("stderr", b"prompt> ")
    log.flush_partial("stderr")
    records = [line.split(" ", 3)[1:] for line in (tmp_path / "0.log").read_text().splitlines()]
    assert [(stream, tag, len(text)) for stream, tag, text in records] == [
        ("stdout", "F", 3), ("stdout", "F", 3), ("stdout", "P", 16384), ("stdout", "F", 3616),
        ("stderr", "P", 8)]


def test_image_map_file_entries_come_first_and_are_checked(tmp_path):
    good = tmp_path / "map.yaml"
    good.write_text("images:\n  - image: 'example/tool:*'\n    entrypoint: ['{python}', '-m', 'tool']\n"
                    "    env: {TOOL_HOME: '{repo}/tool'}\n")
    image = ImageMap(good).resolve("example/tool:1.0")
    assert image.argv(None, ["--fast"]) == [sys.executable, "-m", "tool", "--fast"]
    assert image.argv(["tail", "-F"], ["/log"]) == ["tail", "-F", "/log"]   # a command replaces the entrypoint
    assert image.env["TOOL_HOME"].endswith("/tool")
    assert ImageMap(good).resolve("local/host").argv(["echo"], ["hi"]) == ["echo", "hi"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("images:\n  - image: x\n    entrypoint: echo\n")
    with pytest.raises(ImageMapError, match=r"bad.yaml: images\[0\].entrypoint must be a non-empty list"):
        ImageMap(bad)
