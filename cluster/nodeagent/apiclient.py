"""The node agent's view of the API server: the `kubernetes` client over HTTP, objects as plain dicts.

Every call blocks; the agent runs them in worker threads. Errors come back as `ApiException`
with `.status`, as the client raises them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config
from kubernetes.client.rest import ApiException

MERGE_PATCH = "application/merge-patch+json"
WATCH_SECONDS = 300

__all__ = ["ApiException", "NodeAPI"]


def _json(response: Any) -> dict:
    return json.loads(_done(response) or b"{}")


def _done(response: Any) -> bytes:
    """Read the body and hand the connection back to the pool. A response asked for with
    `_preload_content=False` keeps its connection until then: one left unread costs the next call a
    new connection and TLS handshake."""
    try:
        return response.data
    finally:
        response.release_conn()


class NodeAPI:
    def __init__(self, kubeconfig: Path):
        self.client = config.new_client_from_config(str(kubeconfig))
        self.core = client.CoreV1Api(self.client)
        self.coordination = client.CoordinationV1Api(self.client)
        self.configuration = self.client.configuration

    # -- who we are and where the server is ---------------------------------------------

    @property
    def token(self) -> str:
        """The bearer token this agent authenticates with (from its kubeconfig)."""
        for value in (self.configuration.api_key or {}).values():
            return str(value).removeprefix("Bearer ").strip()
        return ""

    @property
    def server_port(self) -> int:
        parts = urlsplit(self.configuration.host)
        return parts.port or (443 if parts.scheme == "https" else 80)

    def ca_bundle(self) -> bytes:
        path = self.configuration.ssl_ca_cert
        return Path(path).read_bytes() if path else b""

    # -- pods ------------------------------------------------------------------------------

    def list_pods(self, node: str) -> tuple[list[dict], str]:
        body = _json(self.core.list_pod_for_all_namespaces(field_selector=f"spec.nodeName={node}",
                                                            _preload_content=False))
        return body.get("items") or [], body["metadata"]["resourceVersion"]

    def watch_pods(self, node: str, resource_version: str) -> Iterator[dict]:
        """Watch events ({type, object}) for the node's pods from `resource_version` until the server
        ends the watch."""
        response = self.core.list_pod_for_all_namespaces(
            field_selector=f"spec.nodeName={node}", watch=True, resource_version=resource_version,
            allow_watch_bookmarks=True, timeout_seconds=WATCH_SECONDS, _preload_content=False,
            _request_timeout=(10, WATCH_SECONDS + 30))
        try:
            buffer = b""
            for chunk in response.stream(amt=None, decode_content=False):
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.strip():
                        yield json.loads(line)
        finally:
            response.release_conn()

    def patch_pod_status(self, namespace: str, name: str, status: dict) -> dict:
        return _json(self.core.patch_namespaced_pod_status(name, namespace, {"status": status},
                                                           _content_type=MERGE_PATCH, _preload_content=False))

    def delete_pod_now(self, namespace: str, name: str, uid: str) -> None:
        """The kubelet's last word on a pod: remove it with grace 0, but only the pod we ran."""
        _done(self.core.delete_namespaced_pod(name, namespace, body={"gracePeriodSeconds": 0,
                                                                     "preconditions": {"uid": uid}},
                                              _preload_content=False))

    # -- what pods refer to ----------------------------------------------------------------

    def read(self, kind: str, namespace: str, name: str) -> dict | None:
        read = {"ConfigMap": self.core.read_namespaced_config_map, "Secret": self.core.read_namespaced_secret,
                "ServiceAccount": self.core.read_namespaced_service_account}[kind]
        try:
            return _json(read(name, namespace, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def request_token(self, namespace: str, service_account: str, pod: dict, audience: str | None,
                      seconds: int) -> str | None:
        """A token bound to the pod from the ServiceAccount's token subresource; None when the server
        does not offer that subresource."""
        meta = pod["metadata"]
        body = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {
            "audiences": [audience] if audience else [], "expirationSeconds": seconds,
            "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": meta["name"], "uid": meta["uid"]}}}
        try:
            response = self.core.create_namespaced_service_account_token(service_account, namespace, body,
                                                                         _preload_content=False)
        except ApiException as exc:
            if exc.status in (404, 405):
                return None
            raise
        return (_json(response).get("status") or {}).get("token")

    def create_event(self, namespace: str, event: dict) -> None:
        _done(self.core.create_namespaced_event(namespace, event, _preload_content=False))

    def patch_event(self, namespace: str, name: str, patch: dict) -> None:
        _done(self.core.patch_namespaced_event(name, namespace, patch, _content_type=MERGE_PATCH,
                                               _preload_content=False))

    # -- the node --------------------------------------------------------------------------

    def read_node(self, name: str) -> dict | None:
        try:
            return _json(self.core.read_node(name, _preload_content=False))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def create_node(self, node: dict) -> dict:
        return _json(self.core.create_node(node, _preload_content=False))

    def patch_node(self, name: str, patch: dict) -> dict:
        return _json(self.core.patch_node(name, patch, _content_type=MERGE_PATCH, _preload_content=False))

    def patch_node_status(self, name: str, status: dict) -> dict:
        return _json(self.core.patch_node_status(name, {"status": status}, _content_type=MERGE_PATCH,
                                                 _preload_content=False))

    def renew_lease(self, namespace: str, lease: dict) -> None:
        name = lease["metadata"]["name"]
        try:
            _done(self.coordination.patch_namespaced_lease(name, namespace, {"spec": lease["spec"]},
                                                           _content_type=MERGE_PATCH, _preload_content=False))
        except ApiException as exc:
            if exc.status != 404:
                raise
            _done(self.coordination.create_namespaced_lease(namespace, lease, _preload_content=False))

    def close(self) -> None:
        self.client.close()
