"""A real embedded API server per test module, driven by the real kubectl and the Python client."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from cluster.embedded import REPO_ROOT, EmbeddedCluster

KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or "kubectl"


@dataclass
class Cluster:
    data_dir: Path
    kubeconfig: Path
    url: str
    cache_dir: Path
    handle: EmbeddedCluster

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["KUBECACHEDIR"] = str(self.cache_dir)
        return env

    def kubectl(self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60,
                env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        proc = subprocess.run([KUBECTL, *args], input=input, capture_output=True, text=True, timeout=timeout,
                              env={**self.env(), **(env or {})})
        if check and proc.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}{proc.stdout}")
        return proc

    def kubectl_json(self, *args: str) -> dict:
        return json.loads(self.kubectl(*args, "-o", "json").stdout)

    @property
    def token(self) -> str:
        return (self.data_dir / "pki" / "admin.token").read_text().strip()

    @property
    def ca(self) -> Path:
        return self.data_dir / "pki" / "ca.crt"


def start_cluster(tmp: Path, extra_args: list[str] | None = None) -> Cluster:
    handle = EmbeddedCluster(tmp / "data")
    status = handle.start(port=0, crds=[REPO_ROOT / "manifests" / "crds"], extra_args=extra_args)
    assert status.url
    return Cluster(handle.data_dir, status.kubeconfig, status.url, tmp / "kubecache", handle)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    c = start_cluster(tmp_path_factory.mktemp("cluster"))
    yield c
    c.handle.stop()


@pytest.fixture
def api(cluster):
    """A `kubernetes.client.ApiClient` configured from the cluster's kubeconfig."""
    from kubernetes import client, config

    api_client = config.new_client_from_config(str(cluster.kubeconfig))
    yield api_client
    api_client.close()
    del client


@pytest.fixture
def fresh_cluster(tmp_path) -> Cluster:
    """A cluster of the test's own, stopped however the test ends."""
    c = start_cluster(tmp_path)
    yield c
    c.handle.stop()
