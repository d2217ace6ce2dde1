"""A thin JSON client over the `kubernetes` package: dicts in, dicts out, watch lines. Shared by the
reconciler, the launcher and the terminal app, which all reach the API server through it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from kubernetes import client as k8s
from kubernetes import config as k8s_config
from kubernetes.client.rest import ApiException


class APIError(Exception):
    def __init__(self, status: int, reason: str, message: str):
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
        self.message = message


def load_api_client(kubeconfig: str | None = None) -> k8s.ApiClient:
    """In-cluster config inside a pod, else the kubeconfig (file, $KUBECONFIG or ~/.kube/config)."""
    if kubeconfig:
        return k8s_config.new_client_from_config(kubeconfig)
    try:
        k8s_config.load_incluster_config()
        return k8s.ApiClient()
    except k8s_config.ConfigException:
        return k8s_config.new_client_from_config()


def resource_path(group: str, version: str, plural: str, namespace: str | None = None, name: str | None = None,
                  sub: str | None = None) -> str:
    base = f"/apis/{group}/{version}" if group else f"/api/{version}"
    if namespace:
        base += f"/namespaces/{quote(namespace)}"
    base += f"/{plural}"
    if name:
        base += f"/{quote(name)}"
    if sub:
        base += f"/{sub}"
    return base


class Client:
    def __init__(self, api_client: k8s.ApiClient):
        self.api = api_client
        self.requests = 0      # counted for the benchmarks' "API requests per VMI"

    def _send(self, method: str, path: str, query: dict[str, Any] | None, body: Any, content_type: str,
              timeout: Any):
        headers = {"Accept": "application/json", "Content-Type": content_type}
        _, url, headers, _, _ = self.api.param_serialize(method, path, query_params=list((query or {}).items()),
                                                         header_params=headers, auth_settings=["BearerToken"])
        try:
            resp = self.api.call_api(method, url, header_params=headers, body=body, _request_timeout=timeout)
        except ApiException as exc:
            raise _api_error(exc.status or 0, exc.body) from None
        if resp.status >= 400:
            raise _api_error(resp.status, resp.read())
        return resp

    def request(self, method: str, path: str, *, query: dict[str, Any] | None = None, body: Any = None,
                content_type: str = "application/json", timeout: float = 30) -> dict:
        self.requests += 1
        data = self._send(method, path, query, body, content_type, timeout).read()
        return json.loads(data) if data else {}

    def get(self, path: str) -> dict:
        return self.request("GET", path)

    def create(self, path: str, body: dict) -> dict:
        return self.request("POST", path, body=body)

    def replace(self, path: str, body: dict) -> dict:
        return self.request("PUT", path, body=body)

    def merge_patch(self, path: str, patch: Any) -> dict:
        return self.request("PATCH", path, body=patch, content_type="application/merge-patch+json")

    def json_patch(self, path: str, ops: list[dict]) -> dict:
        return self.request("PATCH", path, body=ops, content_type="application/json-patch+json")

    def delete(self, path: str, *, grace: int | None = None, propagation: str = "Background",
               uid: str | None = None) -> dict:
        body: dict[str, Any] = {"kind": "DeleteOptions", "apiVersion": "v1", "propagationPolicy": propagation}
        if grace is not None:
            body["gracePeriodSeconds"] = grace
        if uid:
            body["preconditions"] = {"uid": uid}
        return self.request("DELETE", path, body=body)

    def watch(self, path: str, query: dict[str, Any], timeout: float) -> Iterator[dict]:
        self.requests += 1
        params = {**query, "watch": "true", "timeoutSeconds": str(int(timeout))}
        resp = self._send("GET", path, params, None, "application/json", (10, timeout + 30)).response
        try:
            buffer = b""
            for chunk in resp.stream(65536, decode_content=False):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if line.strip():
                        yield json.loads(line)
        finally:
            resp.release_conn()


def _api_error(status: int, body: bytes | str | None) -> APIError:
    try:
        parsed = json.loads(body or "{}")
        return APIError(status, parsed.get("reason", ""), parsed.get("message", str(body)))
    except ValueError:
        return APIError(status, "", str(body))
