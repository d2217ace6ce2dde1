"""`kubectl apply -k manifests/` — server-side dry run, the real thing, and `kubectl delete -k` — with
the real kubectl against the embedded cluster, as a user installs and uninstalls kvtui."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import Cluster, start_cluster

from .conftest import MANIFESTS


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Cluster:
    c = start_cluster(tmp_path_factory.mktemp("deploy"))   # a fresh KUBECACHEDIR under its tmp dir
    yield c
    c.handle.stop()


def _names(cluster: Cluster, *args: str) -> set[str]:
    items = json.loads(cluster.kubectl("get", *args, "-o", "json").stdout)["items"]
    return {i["metadata"]["name"] for i in items}


def test_install_and_uninstall_with_kubectl_apply_and_delete(cluster):
    # A server-side dry run of objects in a namespace that does not exist yet fails on any Kubernetes
    # (the namespace is only pretended); with the namespace there, every object passes admission.
    cluster.kubectl("apply", "-f", str(MANIFESTS / "namespace.yaml"))
    dry = cluster.kubectl("apply", "-k", str(MANIFESTS), "--dry-run=server")
    assert "namespace/kubevirt configured (server dry run)" in dry.stdout
    assert "deployment.apps/kvtui-reconciler created (server dry run)" in dry.stdout
    assert "clusterrole.rbac.authorization.k8s.io/kvtui-reconciler created (server dry run)" in dry.stdout
    missing = cluster.kubectl("-n", "kubevirt", "get", "deployment", "kvtui-reconciler", check=False)
    assert 'deployments.apps "kvtui-reconciler" not found' in missing.stderr   # a dry run changes nothing

    applied = cluster.kubectl("apply", "-k", str(MANIFESTS))
    for line in ("namespace/kubevirt configured", "serviceaccount/kvtui-reconciler created",
                 "role.rbac.authorization.k8s.io/kvtui-reconciler created",
                 "clusterrole.rbac.authorization.k8s.io/kvtui-launcher created",
                 "clusterrole.rbac.authorization.k8s.io/kvtui-reconciler created",
                 "rolebinding.rbac.authorization.k8s.io/kvtui-reconciler created",
                 "clusterrolebinding.rbac.authorization.k8s.io/kvtui-reconciler created",
                 "deployment.apps/kvtui-reconciler created",
                 "customresourcedefinition.apiextensions.k8s.io/virtualmachines.kubevirt.io configured"):
        assert line in applied.stdout
    labels = json.loads(cluster.kubectl("get", "namespace", "kubevirt", "-o", "json").stdout)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = json.loads(cluster.kubectl("-n", "kubevirt", "get", "deployment", "kvtui-reconciler",
                                            "-o", "json").stdout)
    assert deployment["spec"]["replicas"] == 2
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == "kvtui/reconciler:0.1.0"
    assert [n for n in _names(cluster, "-n", "kubevirt", "configmaps") if n.startswith("kvtui-images-")]

    again = cluster.kubectl("apply", "-k", str(MANIFESTS))   # applying twice changes nothing
    assert "deployment.apps/kvtui-reconciler unchanged" in again.stdout

    config = cluster.kubectl("apply", "-k", str(MANIFESTS / "config"))
    assert "kubevirt.kubevirt.io/kubevirt created" in config.stdout
    kv = json.loads(cluster.kubectl("-n", "kubevirt", "get", "kubevirt", "kubevirt", "-o", "json").stdout)
    assert kv["spec"]["configuration"]["developerConfiguration"] == {"featureGates": ["HostDisk"],
                                                                     "useEmulation": False}

    cluster.kubectl("delete", "-k", str(MANIFESTS / "config"))
    # The namespace goes first, and its contents with it; --ignore-not-found keeps kubectl from
    # calling the later deletes of those contents failures (on any cluster: it is a race).
    deleted = cluster.kubectl("delete", "-k", str(MANIFESTS), "--ignore-not-found", timeout=120)
    assert 'namespace "kubevirt" deleted' in deleted.stdout
    assert 'clusterrole.rbac.authorization.k8s.io "kvtui-launcher" deleted' in deleted.stdout
    assert not {"kvtui-launcher", "kvtui-reconciler"} & _names(cluster, "clusterroles")
    assert not {"kvtui-reconciler"} & _names(cluster, "clusterrolebindings")
    assert not {n for n in _names(cluster, "crds") if n.endswith(".kubevirt.io")}
    gone = cluster.kubectl("get", "namespace", "kubevirt", check=False)
    assert 'namespaces "kubevirt" not found' in gone.stderr
