"""An acknowledged write survives `kill -9` of the API server; state persists across stop/start."""

from __future__ import annotations

import os
import signal
import threading
import time

from kubernetes import client, config

from .conftest import start_cluster


def test_kill_9_during_a_burst_of_creates_loses_no_acknowledged_object(fresh_cluster):
    c = fresh_cluster
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def burst(worker: int) -> None:
        api_client = config.new_client_from_config(str(c.kubeconfig))
        v1 = client.CoreV1Api(api_client)
        i = 0
        while not stop.is_set():
            name = f"burst-{worker}-{i}"
            try:
                v1.create_namespaced_config_map("default", {"metadata": {"name": name}, "data": {"i": str(i)}},
                                                _request_timeout=5)
            except Exception:
                return   # the server is gone
            with lock:
                acknowledged.append(name)
            i += 1

    threads = [threading.Thread(target=burst, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    while len(acknowledged) < 200:
        time.sleep(0.01)
    pid = c.handle.status().pid
    assert pid
    os.kill(pid, signal.SIGKILL)
    stop.set()
    for t in threads:
        t.join(timeout=10)
    with lock:
        acked = list(acknowledged)
    assert len(acked) >= 200

    status = c.handle.start(port=0)   # the stale pidfile is recovered
    assert status.running
    api_client = config.new_client_from_config(str(c.kubeconfig))
    v1 = client.CoreV1Api(api_client)
    stored = {cm.metadata.name for cm in v1.list_namespaced_config_map("default").items}
    missing = [name for name in acked if name not in stored]
    assert missing == []
    # Revisions keep increasing after the restart: a new write gets a higher resourceVersion.
    before = int(v1.list_namespaced_config_map("default").metadata.resource_version)
    after = int(v1.create_namespaced_config_map("default", {"metadata": {"name": "after"}}).metadata.resource_version)
    assert after > before
    c.handle.stop()


def test_state_persists_across_stop_and_start_and_second_start_is_harmless(tmp_path):
    c = start_cluster(tmp_path)
    try:
        c.kubectl("create", "configmap", "kept", "--from-literal=a=b")
        first = c.handle.status()
        again = c.handle.start(port=0)
        assert again.pid == first.pid          # a second start finds the running server
        c.handle.stop()
        assert not c.handle.status().running
        c.handle.start(port=0)
        assert c.kubectl_json("get", "cm", "kept")["data"] == {"a": "b"}
    finally:
        c.handle.stop()


def test_cli_start_status_kubeconfig_stop(tmp_path):
    import subprocess
    import sys

    data = str(tmp_path / "cli")
    run = lambda *a: subprocess.run([sys.executable, "-m", "kvtui.cli", *a, "--data-dir", data],  # noqa: E731
                                    capture_output=True, text=True, timeout=90)
    started = run("cluster", "start", "--port", "0")
    assert started.returncode == 0, started.stderr
    path = started.stdout.strip()
    assert path.endswith("kubeconfig") and os.path.exists(path)
    assert "export KUBECONFIG=" in started.stderr
    status = run("cluster", "status")
    assert status.returncode == 0 and status.stdout.startswith("running: https://127.0.0.1:")
    assert run("cluster", "kubeconfig").stdout.strip() == path
    assert "certificate-authority-data" in run("cluster", "kubeconfig", "--raw").stdout
    assert run("cluster", "stop").returncode == 0
    status = run("cluster", "status")
    assert status.returncode == 3 and status.stdout.startswith("stopped")
    answered = True
    try:
        client.CoreV1Api(config.new_client_from_config(path)).list_namespace(_request_timeout=2)
    except Exception:
        answered = False
    assert not answered, "the server still answers after stop"
