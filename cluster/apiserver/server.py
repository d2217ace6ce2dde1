"""The HTTP face of the API server: routing, authentication, content negotiation, Tables, watch."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import yaml
from aiohttp import web

from . import discovery, errors, openapi, patching, pki, printers, schema
from .errors import APIError
from .pod_streams import PodStreams
from .registry import DeleteOptions, Registry, Result, WriteOptions, scale_of, with_scale
from .resources import ResourceType, ResourceTypes
from .selectors import SelectorError, check_field_selector, parse_field_selector, parse_label_selector
from .store import Store
from .watch import WatchRequest, WatchStream, default_timeout

log = logging.getLogger("kvtui.apiserver")

MAX_BODY = 3 * 1024 * 1024
SERVER_VERSION = {
    "major": "1", "minor": "37", "gitVersion": "v1.37.0-kvtui", "gitCommit": "", "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z", "goVersion": "python", "compiler": "cpython", "platform": "linux/amd64",
    "emulationMajor": "1", "emulationMinor": "37", "minCompatibilityMajor": "1", "minCompatibilityMinor": "36",
}
ANONYMOUS_PATHS = {"/healthz", "/livez", "/readyz"}
_TRUE = {"1", "t", "T", "true", "True", "TRUE"}
_FALSE = {"0", "f", "F", "false", "False", "FALSE"}


@dataclass
class User:
    name: str
    groups: list[str] = field(default_factory=list)


@dataclass
class ServerConfig:
    tokens: dict[str, dict]
    address: str = "127.0.0.1:6443"
    audit_log: str | None = None   # a file: one JSON line per resource request
    data_dir: Path | None = None   # where tokens issued later (by `kvtui cluster`, TokenRequests) are read
    agent_ca_pem: bytes | None = None  # verifies node agents' streaming servers (pods/log, exec, ...)
    agent_token: str = ""              # what the API server presents to them


def _bool(params, name: str, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.bad_request(f'invalid value for {name}: "{value}": must be a boolean')


def _json_response(body: Any, status: int = 200, headers: dict | None = None) -> web.Response:
    return web.Response(status=status, text=json.dumps(body, separators=(",", ":")),
                        content_type="application/json", headers=headers)


def _status_response(exc: APIError) -> web.Response:
    return _json_response(exc.status(), exc.code)


def _wants_table(request: web.Request) -> bool:
    accept = request.headers.get("Accept", "")
    for part in accept.split(","):
        params = {k.strip(): v.strip() for k, _, v in (p.partition("=") for p in part.split(";")[1:])}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io":
            return True
    return False


def _warning_headers(warnings: list[str]) -> dict[str, str]:
    if not warnings:
        return {}
    # aiohttp takes one value per key; several warnings go as one comma-joined header, as HTTP allows.
    return {"Warning": ", ".join('299 - "' + w.replace('"', "'") + '"' for w in warnings)}


class APIServer:
    def __init__(self, store: Store, config: ServerConfig):
        self.store = store
        self.types = ResourceTypes()
        self.registry = Registry(store, self.types)
        self.config = config
        self.audit = open(config.audit_log, "a") if config.audit_log else None
        self._openapi_cache: tuple[int, dict[str, dict]] | None = None
        self._tokens_read = 0.0
        self._watches: set[WatchStream] = set()

    def close_watches(self) -> None:
        """End every open watch (at shutdown); clients re-watch from their last resourceVersion."""
        for stream in list(self._watches):
            stream.queue.put_nowait(None)

    # -- app -------------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY, middlewares=[self._middleware])
        app.router.add_get("/version", self._version)
        for probe in ("/healthz", "/livez", "/readyz"):
            app.router.add_get(probe, self._health)
        app.router.add_get("/api", self._api)
        app.router.add_get("/apis", self._apis)
        app.router.add_get("/openapi/v2", self._openapi_v2)
        app.router.add_get("/openapi/v3", self._openapi_index)
        app.router.add_get("/openapi/v3/{path:.*}", self._openapi_doc)
        app.router.add_route("*", "/api/v1", self._core_root)
        app.router.add_route("*", "/api/v1/{tail:.*}", self._core)
        app.router.add_route("*", "/apis/{group}", self._group_root)
        app.router.add_route("*", "/apis/{group}/{version}", self._group_version_root)
        app.router.add_route("*", "/apis/{group}/{version}/{tail:.*}", self._grouped)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]):
        try:
            if request.path not in ANONYMOUS_PATHS:
                request["user"] = self._authenticate(request)
            return await handler(request)
        except APIError as exc:
            return _status_response(exc)
        except web.HTTPRequestEntityTooLarge:
            return _status_response(errors.too_large())
        except web.HTTPNotFound:
            return _status_response(errors.page_not_found())
        except web.HTTPMethodNotAllowed as exc:
            return _status_response(errors.method_not_allowed(exc.method))
        except web.HTTPException:
            raise
        except Exception:  # a bug must not take the server down or leak a traceback to clients
            log.exception("internal error serving %s %s", request.method, request.path_qs)
            return _status_response(APIError(500, "InternalError", "an error on the server has prevented the "
                                             "request from succeeding; see the API server log"))

    def _authenticate(self, request: web.Request) -> User:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() == "bearer" and token.strip() not in self.config.tokens:
            self._reload_tokens()
        if scheme.lower() == "bearer" and token.strip() in self.config.tokens:
            info = self.config.tokens[token.strip()]
            return User(info.get("user", "admin"), list(info.get("groups", [])))
        raise errors.unauthorized()

    def _reload_tokens(self) -> None:
        """Tokens issued after start live in the token file; look again, at most once a second."""
        now = time.monotonic()
        if self.config.data_dir is None or now - self._tokens_read < 1.0:
            return
        self._tokens_read = now
        self.config.tokens = pki.load_tokens(self.config.data_dir)

    # -- fixed endpoints -----------------------------------------------------------------------

    async def _version(self, request: web.Request) -> web.Response:
        return _json_response(SERVER_VERSION)

    async def _health(self, request: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        return _json_response(discovery.api_versions(self.config.address))

    async def _apis(self, request: web.Request) -> web.Response:
        return _json_response(discovery.api_group_list(self.types))

    async def _core_root(self, request: web.Request) -> web.Response:
        return _json_response(discovery.api_resource_list(self.types, "", "v1"))

    async def _group_root(self, request: web.Request) -> web.Response:
        body = discovery.api_group(self.types, request.match_info["group"])
        if body is None:
            raise errors.page_not_found()
        return _json_response(body)

    async def _group_version_root(self, request: web.Request) -> web.Response:
        body = discovery.api_resource_list(self.types, request.match_info["group"], request.match_info["version"])
        if body is None:
            raise errors.page_not_found()
        return _json_response(body)

    async def _openapi_v2(self, request: web.Request) -> web.Response:
        # kubectl needs v2 only as protobuf; answering 404 makes it use v3.
        raise errors.page_not_found()

    def _openapi_docs(self) -> dict[str, dict]:
        if self._openapi_cache and self._openapi_cache[0] == self.types.generation:
            return self._openapi_cache[1]
        docs: dict[str, dict] = {}
        by_gv: dict[tuple[str, str], list[openapi.KindSpec]] = {}
        for rt in self.types.all():
            for version in rt.versions:
                by_gv.setdefault((rt.group, version), []).append(self._kind_spec(rt, version))
        for (group, version), kinds in by_gv.items():
            docs[openapi.group_version_path(group, version)] = openapi.openapi_document(group, version, kinds)
        self._openapi_cache = (self.types.generation, docs)
        return docs

    def _kind_spec(self, rt: ResourceType, version: str) -> openapi.KindSpec:
        patch_types = ["application/json-patch+json", "application/merge-patch+json"]
        if rt.custom:
            kind_schema = rt.schemas.get(version)
        else:
            kind_schema = schema.builtin_schema(rt.group, version, rt.kind)
        return openapi.KindSpec(kind=rt.kind, plural=rt.plural, namespaced=rt.namespaced, schema=kind_schema,
                                has_status="status" in rt.subresources, patch_types=tuple(patch_types))

    async def _openapi_index(self, request: web.Request) -> web.Response:
        return _json_response(openapi.openapi_index(self._openapi_docs()))

    async def _openapi_doc(self, request: web.Request) -> web.Response:
        doc = self._openapi_docs().get(request.match_info["path"])
        if doc is None:
            raise errors.page_not_found()
        body = openapi.serialize_document(doc)
        etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
        return web.Response(body=body, content_type="application/json", headers={"ETag": etag})

    # -- resource routing ------------------------------------------------------------------

    async def _core(self, request: web.Request) -> web.StreamResponse:
        return await self._resource(request, "", "v1", request.match_info["tail"])

    async def _grouped(self, request: web.Request) -> web.StreamResponse:
        return await self._resource(request, request.match_info["group"], request.match_info["version"],
                                    request.match_info["tail"])

    async def _resource(self, request: web.Request, group: str, version: str, tail: str) -> web.StreamResponse:
        segs = [unquote(s) for s in tail.split("/") if s != ""]
        namespace: str | None = None
        if len(segs) >= 3 and segs[0] == "namespaces" and not (group == "" and segs[2] in ("status", "finalize")):
            namespace, segs = segs[1], segs[2:]
        if not segs or len(segs) > 3:
            raise errors.page_not_found()
        rt = self.types.get(group, version, segs[0])
        if rt is None:
            raise errors.page_not_found()
        if namespace is not None and not rt.namespaced:
            raise errors.page_not_found()
        name = segs[1] if len(segs) > 1 else None
        sub = segs[2] if len(segs) > 2 else None
        if sub is not None and sub not in rt.subresources:
            raise errors.page_not_found()
        if rt.namespaced and name is not None and namespace is None:
            raise errors.page_not_found()
        ns = namespace or ""
        method = request.method
        self._audit(request, rt, namespace, name, sub)
        if rt.deprecated.get(version):
            request["warnings"] = [rt.deprecated[version]]
        if name is None:
            if method == "GET":
                if "list" not in rt.verbs:
                    raise errors.method_not_allowed(method)
                return await self._list_or_watch(request, rt, version, namespace)
            if method == "POST":
                return await self._create(request, rt, version, ns)
            if method == "DELETE" and "deletecollection" in rt.verbs:
                return await self._delete_collection(request, rt, version, namespace)
            raise errors.method_not_allowed(method)
        if sub is None:
            if method == "GET":
                return self._get(request, rt, version, ns, name)
            if method == "PUT":
                return await self._update(request, rt, version, ns, name, None)
            if method == "PATCH":
                return await self._patch(request, rt, version, ns, name, None)
            if method == "DELETE":
                return await self._delete(request, rt, version, ns, name)
            raise errors.method_not_allowed(method)
        return await self._subresource(request, rt, version, ns, name, sub)

    def _audit(self, request: web.Request, rt: ResourceType, namespace: str | None, name: str | None,
               sub: str | None) -> None:
        """One JSON line per resource request: who did which verb on what (for least-privilege RBAC)."""
        if self.audit is None:
            return
        method = request.method
        if method == "GET":
            verb = "get" if name else ("watch" if request.query.get("watch") in _TRUE else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete" if name else "deletecollection"}.get(method, method.lower())
        user: User = request["user"]
        record = {"user": user.name, "verb": verb, "group": rt.group, "resource": rt.plural,
                  "subresource": sub or "", "namespace": namespace or "", "name": name or ""}
        self.audit.write(json.dumps(record) + "\n")
        self.audit.flush()

    async def _subresource(self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str,
                           sub: str) -> web.StreamResponse:
        method = request.method
        if sub == "status":
            if method == "GET":
                return self._get(request, rt, version, ns, name)
            if method == "PUT":
                return await self._update(request, rt, version, ns, name, "status")
            if method == "PATCH":
                return await self._patch(request, rt, version, ns, name, "status")
        elif sub == "token" and method == "POST":
            return await self._token_request(request, ns, name)
        elif sub == "scale":
            return await self._scale(request, rt, version, ns, name)
        elif sub == "finalize" and method == "PUT":
            result = self.registry.finalize_namespace(name, await self._body(request))
            return _json_response(result.obj)
        elif sub == "binding" and method == "POST":
            body = await self._body(request)
            target = (body or {}).get("target") or {}
            if not target.get("name"):
                raise errors.invalid("Binding", "", name, [("target.name", "FieldValueRequired",
                                                            "target.name: Required value")])
            self.registry.bind_pod(ns, name, target["name"])
            return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "code": 201}, 201)
        elif sub == "eviction" and method == "POST":
            body = await self._body(request) or {}
            opts = self._delete_options(request, body.get("deleteOptions") or {})
            self.registry.delete(rt, ns, name, opts)
            return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "code": 201}, 201)
        elif sub in ("log", "exec", "attach", "portforward"):
            return await self.pod_stream(request, ns, name, sub)
        raise errors.method_not_allowed(method)

    async def _scale(self, request: web.Request, rt: ResourceType, version: str, ns: str,
                     name: str) -> web.Response:
        stored = self.registry.get(rt, ns, name)
        if request.method == "GET":
            return _json_response(scale_of(rt, stored.obj))
        if request.method == "PUT":
            scale = await self._body(request) or {}
        elif request.method == "PATCH":
            ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
            if ctype not in (patching.JSON_PATCH, patching.MERGE_PATCH, patching.STRATEGIC_MERGE_PATCH):
                raise errors.unsupported_media_type(ctype, [patching.JSON_PATCH, patching.MERGE_PATCH])
            try:
                scale = patching.apply_patch(ctype, scale_of(rt, stored.obj), await request.read(), "autoscaling",
                                             "Scale")
            except patching.PatchError as exc:
                raise APIError(exc.code, exc.reason, str(exc)) from exc
        else:
            raise errors.method_not_allowed(request.method)
        new = with_scale(rt, stored.obj, scale)
        result = self.registry.update(rt, ns, name, new, self._write_options(request, version))
        return _json_response(scale_of(rt, result.obj))

    async def _token_request(self, request: web.Request, ns: str, name: str) -> web.Response:
        """serviceaccounts/token: a bearer token that authenticates as the service account."""
        self.registry.get(self.types.get("", "v1", "serviceaccounts"), ns, name)  # type: ignore[arg-type]
        if self.config.data_dir is None:
            raise APIError(503, "ServiceUnavailable", "this server cannot issue tokens: it was started without a "
                           "data directory")
        body = await self._body(request) or {}
        seconds = int((body.get("spec") or {}).get("expirationSeconds") or 3600)
        user = f"system:serviceaccount:{ns}:{name}"
        token = pki.issue_token(self.config.data_dir, user,
                                ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"])
        self.config.tokens = pki.load_tokens(self.config.data_dir)
        expires = datetime.now(UTC) + timedelta(seconds=seconds)
        return _json_response({
            "kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
            "metadata": {"name": name, "namespace": ns, "creationTimestamp": None},
            "spec": {**(body.get("spec") or {}), "expirationSeconds": seconds},
            "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")},
        }, 201)

    async def pod_stream(self, request: web.Request, ns: str, name: str, sub: str) -> web.StreamResponse:
        """Streaming pod subresources are served by the node agent that runs the pod."""
        streams = PodStreams(self.registry, self.types, self.config.agent_ca_pem, self.config.agent_token)
        return await streams.serve(request, ns, name, sub)

    # -- handlers ---------------------------------------------------------------------------

    async def _body(self, request: web.Request) -> Any:
        raw = await request.read()
        if not raw:
            return None
        ctype = request.headers.get("Content-Type", "application/json").split(";")[0].strip()
        if ctype == "application/vnd.kubernetes.protobuf":
            from . import protobuf  # kubectl's typed clients send built-in kinds as protobuf

            try:
                return protobuf.decode_object(raw)
            except protobuf.ProtobufError as exc:
                raise APIError(415, "UnsupportedMediaType", str(exc)) from exc
        try:
            if ctype in ("application/yaml", "application/apply-patch+yaml"):
                return yaml.safe_load(raw)
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise errors.bad_request(f"the request body is not valid JSON: {exc}") from exc
        except yaml.YAMLError as exc:
            raise errors.bad_request(f"the request body is not valid YAML: {exc}") from exc

    def _write_options(self, request: web.Request, version: str) -> WriteOptions:
        q = request.query
        dry_run = q.getall("dryRun", [])
        for value in dry_run:
            if value != "All":
                raise errors.bad_request(f'Invalid dryRun value "{value}": supported values: "All"')
        validation = q.get("fieldValidation", "Warn") or "Warn"
        if validation not in ("Strict", "Warn", "Ignore"):
            raise errors.bad_request(f'fieldValidation: Unsupported value: "{validation}": supported values: '
                                     '"Ignore", "Strict", "Warn"')
        return WriteOptions(dry_run=bool(dry_run), field_validation=validation,
                            field_manager=q.get("fieldManager", ""), version=version)

    def _respond(self, request: web.Request, rt: ResourceType, result: Result, status: int = 200) -> web.Response:
        warnings = request.get("warnings", []) + result.warnings
        if _wants_table(request):
            body = self._table(request, rt, [result.obj], str(self.store.revision))
        else:
            body = result.obj
        return _json_response(body, status, _warning_headers(warnings))

    def _table(self, request: web.Request, rt: ResourceType, items: list[dict], rv: str, headers: bool = True) -> dict:
        include = request.query.get("includeObject", "Metadata") or "Metadata"
        if include not in ("Metadata", "Object", "None"):
            raise errors.bad_request(f'includeObject: Unsupported value: "{include}": supported values: '
                                     '"Metadata", "None", "Object"')
        columns = None
        if rt.custom:
            version = self._request_version(request, rt)
            columns = rt.printer_columns.get(version) or []
        table = printers.build_table(rt.group, rt.kind, items, resource_version=rv, printer_columns=columns,
                                     include_object=include)
        if not headers:
            table["columnDefinitions"] = []
        return table

    def _request_version(self, request: web.Request, rt: ResourceType) -> str:
        return request.match_info.get("version", "v1") if rt.group else "v1"

    def _get(self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str) -> web.Response:
        if "get" not in rt.verbs:
            raise errors.method_not_allowed("GET")
        stored = self.registry.get(rt, ns, name)
        return self._respond(request, rt, Result(self.registry.present(rt, stored.obj, version)))

    async def _list_or_watch(self, request: web.Request, rt: ResourceType, version: str,
                             namespace: str | None) -> web.StreamResponse:
        q = request.query
        try:
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"))
            check_field_selector(fields, rt.group, rt.kind, rt.plural)
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        watch = _bool(q, "watch")
        send_initial = q.get("sendInitialEvents")
        rv_match = q.get("resourceVersionMatch", "")
        rv = q.get("resourceVersion", "")
        if rv and rv != "0" and not rv.isdigit():
            raise errors.bad_request(f'invalid resource version "{rv}"')
        if watch:
            if send_initial is not None and rv_match != "NotOlderThan":
                raise errors.invalid("ListOptions", "meta.k8s.io", "", [(
                    "resourceVersionMatch", "FieldValueForbidden",
                    "resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch "
                    "to NotOlderThan")])
            if rv_match and send_initial is None:
                raise errors.invalid("ListOptions", "meta.k8s.io", "", [(
                    "resourceVersionMatch", "FieldValueForbidden",
                    "resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless "
                    "sendInitialEvents is provided")])
            timeout = float(q["timeoutSeconds"]) if q.get("timeoutSeconds") else default_timeout()
            table = _wants_table(request)
            req = WatchRequest(
                rt=rt, namespace=namespace, labels=labels, fields=fields, resource_version=rv,
                send_initial_events=_bool(q, "sendInitialEvents"), allow_bookmarks=_bool(q, "allowWatchBookmarks"),
                timeout=timeout, version=version if rt.custom else None,
                as_table=(lambda obj, headers: self._table(request, rt, [obj], obj["metadata"].get(
                    "resourceVersion", ""), headers)) if table else None,
            )
            stream = WatchStream(self.store, req)
            self._watches.add(stream)
            try:
                return await stream.serve(request, _warning_headers(request.get("warnings", [])))
            finally:
                self._watches.discard(stream)
        if send_initial is not None:
            raise errors.invalid("ListOptions", "meta.k8s.io", "", [(
                "sendInitialEvents", "FieldValueForbidden",
                "sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")])
        if rv_match == "Exact" and rv and int(rv) != self.store.revision:
            raise errors.expired(f"too old resource version: {rv} ({self.store.revision})")
        revision = str(self.store.revision)
        items = self.registry.list(rt, namespace, labels, fields)
        headers = _warning_headers(request.get("warnings", []))
        if _wants_table(request):
            objs = [self.registry.present(rt, s.obj, version) for s in items]
            return _json_response(self._table(request, rt, objs, revision), headers=headers)
        api_version = rt.api_version(version)
        prefix = (f'{{"kind":"{rt.list_kind}","apiVersion":"{api_version}",'
                  f'"metadata":{{"resourceVersion":"{revision}"}},"items":[')
        if version == rt.storage_version:
            body = prefix + ",".join(s.raw for s in items) + "]}"
        else:
            body = prefix + ",".join(json.dumps(self.registry.present(rt, s.obj, version)) for s in items) + "]}"
        return web.Response(text=body, content_type="application/json", headers=headers)

    async def _create(self, request: web.Request, rt: ResourceType, version: str, ns: str) -> web.Response:
        if rt.plural == "selfsubjectaccessreviews":
            body = await self._body(request) or {}
            body["status"] = {"allowed": True, "reason": "authenticated users are cluster administrators"}
            return _json_response(body, 201)
        if rt.plural == "selfsubjectreviews":
            user: User = request["user"]
            return _json_response({"kind": "SelfSubjectReview", "apiVersion": "authentication.k8s.io/v1",
                                   "metadata": {"creationTimestamp": None},
                                   "status": {"userInfo": {"username": user.name, "groups": user.groups}}}, 201)
        if rt.plural == "bindings":
            body = await self._body(request) or {}
            pod = (body.get("metadata") or {}).get("name", "")
            target = (body.get("target") or {}).get("name", "")
            self.registry.bind_pod(ns, pod, target)
            return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "code": 201}, 201)
        if "create" not in rt.verbs:
            raise errors.method_not_allowed("POST")
        body = await self._body(request)
        result = self.registry.create(rt, ns, body, self._write_options(request, version))
        return self._respond(request, rt, result, 201)

    async def _update(self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str,
                      sub: str | None) -> web.Response:
        body = await self._body(request)
        result = self.registry.update(rt, ns, name, body, self._write_options(request, version), subresource=sub)
        return self._respond(request, rt, result)

    async def _patch(self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str,
                     sub: str | None) -> web.Response:
        ctype = request.headers.get("Content-Type", "").split(";")[0].strip()
        raw = await request.read()
        result = self.registry.patch(rt, ns, name, ctype, raw, self._write_options(request, version), subresource=sub)
        return self._respond(request, rt, result)

    def _delete_options(self, request: web.Request, body: dict) -> DeleteOptions:
        q = request.query
        grace = body.get("gracePeriodSeconds")
        if grace is None and q.get("gracePeriodSeconds"):
            grace = int(q["gracePeriodSeconds"])
        propagation = body.get("propagationPolicy") or q.get("propagationPolicy")
        orphan = body.get("orphanDependents")
        if orphan is None and q.get("orphanDependents"):
            orphan = _bool(q, "orphanDependents")
        if propagation is None and orphan is not None:
            propagation = "Orphan" if orphan else "Background"
        if propagation not in (None, "Background", "Foreground", "Orphan"):
            raise errors.bad_request(f'propagationPolicy: Unsupported value: "{propagation}": supported values: '
                                     '"Background", "Foreground", "Orphan"')
        pre = body.get("preconditions") or {}
        dry = body.get("dryRun") or q.getall("dryRun", [])
        return DeleteOptions(grace_period=grace, propagation=propagation, uid=pre.get("uid"),
                             resource_version=pre.get("resourceVersion"), dry_run=bool(dry))

    async def _delete(self, request: web.Request, rt: ResourceType, version: str, ns: str, name: str) -> web.Response:
        body = await self._body(request) or {}
        result = self.registry.delete(rt, ns, name, self._delete_options(request, body))
        if result.deleted and (rt.group, rt.kind) != ("", "Pod"):
            meta = result.obj["metadata"]
            return _json_response({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                   "details": {"name": meta["name"], "group": rt.group, "kind": rt.plural,
                                               "uid": meta.get("uid")}})
        return self._respond(request, rt, result)

    async def _delete_collection(self, request: web.Request, rt: ResourceType, version: str,
                                 namespace: str | None) -> web.Response:
        q = request.query
        try:
            labels = parse_label_selector(q.get("labelSelector"))
            fields = parse_field_selector(q.get("fieldSelector"))
        except SelectorError as exc:
            raise errors.bad_request(str(exc)) from exc
        body = await self._body(request) or {}
        results = self.registry.delete_collection(rt, namespace, labels, fields, self._delete_options(request, body))
        return _json_response({"kind": rt.list_kind, "apiVersion": rt.api_version(version),
                               "metadata": {"resourceVersion": str(self.store.revision)},
                               "items": [r.obj for r in results]})
