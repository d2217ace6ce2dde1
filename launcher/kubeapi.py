"""A small Kubernetes REST client on the standard library and the launcher's own HTTP/1.1 client:
the few calls the launcher makes (get, create, merge patch, watch), without the CPU and memory that
importing the `kubernetes` package costs in every launcher pod. Safe to share between threads: each request borrows a keep-alive
connection from a small pool; a watch has a connection of its own.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import socket
import ssl
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

from launcher.httpclient import Connection, Endpoint, ProtocolError, Response

SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0
WATCH_TIMEOUT = 300  # timeoutSeconds asked of the server when the caller names none
WATCH_READ_MARGIN = 30.0  # how long past timeoutSeconds a silent watch waits before it counts as lost
MAX_IDLE_CONNECTIONS = 4
USER_AGENT = "kvtui-launcher"

# A reused connection the server closed while it sat idle fails with one of these before any
# response arrives; the request is sent again once, on a new connection.
_DROPPED = (
    ConnectionResetError,
    BrokenPipeError,
    ConnectionAbortedError,
    ssl.SSLEOFError,
    ssl.SSLZeroReturnError,
)


class ConfigError(Exception):
    """No usable way to reach the API server; the message names the file or field and the fix."""


class ApiError(Exception):
    """The API server answered with an error: `status` (HTTP code), `reason` and `message` come
    from the Status object it sent (`NotFound`, `Conflict`, `Unauthorized` ...)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}" if message else f"{status} {reason}")
        self.status, self.reason, self.message = status, reason, message


class ApiUnreachable(Exception):
    """No answer from the API server at `server`: refused, unresolvable, TLS failure, timeout, or a
    connection lost mid-request."""

    def __init__(self, server: str, cause: str) -> None:
        super().__init__(f"cannot reach the API server at {server}: {cause}")
        self.server, self.cause = server, cause


# --------------------------------------------------------------------------------------------
# Where the API server is and who we are to it


@dataclass(frozen=True)
class ClusterAccess:
    """What a kubeconfig's current context, or a pod's service account, says about reaching the
    API server. PEM contents, not file names, except for the token file, which is read again
    whenever it changes."""

    server: str
    ca_pem: bytes | None = None
    insecure: bool = False
    tls_server_name: str = ""
    client_cert_pem: bytes | None = None
    client_key_pem: bytes | None = None
    token: str = ""
    token_file: Path | None = None
    namespace: str = ""


def incluster_access(
    service_account_dir: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] = os.environ
) -> ClusterAccess:
    """The pod's own way in: the kubernetes Service from the environment kubelet sets, and the
    service account token and CA that it mounts."""
    host, port = environ.get("KUBERNETES_SERVICE_HOST", ""), environ.get("KUBERNETES_SERVICE_PORT", "")
    if not host or not port:
        raise ConfigError(
            "not running in a pod (KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not "
            "set): pass --kubeconfig FILE"
        )
    token_file = service_account_dir / "token"
    if not token_file.is_file():
        raise ConfigError(
            f"in a pod, but there is no service account token at {token_file}: give the pod a "
            "service account token (automountServiceAccountToken), or pass --kubeconfig FILE"
        )
    try:
        ca_pem = (service_account_dir / "ca.crt").read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"cannot read the cluster CA at {service_account_dir / 'ca.crt'}: {exc.strerror}"
        ) from None
    try:
        namespace = (service_account_dir / "namespace").read_text().strip()
    except OSError:
        namespace = ""
    server_host = f"[{host}]" if ":" in host else host
    return ClusterAccess(
        server=f"https://{server_host}:{port}", ca_pem=ca_pem, token_file=token_file, namespace=namespace
    )


# Fields of a kubeconfig user this client cannot act on; ignoring them would fail later as 401.
_UNSUPPORTED_USER_FIELDS = ("exec", "auth-provider", "username", "password", "as", "as-groups")


@dataclass
class _Named:
    """A kubeconfig entry (cluster, user, context) and the directory relative paths in it start from."""

    fields: dict[str, Any]
    base: Path
    source: Path


def read_kubeconfig(path: str | Path) -> ClusterAccess:
    """The current context's cluster and user from a kubeconfig, or from several joined with the
    path separator (as in $KUBECONFIG: the first file to name something wins). For each of the
    CA, client certificate and client key, `-data` (base64) takes precedence over the file; a
    `token` takes precedence over a `tokenFile`; relative file names start at the kubeconfig's
    directory."""
    files = [Path(p) for p in str(path).split(os.pathsep) if p]
    if not files:
        raise ConfigError("no kubeconfig given: pass --kubeconfig FILE")
    named: dict[str, dict[str, _Named]] = {"clusters": {}, "users": {}, "contexts": {}}
    current = ""
    for file in files:
        config = _load_kubeconfig_file(file)
        current = current or str(config.get("current-context") or "")
        for kind, entries in named.items():
            for entry in config.get(kind) or []:
                if isinstance(entry, dict) and entry.get("name") and entry["name"] not in entries:
                    key = kind[:-1]  # "clusters" -> "cluster"
                    entries[entry["name"]] = _Named(dict(entry.get(key) or {}), file.resolve().parent, file)
    where = str(path)
    if not current:
        raise ConfigError(
            f"kubeconfig {where} has no current-context: choose one with "
            f"`kubectl config use-context NAME --kubeconfig {where}`"
        )
    context = _entry(named, "contexts", current, where)
    cluster_name = str(context.fields.get("cluster") or "")
    if not cluster_name:
        raise ConfigError(f"kubeconfig {where}: context {current!r} names no cluster")
    cluster = _entry(named, "clusters", cluster_name, where)
    user_name = str(context.fields.get("user") or "")
    user = _entry(named, "users", user_name, where) if user_name else _Named({}, cluster.base, cluster.source)
    return _access(cluster, cluster_name, user, user_name, str(context.fields.get("namespace") or ""))


def _load_kubeconfig_file(file: Path) -> dict[str, Any]:
    import yaml  # only kubeconfig users pay for it; in a pod the launcher never loads it

    try:
        config = yaml.safe_load(file.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read kubeconfig {file}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {file} is not valid YAML: {exc}") from None
    if config is None:
        return {}
    if not isinstance(config, dict):
        raise ConfigError(f"kubeconfig {file} must be a mapping (kind: Config)")
    return config


def _entry(named: dict[str, dict[str, _Named]], kind: str, name: str, where: str) -> _Named:
    entry = named[kind].get(name)
    if entry is None:
        known = ", ".join(sorted(named[kind])) or "none"
        what = "current-context" if kind == "contexts" else f"the current context's {kind[:-1]}"
        raise ConfigError(f"kubeconfig {where}: {what} {name!r} is not among its {kind} ({known})")
    return entry


def _access(
    cluster: _Named, cluster_name: str, user: _Named, user_name: str, namespace: str
) -> ClusterAccess:
    server = str(cluster.fields.get("server") or "")
    if not server:
        raise ConfigError(f"kubeconfig {cluster.source}: clusters[{cluster_name!r}].server is not set")
    for field in _UNSUPPORTED_USER_FIELDS:
        if field in user.fields:
            raise ConfigError(
                f"kubeconfig {user.source}: users[{user_name!r}].{field} is not supported by the "
                "launcher: give the user a token, tokenFile or client certificate"
            )
    ca_pem = _data_or_file(cluster, f"clusters[{cluster_name!r}]", "certificate-authority")
    insecure = bool(cluster.fields.get("insecure-skip-tls-verify"))
    if insecure and ca_pem is not None:
        raise ConfigError(
            f"kubeconfig {cluster.source}: clusters[{cluster_name!r}] sets both "
            "insecure-skip-tls-verify and a certificate authority: keep one"
        )
    where = f"users[{user_name!r}]"
    cert = _data_or_file(user, where, "client-certificate")
    key = _data_or_file(user, where, "client-key")
    if (cert is None) != (key is None):
        present, absent = (
            ("client-certificate", "client-key") if key is None else ("client-key", "client-certificate")
        )
        raise ConfigError(f"kubeconfig {user.source}: {where} has a {present} but no {absent}: give both")
    token = str(user.fields.get("token") or "")
    token_file = None
    if not token and user.fields.get("tokenFile"):
        token_file = user.base / str(user.fields["tokenFile"])
        if not token_file.is_file():
            raise ConfigError(f"kubeconfig {user.source}: {where}.tokenFile {token_file} does not exist")
    return ClusterAccess(
        server=server,
        ca_pem=ca_pem,
        insecure=insecure,
        tls_server_name=str(cluster.fields.get("tls-server-name") or ""),
        client_cert_pem=cert,
        client_key_pem=key,
        token=token,
        token_file=token_file,
        namespace=namespace,
    )


def _data_or_file(entry: _Named, where: str, field: str) -> bytes | None:
    data = entry.fields.get(f"{field}-data")
    if data:
        try:
            return base64.b64decode(str(data), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                f"kubeconfig {entry.source}: {where}.{field}-data is not valid base64"
            ) from None
    name = entry.fields.get(field)
    if not name:
        return None
    file = entry.base / str(name)
    try:
        return file.read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"kubeconfig {entry.source}: {where}.{field}: cannot read {file}: {exc.strerror}"
        ) from None


def _tls_context(access: ClusterAccess) -> ssl.SSLContext:
    if access.insecure:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        try:
            # With a CA given only that CA is trusted, as kubectl does; else the system's.
            context = ssl.create_default_context(
                cadata=access.ca_pem.decode("ascii") if access.ca_pem else None
            )
        except (ssl.SSLError, UnicodeDecodeError) as exc:
            raise ConfigError(
                f"the certificate authority for {access.server} is not a PEM certificate: {exc}"
            ) from None
    context.set_alpn_protocols(["http/1.1"])
    if access.client_cert_pem is not None and access.client_key_pem is not None:
        import tempfile  # only client-certificate users pay for it; in a pod the launcher never loads it

        # ssl loads a certificate and key only from files: stage them in a private directory.
        with tempfile.TemporaryDirectory(prefix="kvtui-client-") as staging:
            cert_file, key_file = Path(staging) / "client.crt", Path(staging) / "client.key"
            for file, data in ((cert_file, access.client_cert_pem), (key_file, access.client_key_pem)):
                fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as stream:
                    stream.write(data)
            try:
                context.load_cert_chain(cert_file, key_file)
            except ssl.SSLError as exc:
                raise ConfigError(
                    f"the client certificate and key for {access.server} do not load as a PEM pair: {exc}"
                ) from None
    return context


class _BearerToken:
    """A token given once, or one read from a file and read again whenever the file changes:
    kubelet rotates bound service account tokens (about hourly) by swapping the file."""

    def __init__(self, token: str, path: Path | None) -> None:
        self._token, self._path = token, path
        self._seen: tuple[int, int, int] | None = None
        self._lock = threading.Lock()

    def current(self) -> str:
        if self._path is None:
            return self._token
        with self._lock:
            try:
                # stat follows the ..data symlink kubelet swaps, so a new token is a new inode
                info = os.stat(self._path)
                seen = (info.st_ino, info.st_mtime_ns, info.st_size)
                if seen != self._seen:
                    self._token, self._seen = self._path.read_text().strip(), seen
            except OSError as exc:
                if not self._token:
                    raise ConfigError(
                        f"cannot read the bearer token in {self._path}: {exc.strerror}"
                    ) from None
                # Mid-rotation the file can be briefly absent: the last token is still good.
            return self._token


# --------------------------------------------------------------------------------------------
# Connections


def _connection(endpoint: Endpoint, read_timeout: float) -> Connection:
    """A new connection: connecting (and the TLS handshake) may take CONNECT_TIMEOUT, each read
    after that `read_timeout`."""
    return Connection(endpoint, read_timeout, CONNECT_TIMEOUT)


def _describe(exc: BaseException, read_timeout: float) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"the server's TLS certificate is not trusted ({exc.verify_message})"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if isinstance(exc, TimeoutError):
        return f"no answer in time (connect {CONNECT_TIMEOUT:g}s, read {read_timeout:g}s)"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ProtocolError):
        return f"not a valid HTTP answer: {exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _decode(status: int, http_reason: str, data: bytes) -> dict[str, Any]:
    """The JSON object of a response, or the ApiError its Status describes."""
    try:
        body = json.loads(data) if data else {}
    except ValueError:
        body = None
    if status >= 400:
        if isinstance(body, dict) and body.get("kind") == "Status":
            raise ApiError(status, str(body.get("reason") or http_reason), str(body.get("message") or ""))
        raise ApiError(status, http_reason, data[:300].decode(errors="replace").strip())
    if not isinstance(body, dict):
        raise ApiError(status, "InvalidResponse", f"expected a JSON object, got {data[:100]!r}")
    return body


# --------------------------------------------------------------------------------------------
# The client


class KubeAPI:
    """The Kubernetes REST API at one server, as one identity. `path`s are API paths
    (`/api/v1/namespaces/default/events`); bodies and results are plain dicts."""

    def __init__(self, access: ClusterAccess, read_timeout: float = READ_TIMEOUT) -> None:
        parts = urlsplit(access.server)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ConfigError(f"API server {access.server!r} is not an http(s):// URL")
        try:
            port = parts.port or (443 if parts.scheme == "https" else 80)
        except ValueError:
            raise ConfigError(f"API server {access.server!r} has an invalid port") from None
        self.server = access.server.rstrip("/")
        self.namespace = access.namespace
        self.read_timeout = read_timeout
        tls = _tls_context(access) if parts.scheme == "https" else None
        self._endpoint = Endpoint(parts.hostname, port, tls, access.tls_server_name or parts.hostname)
        self._prefix = parts.path.rstrip("/")  # a server behind a path (a proxy) keeps it
        self._token = _BearerToken(access.token, access.token_file)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()

    @classmethod
    def from_incluster(
        cls, service_account_dir: Path = SERVICE_ACCOUNT_DIR, environ: Mapping[str, str] = os.environ
    ) -> KubeAPI:
        return cls(incluster_access(service_account_dir, environ))

    @classmethod
    def from_kubeconfig(cls, path: str | Path) -> KubeAPI:
        return cls(read_kubeconfig(path))

    # -- calls -----------------------------------------------------------------------------------

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", path, params)

    def post(self, path: str, body: Mapping[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, body=body)

    def patch(
        self, path: str, body: Mapping[str, Any], content_type: str = "application/merge-patch+json"
    ) -> dict[str, Any]:
        return self._request("PATCH", path, body=body, content_type=content_type)

    def watch(self, path: str, params: Mapping[str, Any] | None = None) -> Watch:
        """Watch the collection at `path` (narrow it with a fieldSelector). Returns once the server
        has accepted the watch, so nothing that happens after the call is missed; the Watch then
        yields events ({"type": ..., "object": ...}) until the server ends it after timeoutSeconds
        (WATCH_TIMEOUT unless given). An ERROR event (e.g. 410 Expired) raises ApiError."""
        query = {"watch": "true", "timeoutSeconds": WATCH_TIMEOUT, **(params or {})}
        read_timeout = float(query["timeoutSeconds"]) + WATCH_READ_MARGIN
        conn = _connection(self._endpoint, read_timeout)
        try:
            response = conn.request("GET", self._target(path, query), self._headers())
            if response.status != 200:
                _decode(response.status, response.reason, response.read())
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise ApiUnreachable(self.server, _describe(exc, read_timeout)) from None
        except ApiError:
            conn.close()
            raise
        return Watch(conn, response, self.server)

    def close(self) -> None:
        """Close the idle connections (a request after this opens a new one)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _target(self, path: str, params: Mapping[str, Any] | None) -> str:
        query = urlencode({k: _query_value(v) for k, v in (params or {}).items() if v is not None})
        return f"{self._prefix}{path}" + (f"?{query}" if query else "")

    def _headers(self, content_type: str | None = None) -> dict[str, str]:
        headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        token = self._token.current()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _checkout(self) -> tuple[Connection, bool]:
        """An idle connection the server still holds open, else a new one; and whether it is reused."""
        while True:
            with self._lock:
                conn = self._idle.pop() if self._idle else None
            if conn is None:
                return _connection(self._endpoint, self.read_timeout), False
            if not conn.closed_by_server():
                return conn, True
            conn.close()

    def _checkin(self, conn: Connection) -> None:
        with self._lock:
            if len(self._idle) < MAX_IDLE_CONNECTIONS:
                self._idle.append(conn)
                return
        conn.close()

    def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
    ) -> dict[str, Any]:
        target = self._target(path, params)
        payload = None if body is None else json.dumps(body, separators=(",", ":")).encode()
        headers = self._headers(content_type if payload is not None else None)
        conn, reused = self._checkout()
        try:
            try:
                response = conn.request(method, target, headers, payload)
            except _DROPPED:
                conn.close()
                if not reused:
                    raise
                # The server closed it while idle, just as the request went out: nothing was
                # answered, so send it again on a new connection. (A replayed PATCH carries its
                # resourceVersion and would be a 409, a replayed Event is a duplicate at worst.)
                conn = _connection(self._endpoint, self.read_timeout)
                response = conn.request(method, target, headers, payload)
            data = response.read()
        except (OSError, ProtocolError) as exc:
            conn.close()
            raise ApiUnreachable(self.server, _describe(exc, self.read_timeout)) from None
        if response.will_close:
            conn.close()
        else:
            self._checkin(conn)
        return _decode(response.status, response.reason, data)


def _query_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class Watch:
    """The events of one watch as they arrive. Iterate it; close it (or use `with`) when done."""

    def __init__(self, conn: Connection, response: Response, server: str) -> None:
        self._conn, self._response, self._server = conn, response, server

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self

    def __next__(self) -> dict[str, Any]:
        while True:
            try:
                line = self._response.readline()
            except (OSError, ProtocolError, ValueError) as exc:  # ValueError: closed meanwhile
                self.close()
                raise ApiUnreachable(
                    self._server, f"the watch broke off: {_describe(exc, self._conn.timeout)}"
                ) from None
            if not line:
                self.close()
                raise StopIteration
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except ValueError:
                self.close()
                raise ApiError(200, "InvalidResponse", f"a watch event is not JSON: {line[:100]!r}") from None
            if event.get("type") == "ERROR":
                self.close()
                status = event.get("object") or {}
                raise ApiError(
                    int(status.get("code") or 500),
                    str(status.get("reason") or "Error"),
                    str(status.get("message") or ""),
                )
            return event

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> Watch:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
