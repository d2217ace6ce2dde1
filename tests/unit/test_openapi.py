"""OpenAPI v3 documents as kubectl reads them: PATCH operations with their GVK, fieldValidation and patch
types, schemas found by GVK, a hashed index; and `kubectl explain` on a CRD kind through a real kubectl."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from aiohttp import web

from cluster.apiserver.openapi import (
    KindSpec,
    document_hash,
    group_version_path,
    openapi_document,
    openapi_index,
    schema_name,
    serialize_document,
)
from cluster.apiserver.schema import builtin_schema

CR_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json", "application/apply-patch+yaml")
VM_SCHEMA = {
    "type": "object",
    "description": "A VirtualMachine keeps a VirtualMachineInstance running.",
    "properties": {
        "metadata": {"type": "object"},
        "spec": {"type": "object", "description": "Desired state of the VirtualMachine.",
                 "properties": {"runStrategy": {"type": "string", "description": "When the VM runs.",
                                                "enum": ["Always", "Halted"]}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
    },
}
VM = KindSpec(kind="VirtualMachine", plural="virtualmachines", namespaced=True, schema=VM_SCHEMA, has_status=True,
              patch_types=CR_PATCH_TYPES)
VM_ITEM = "/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines/{name}"
VM_GVK = {"group": "kubevirt.io", "kind": "VirtualMachine", "version": "v1"}


@pytest.fixture(scope="module")
def vm_doc() -> dict:
    return openapi_document("kubevirt.io", "v1", [VM])


def query_params(operation: dict) -> set[str]:
    return {p["name"] for p in operation["parameters"] if p["in"] == "query"}


def test_group_version_paths():
    assert group_version_path("", "v1") == "api/v1"
    assert group_version_path("kubevirt.io", "v1") == "apis/kubevirt.io/v1"


def test_schema_names_follow_kube_apiserver():
    assert schema_name("", "v1", "Pod") == "io.k8s.api.core.v1.Pod"
    assert schema_name("apps", "v1", "Deployment") == "io.k8s.api.apps.v1.Deployment"
    assert schema_name("rbac.authorization.k8s.io", "v1", "Role") == "io.k8s.api.rbac.v1.Role"
    assert schema_name("apiextensions.k8s.io", "v1", "CustomResourceDefinition") == (
        "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.CustomResourceDefinition")
    assert schema_name("kubevirt.io", "v1", "VirtualMachine") == "io.kubevirt.v1.VirtualMachine"


def test_document_header(vm_doc):
    assert vm_doc["openapi"] == "3.0.0"
    assert vm_doc["info"] == {"title": "Kubernetes", "version": "v1.37.0"}


def test_crd_patch_has_gvk_field_validation_and_exactly_the_patch_types(vm_doc):
    patch = vm_doc["paths"][VM_ITEM]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == VM_GVK
    assert patch["x-kubernetes-action"] == "patch"
    assert {"fieldValidation", "fieldManager", "dryRun"} <= query_params(patch)
    assert list(patch["requestBody"]["content"]) == list(CR_PATCH_TYPES)
    assert patch["operationId"] == "patchKubevirtIoV1NamespacedVirtualMachine"


def test_create_and_replace_take_json_with_field_validation(vm_doc):
    post = vm_doc["paths"]["/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines"]["post"]
    put = vm_doc["paths"][VM_ITEM]["put"]
    for operation, action in ((post, "post"), (put, "put")):
        assert operation["x-kubernetes-action"] == action
        assert operation["x-kubernetes-group-version-kind"] == VM_GVK
        assert "fieldValidation" in query_params(operation)
        assert list(operation["requestBody"]["content"]) == ["application/json"]
        assert operation["requestBody"]["content"]["application/json"]["schema"] == {
            "$ref": "#/components/schemas/io.kubevirt.v1.VirtualMachine"}


def test_namespaced_kind_paths(vm_doc):
    assert set(vm_doc["paths"]) == {
        "/apis/kubevirt.io/v1/namespaces/{namespace}/virtualmachines",
        VM_ITEM,
        f"{VM_ITEM}/status",
        "/apis/kubevirt.io/v1/virtualmachines",
    }
    assert set(vm_doc["paths"][VM_ITEM]) == {"get", "put", "patch", "delete", "parameters"}
    assert set(vm_doc["paths"][f"{VM_ITEM}/status"]) == {"get", "put", "patch", "parameters"}
    assert {p["name"] for p in vm_doc["paths"][VM_ITEM]["parameters"]} == {"name", "namespace", "pretty"}


def test_cluster_scoped_kind_without_status():
    spec = KindSpec(kind="KubeVirtConfig", plural="kubevirtconfigs", namespaced=False, schema=None,
                    has_status=False, patch_types=("application/merge-patch+json",))
    doc = openapi_document("kubevirt.io", "v1", [spec])
    assert set(doc["paths"]) == {"/apis/kubevirt.io/v1/kubevirtconfigs", "/apis/kubevirt.io/v1/kubevirtconfigs/{name}"}
    component = doc["components"]["schemas"]["io.kubevirt.v1.KubeVirtConfig"]
    assert component["x-kubernetes-preserve-unknown-fields"] is True


def test_kind_schema_is_found_by_gvk_and_metadata_is_object_meta(vm_doc):
    component = vm_doc["components"]["schemas"]["io.kubevirt.v1.VirtualMachine"]
    assert component["x-kubernetes-group-version-kind"] == [VM_GVK]
    assert component["description"] == VM_SCHEMA["description"]
    assert component["properties"]["spec"]["properties"]["runStrategy"]["enum"] == ["Always", "Halted"]
    assert component["properties"]["metadata"]["allOf"] == [
        {"$ref": "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"}]
    assert component["properties"]["kind"]["type"] == "string"
    object_meta = vm_doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
    assert object_meta["properties"]["labels"]["additionalProperties"] == {"type": "string"}
    listing = vm_doc["components"]["schemas"]["io.kubevirt.v1.VirtualMachineList"]
    assert listing["x-kubernetes-group-version-kind"] == [{**VM_GVK, "kind": "VirtualMachineList"}]


def test_core_namespace_patch_offers_field_validation_for_crds_without_a_document():
    # kubectl falls back to this entry for custom kinds whose group version it cannot find.
    namespace = KindSpec(kind="Namespace", plural="namespaces", namespaced=False,
                         schema=builtin_schema("", "v1", "Namespace"), has_status=True,
                         patch_types=("application/merge-patch+json",))
    doc = openapi_document("", "v1", [namespace])
    patch = doc["paths"]["/api/v1/namespaces/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {"group": "", "kind": "Namespace", "version": "v1"}
    assert "fieldValidation" in query_params(patch)


def test_builtin_documents_serialize_even_the_self_nesting_crd_schema():
    crd = KindSpec(kind="CustomResourceDefinition", plural="customresourcedefinitions", namespaced=False,
                   schema=builtin_schema("apiextensions.k8s.io", "v1", "CustomResourceDefinition"), has_status=True,
                   patch_types=CR_PATCH_TYPES)
    doc = json.loads(serialize_document(openapi_document("apiextensions.k8s.io", "v1", [crd])))
    schemas = doc["components"]["schemas"]
    props = "io.k8s.apiextensions-apiserver.pkg.apis.apiextensions.v1.JSONSchemaProps"
    assert schemas[props]["properties"]["properties"]["additionalProperties"]["allOf"] == [
        {"$ref": f"#/components/schemas/{props}"}]


def test_index_links_every_document_by_its_sha512(vm_doc):
    index = openapi_index({"apis/kubevirt.io/v1": vm_doc})
    digest = hashlib.sha512(serialize_document(vm_doc)).hexdigest().upper()
    assert index == {"paths": {"apis/kubevirt.io/v1": {
        "serverRelativeURL": f"/openapi/v3/apis/kubevirt.io/v1?hash={digest}"}}}
    changed = openapi_document("kubevirt.io", "v1", [VM, KindSpec("VirtualMachineInstance", "virtualmachineinstances",
                                                                  True, None, False, CR_PATCH_TYPES)])
    assert document_hash(changed) != digest


# -- kubectl explain against a minimal server -----------------------------------------------------------


def kubectl_binary() -> str | None:
    local = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "kubectl"
    return str(local) if local.exists() else shutil.which("kubectl")


class _DiscoveryServer:
    """Just enough of an API server for `kubectl explain`: discovery and the OpenAPI v3 documents."""

    def __init__(self, docs: dict[str, dict]) -> None:
        self.docs = docs
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _routes(self) -> dict[str, dict]:
        vm = {"name": "virtualmachines", "singularName": "virtualmachine", "namespaced": True,
              "kind": "VirtualMachine", "verbs": ["get", "list"], "shortNames": ["vm", "vms"]}
        gv = {"groupVersion": "kubevirt.io/v1", "version": "v1"}
        return {
            "/api": {"kind": "APIVersions", "versions": ["v1"]},
            "/api/v1": {"kind": "APIResourceList", "groupVersion": "v1", "resources": []},
            "/apis": {"kind": "APIGroupList", "groups": [{"name": "kubevirt.io", "versions": [gv],
                                                           "preferredVersion": gv}]},
            "/apis/kubevirt.io/v1": {"kind": "APIResourceList", "groupVersion": "kubevirt.io/v1", "resources": [vm]},
            "/openapi/v3": openapi_index(self.docs),
        }

    async def _handle(self, request: web.Request) -> web.Response:
        routes = self._routes()
        if request.path in routes:
            return web.json_response(routes[request.path])
        doc = self.docs.get(request.path.removeprefix("/openapi/v3/"))
        if doc is not None:
            return web.Response(body=serialize_document(doc), content_type="application/json")
        return web.json_response({"kind": "Status", "status": "Failure", "code": 404}, status=404)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        runner = web.AppRunner(app)
        self.loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        self.loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self.ready.set()
        self.loop.run_forever()
        self.loop.run_until_complete(runner.cleanup())

    def __enter__(self) -> _DiscoveryServer:
        self.thread.start()
        self.ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture(scope="module")
def explain(tmp_path_factory, vm_doc):
    binary = kubectl_binary()
    if binary is None:
        pytest.skip("kubectl is not installed")
    home = tmp_path_factory.mktemp("kubectl")
    with _DiscoveryServer({"apis/kubevirt.io/v1": vm_doc}) as server:
        kubeconfig = home / "config"
        kubeconfig.write_text(json.dumps({
            "apiVersion": "v1", "kind": "Config", "current-context": "c",
            "clusters": [{"name": "c", "cluster": {"server": f"http://127.0.0.1:{server.port}"}}],
            "users": [{"name": "u", "user": {"token": "t"}}],
            "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}]}))
        env = {**os.environ, "KUBECONFIG": str(kubeconfig), "KUBECACHEDIR": str(home / "cache")}

        def run(*args: str) -> str:
            done = subprocess.run([binary, "explain", *args], env=env, capture_output=True, text=True, timeout=30)
            assert done.returncode == 0, done.stderr
            return done.stdout

        yield run


def test_kubectl_explain_shows_a_crd_kind(explain):
    out = explain("vm")
    assert "KIND:       VirtualMachine" in out
    assert "GROUP:      kubevirt.io" in out
    assert "A VirtualMachine keeps a VirtualMachineInstance running." in out
    assert "spec\t<Object>" in out


def test_kubectl_explain_walks_into_metadata_and_enums(explain):
    assert "FIELD: labels <map[string]string>" in explain("vm.metadata.labels")
    strategy = explain("vm.spec.runStrategy")
    assert "FIELD: runStrategy <string>" in strategy
    assert "Always" in strategy and "Halted" in strategy
