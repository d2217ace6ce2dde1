"""The launcher's own Kubernetes client (launcher/kubeapi.py) against the real embedded API server:
reads, merge patches and their conflicts, watches, the identities a kubeconfig or a pod's service
account gives, and what a caller sees when the server is wrong or away. Then the ClusterReporter
on top of it, and kubeconfig parsing on its own."""

from __future__ import annotations

import base64
import datetime
import json
import os
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.apiserver import pki
from cluster.embedded import write_identity_kubeconfig
from launcher.events import STARTED
from launcher.kubeapi import (
    ApiError,
    ApiUnreachable,
    ClusterAccess,
    ConfigError,
    KubeAPI,
    read_kubeconfig,
)
from launcher.reporting import ClusterReporter
from launcher.status import RUNNING, Observation
from tests.api.conftest import Cluster, start_cluster

REPO = Path(__file__).resolve().parents[2]
REVIEWS = "/apis/authentication.k8s.io/v1/selfsubjectreviews"
CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
VMIS = "/apis/kubevirt.io/v1/namespaces/default/virtualmachineinstances"


# Users the tests authenticate as. Their tokens are issued before the server starts: it looks for
# tokens issued later at most once a second. (`issue_token` hands the same token out again.)
USERS = (
    "jane",
    "joe",
    "system:node:node-9",
    "system:serviceaccount:default:kvtui-launcher",
    "system:serviceaccount:default:rotated",
)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    tmp = tmp_path_factory.mktemp("kubeapi")
    for user in USERS:
        pki.issue_token(tmp / "data", user)
    c = start_cluster(tmp, extra_args=["--audit-log", str(tmp / "audit.jsonl")])
    yield c
    c.handle.stop()


@pytest.fixture
def api(cluster: Cluster) -> Iterator[KubeAPI]:
    client = KubeAPI.from_kubeconfig(cluster.kubeconfig)
    yield client
    client.close()


def whoami(api: KubeAPI) -> str:
    review = api.post(REVIEWS, {"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview"})
    return review["status"]["userInfo"]["username"]


def create_config_map(api: KubeAPI, name: str, **data: str) -> dict[str, Any]:
    return api.post(
        CONFIGMAPS, {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}
    )


def audit_records(cluster: Cluster) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (cluster.data_dir.parent / "audit.jsonl").read_text().splitlines()]


# --------------------------------------------------------------------------------------------
# Calls


def test_get_returns_the_object_kubectl_created(cluster: Cluster, api: KubeAPI) -> None:
    cluster.kubectl("create", "configmap", "got", "--from-literal=colour=blue")
    config_map = api.get(f"{CONFIGMAPS}/got")
    assert config_map["data"] == {"colour": "blue"}
    listed = api.get(CONFIGMAPS, {"fieldSelector": "metadata.name=got"})
    assert [item["metadata"]["name"] for item in listed["items"]] == ["got"]


def test_a_missing_object_is_an_api_error_with_the_servers_status(api: KubeAPI) -> None:
    with pytest.raises(ApiError) as info:
        api.get(f"{CONFIGMAPS}/absent")
    assert (info.value.status, info.value.reason) == (404, "NotFound")
    assert info.value.message == 'configmaps "absent" not found'


def test_a_merge_patch_changes_only_the_fields_it_names(cluster: Cluster, api: KubeAPI) -> None:
    create_config_map(api, "patched", keep="1", change="old")
    patched = api.patch(f"{CONFIGMAPS}/patched", {"data": {"change": "new", "added": "2"}})
    assert patched["data"] == {"keep": "1", "change": "new", "added": "2"}
    assert cluster.kubectl_json("get", "configmap", "patched")["data"] == patched["data"]


def test_a_patch_on_a_stale_resource_version_is_a_409(api: KubeAPI) -> None:
    created = create_config_map(api, "contended", n="1")
    api.patch(f"{CONFIGMAPS}/contended", {"data": {"n": "2"}})
    stale = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "data": {"n": "3"}}
    with pytest.raises(ApiError) as info:
        api.patch(f"{CONFIGMAPS}/contended", stale)
    assert (info.value.status, info.value.reason) == (409, "Conflict")
    assert api.get(f"{CONFIGMAPS}/contended")["data"] == {"n": "2"}


def test_a_watch_sees_a_change_made_after_it_started_and_ends_when_the_server_ends_it(
    cluster: Cluster, api: KubeAPI
) -> None:
    created = create_config_map(api, "watched", n="1")
    params = {
        "fieldSelector": "metadata.name=watched",
        "resourceVersion": created["metadata"]["resourceVersion"],
        "timeoutSeconds": 2,
    }
    with api.watch(CONFIGMAPS, params) as events:
        cluster.kubectl("patch", "configmap", "watched", "--type=merge", "-p", '{"data":{"n":"2"}}')
        event = next(events)
        assert event["type"] == "MODIFIED"
        assert event["object"]["data"] == {"n": "2"}
        cluster.kubectl("delete", "configmap", "watched")
        assert [e["type"] for e in events] == ["DELETED"]  # and then the server ended it


def test_one_client_serves_many_threads_at_once(api: KubeAPI) -> None:
    create_config_map(api, "shared", n="1")
    results: list[str] = []
    failures: list[BaseException] = []

    def read() -> None:
        try:
            for _ in range(15):
                results.append(api.get(f"{CONFIGMAPS}/shared")["data"]["n"])
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    threads = [threading.Thread(target=read) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    assert results == ["1"] * 90


# --------------------------------------------------------------------------------------------
# Identities


def test_the_kubeconfigs_the_project_writes_authenticate_as_their_users(
    cluster: Cluster, tmp_path: Path
) -> None:
    # `kvtui cluster kubeconfig --raw` prints the admin kubeconfig the API server wrote.
    raw = subprocess.run(
        [
            sys.executable,
            "-m",
            "kvtui.cli",
            "cluster",
            "kubeconfig",
            "--raw",
            "--data-dir",
            str(cluster.data_dir),
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
    )
    printed = tmp_path / "printed.kubeconfig"
    printed.write_text(raw.stdout)
    assert whoami(KubeAPI.from_kubeconfig(printed)) == pki.ADMIN_USER
    # What the embedded cluster writes for its reconciler and node agents.
    identity = tmp_path / "agent.kubeconfig"
    write_identity_kubeconfig(
        cluster.data_dir,
        identity,
        "system:node:node-9",
        pki.issue_token(cluster.data_dir, "system:node:node-9"),
    )
    assert whoami(KubeAPI.from_kubeconfig(identity)) == "system:node:node-9"


def test_a_token_file_is_read_again_when_it_changes(cluster: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"tokenFile": "tokens/current"}  # relative to the kubeconfig
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    (tmp_path / "tokens").mkdir()
    token_file = tmp_path / "tokens" / "current"
    token_file.write_text(pki.issue_token(cluster.data_dir, "jane") + "\n")
    api = KubeAPI.from_kubeconfig(kubeconfig)
    assert whoami(api) == "jane"
    replacement = tmp_path / "tokens" / ".next"
    replacement.write_text(pki.issue_token(cluster.data_dir, "joe"))
    replacement.replace(token_file)
    assert whoami(api) == "joe"


def test_in_a_pod_the_service_account_token_is_used_and_followed_through_rotation(
    cluster: Cluster, tmp_path: Path
) -> None:
    # The layout kubelet mounts: token and ca.crt are links into ..data, which is swapped at once.
    mount = tmp_path / "serviceaccount"
    mount.mkdir()

    def project(version: str, user: str) -> None:
        directory = mount / f"..{version}"
        directory.mkdir()
        (directory / "token").write_text(pki.issue_token(cluster.data_dir, user))
        (directory / "ca.crt").write_bytes(cluster.ca.read_bytes())
        (directory / "namespace").write_text("default")
        (mount / "..data_tmp").symlink_to(directory.name)
        (mount / "..data_tmp").replace(mount / "..data")

    project("2024_01_01_first", "system:serviceaccount:default:kvtui-launcher")
    for name in ("token", "ca.crt", "namespace"):
        (mount / name).symlink_to(f"..data/{name}")
    url = urlsplit(cluster.url)
    environ = {"KUBERNETES_SERVICE_HOST": url.hostname or "", "KUBERNETES_SERVICE_PORT": str(url.port)}
    api = KubeAPI.from_incluster(mount, environ)
    assert api.namespace == "default"
    assert whoami(api) == "system:serviceaccount:default:kvtui-launcher"
    project("2024_01_01_second", "system:serviceaccount:default:rotated")
    assert whoami(api) == "system:serviceaccount:default:rotated"


def test_outside_a_pod_the_launcher_says_to_pass_a_kubeconfig(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not running in a pod .* pass --kubeconfig"):
        KubeAPI.from_incluster(tmp_path, {})
    env = {k: v for k, v in os.environ.items() if k not in ("KUBERNETES_SERVICE_HOST", "KUBECONFIG")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "launcher",
            "--name",
            "web",
            "--namespace",
            "default",
            "--state-dir",
            str(tmp_path / "state"),
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
    )
    assert run.returncode == 2
    assert "not running in a pod" in run.stderr and "--kubeconfig" in run.stderr
    assert "Traceback" not in run.stderr


def test_a_bad_token_is_a_401_api_error(cluster: Cluster, tmp_path: Path) -> None:
    config = yaml.safe_load(cluster.kubeconfig.read_text())
    config["users"][0]["user"] = {"token": "not-a-token"}
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump(config))
    with pytest.raises(ApiError) as info:
        KubeAPI.from_kubeconfig(kubeconfig).get(f"{CONFIGMAPS}")
    assert (info.value.status, info.value.reason) == (401, "Unauthorized")


def _client_certificate(data_dir: Path, user: str) -> tuple[bytes, bytes]:
    """A client certificate for `user`, signed by the cluster CA (certificate PEM, key PEM)."""
    ca_cert = x509.load_pem_x509_certificate((data_dir / "pki" / "ca.crt").read_bytes())
    ca_key = serialization.load_pem_private_key((data_dir / "pki" / "ca.key").read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, user)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


class _ClientCertReview(BaseHTTPRequestHandler):
    """Answers a SelfSubjectReview with the common name of the client certificate, as
    kube-apiserver's x509 authenticator names the user."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        subject = self.connection.getpeercert()["subject"]  # type: ignore[attr-defined]
        user = next(value for rdn in subject for key, value in rdn if key == "commonName")
        body = json.dumps({"kind": "SelfSubjectReview", "status": {"userInfo": {"username": user}}}).encode()
        self.send_response(201)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def client_cert_server(cluster: Cluster) -> Iterator[str]:
    """The embedded API server authenticates bearer tokens only. This TLS server, with a certificate
    from the cluster CA, demands a client certificate signed by that CA (kube-apiserver's
    --client-ca-file) and stands in for that boundary; the client under test is real."""
    pki.issue_serving_cert(cluster.data_dir, "client-cert-review", ["127.0.0.1"])
    serving = cluster.data_dir / "pki" / "serving"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(serving / "client-cert-review.crt", serving / "client-cert-review.key")
    context.load_verify_locations(cafile=str(cluster.ca))
    context.verify_mode = ssl.CERT_REQUIRED
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ClientCertReview)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_a_client_certificate_from_a_kubeconfig_authenticates(
    cluster: Cluster, client_cert_server: str, tmp_path: Path
) -> None:
    cert, key = _client_certificate(cluster.data_dir, "cert-user")
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "user.crt").write_bytes(cert)
    (tmp_path / "pki" / "user.key").write_bytes(key)
    ca = base64.b64encode(cluster.ca.read_bytes()).decode()
    as_data = {
        "client-certificate-data": base64.b64encode(cert).decode(),
        "client-key-data": base64.b64encode(key).decode(),
    }
    as_files = {"client-certificate": "pki/user.crt", "client-key": "pki/user.key"}
    for name, user in (("data", as_data), ("files", as_files), ("none", {})):
        kubeconfig = tmp_path / f"{name}.kubeconfig"
        kubeconfig.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "c",
                    "clusters": [
                        {
                            "name": "c",
                            "cluster": {"server": client_cert_server, "certificate-authority-data": ca},
                        }
                    ],
                    "users": [{"name": "u", "user": user}],
                    "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
                }
            )
        )
        api = KubeAPI.from_kubeconfig(kubeconfig)
        if user:
            assert whoami(api) == "cert-user"
        else:
            with pytest.raises(ApiUnreachable, match=client_cert_server):
                whoami(api)


# --------------------------------------------------------------------------------------------
# When the connection fails


def test_an_untrusted_server_certificate_is_a_connection_failure_naming_the_server(cluster: Cluster) -> None:
    api = KubeAPI(ClusterAccess(server=cluster.url))  # the system's CAs, which never signed the cluster's
    with pytest.raises(ApiUnreachable, match="not trusted") as info:
        api.get(CONFIGMAPS)
    assert cluster.url in str(info.value)


def test_a_closed_port_is_a_connection_failure_naming_the_server() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = KubeAPI(ClusterAccess(server=f"https://127.0.0.1:{port}"))
    with pytest.raises(ApiUnreachable) as info:
        api.get(CONFIGMAPS)
    assert str(info.value) == f"cannot reach the API server at https://127.0.0.1:{port}: connection refused"


def test_requests_continue_after_the_api_server_restarts(tmp_path: Path) -> None:
    cluster = start_cluster(tmp_path)
    try:
        api = KubeAPI.from_kubeconfig(cluster.kubeconfig)
        create_config_map(api, "survivor", n="1")
        port = urlsplit(cluster.url).port
        cluster.handle.stop()
        cluster.handle.start(port=port or 0, crds=[REPO / "manifests" / "crds"])
        assert api.get(f"{CONFIGMAPS}/survivor")["data"] == {"n": "1"}  # the idle connection died with it
    finally:
        cluster.handle.stop()


class _DropsSecondRequest:
    """A plain-HTTP server that answers the first request on each connection and keeps it open,
    then closes it unanswered when a second request arrives: the race of a server timing out an
    idle keep-alive connection just as a client reuses it. (The embedded API server cannot be
    made to lose that race on purpose, so a socket server stands in.)"""

    def __init__(self, answer_first: bool = True) -> None:
        self.answer_first = answer_first
        self.connections = 0
        self.requests = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn, self.connections), daemon=True).start()

    def _serve(self, conn: socket.socket, number: int) -> None:
        with conn:
            served = 0
            buffer = b""
            while True:
                while b"\r\n\r\n" not in buffer:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                _, buffer = buffer.split(b"\r\n\r\n", 1)
                self.requests += 1
                if served or not self.answer_first:
                    return  # closes it, unanswered
                served += 1
                body = json.dumps({"connection": number}).encode()
                conn.sendall(
                    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                    b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
                )

    def close(self) -> None:
        self._listener.close()


def test_a_request_on_an_idle_connection_the_server_dropped_is_sent_again_once() -> None:
    server = _DropsSecondRequest()
    try:
        api = KubeAPI(ClusterAccess(server=server.url))
        assert api.get("/first") == {"connection": 1}
        assert api.get("/second") == {"connection": 2}  # dropped on connection 1, answered on a new one
        assert (server.connections, server.requests) == (2, 3)
    finally:
        server.close()


def test_a_request_dropped_on_a_new_connection_fails_without_retrying() -> None:
    server = _DropsSecondRequest(answer_first=False)
    try:
        with pytest.raises(ApiUnreachable, match=server.url):
            KubeAPI(ClusterAccess(server=server.url)).get("/only")
        assert (server.connections, server.requests) == (1, 1)
    finally:
        server.close()


# --------------------------------------------------------------------------------------------
# The ClusterReporter on it


def _create_vmi(api: KubeAPI, name: str) -> dict[str, Any]:
    return api.post(
        VMIS,
        {
            "apiVersion": "kubevirt.io/v1",
            "kind": "VirtualMachineInstance",
            "metadata": {"name": name},
            "spec": {"domain": {"memory": {"guest": "128Mi"}, "devices": {}}},
        },
    )


def test_status_writes_patch_on_the_vmi_the_last_write_returned(cluster: Cluster, api: KubeAPI) -> None:
    _create_vmi(api, "steady")
    reporter = ClusterReporter(api, "default", "steady", "node-1")
    reporter.read_vmi()
    before = len(audit_records(cluster))
    reporter.write_status(Observation(node_name="node-1"))
    reporter.write_status(Observation(node_name="node-1", state=RUNNING))
    reporter.write_status(Observation(node_name="node-1", state=RUNNING))  # nothing new: nothing sent
    calls = [(r["verb"], r["resource"]) for r in audit_records(cluster)[before:] if r["name"] == "steady"]
    assert calls == [("patch", "virtualmachineinstances")] * 2
    assert cluster.kubectl_json("get", "vmi", "steady")["status"]["phase"] == "Running"


def test_a_status_write_after_another_writer_keeps_their_change(cluster: Cluster, api: KubeAPI) -> None:
    _create_vmi(api, "shared-status")
    reporter = ClusterReporter(api, "default", "shared-status", "node-1")
    reporter.read_vmi()
    reporter.write_status(Observation(node_name="node-1"))
    theirs = cluster.kubectl_json("get", "vmi", "shared-status")["status"]["conditions"] + [
        {"type": "LiveMigratable", "status": "False", "reason": "DisksNotLiveMigratable"}
    ]
    cluster.kubectl(
        "patch", "vmi", "shared-status", "--type=merge", "-p", json.dumps({"status": {"conditions": theirs}})
    )
    # Its copy of the VMI is stale now: a 409, a fresh read, and the write lands on top of theirs.
    reporter.write_status(Observation(node_name="node-1", state=RUNNING))
    status = cluster.kubectl_json("get", "vmi", "shared-status")["status"]
    assert status["phase"] == "Running"
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "LiveMigratable": "False",
        "Ready": "True",
    }


def test_the_reporter_records_events_and_sees_its_vmi_deleted(cluster: Cluster, api: KubeAPI) -> None:
    _create_vmi(api, "doomed")
    reporter = ClusterReporter(api, "default", "doomed", "node-1")
    reporter.read_vmi()
    reporter.record_event(STARTED)
    events = cluster.kubectl_json("get", "events", "--field-selector", "involvedObject.name=doomed")["items"]
    assert [(e["reason"], e["source"]["component"]) for e in events] == [("Started", "kvtui-launcher")]
    deleted = threading.Event()
    reporter.watch_deletion(deleted.set)
    cluster.kubectl("delete", "vmi", "doomed")
    assert deleted.wait(30), "the reporter did not see its VMI deleted"


def test_the_deletion_watch_starts_where_the_launcher_last_saw_its_vmi(cluster: Cluster, api: KubeAPI,
                                                                      monkeypatch) -> None:
    _create_vmi(api, "replayed")
    reporter = ClusterReporter(api, "default", "replayed", "node-1")
    reporter.read_vmi()
    cluster.kubectl("delete", "vmi", "replayed")  # before the watch: its start replays the deletion
    reads: list[str] = []
    original_get = api.get
    monkeypatch.setattr(api, "get", lambda path, params=None: reads.append(path) or original_get(path, params))
    deleted = threading.Event()
    reporter.watch_deletion(deleted.set)
    assert deleted.wait(30), "the reporter did not see its VMI deleted"
    assert reads == []  # no second read of the VMI: the watch started at the version it had


# --------------------------------------------------------------------------------------------
# Kubeconfig parsing


def _write(path: Path, config: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    return path


def _config(cluster: dict[str, Any], user: dict[str, Any], **top: Any) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "ctx",
        "clusters": [{"name": "c", "cluster": {"server": "https://k8s.example:6443", **cluster}}],
        "users": [{"name": "u", "user": user}],
        "contexts": [{"name": "ctx", "context": {"cluster": "c", "user": "u", "namespace": "vms"}}],
        **top,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def test_kubeconfig_data_fields_are_decoded(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "kubeconfig",
        _config(
            {"certificate-authority-data": _b64(b"CA PEM")},
            {
                "client-certificate-data": _b64(b"CERT PEM"),
                "client-key-data": _b64(b"KEY PEM"),
                "token": "t0k",
            },
        ),
    )
    access = read_kubeconfig(path)
    assert access == ClusterAccess(
        server="https://k8s.example:6443",
        ca_pem=b"CA PEM",
        client_cert_pem=b"CERT PEM",
        client_key_pem=b"KEY PEM",
        token="t0k",
        namespace="vms",
    )


def test_kubeconfig_file_fields_are_read_relative_to_the_kubeconfig(tmp_path: Path) -> None:
    files = tmp_path / "home" / "certs"
    files.mkdir(parents=True)
    (files / "ca.crt").write_bytes(b"CA FROM FILE")
    (files / "me.crt").write_bytes(b"CERT FROM FILE")
    (files / "me.key").write_bytes(b"KEY FROM FILE")
    (files / "token").write_text("file-token\n")
    path = _write(
        tmp_path / "home" / "kubeconfig",
        _config(
            {"certificate-authority": "certs/ca.crt"},
            {
                "client-certificate": "certs/me.crt",
                "client-key": str(files / "me.key"),
                "tokenFile": "certs/token",
            },
        ),
    )
    access = read_kubeconfig(path)
    assert (access.ca_pem, access.client_cert_pem, access.client_key_pem) == (
        b"CA FROM FILE",
        b"CERT FROM FILE",
        b"KEY FROM FILE",
    )
    assert (access.token, access.token_file) == ("", tmp_path / "home" / "certs" / "token")


def test_kubeconfig_data_wins_over_a_file_and_a_token_over_a_token_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "kubeconfig",
        _config(
            {"certificate-authority": "missing.crt", "certificate-authority-data": _b64(b"CA DATA")},
            {"token": "inline", "tokenFile": "missing-token"},
        ),
    )
    access = read_kubeconfig(path)
    assert (access.ca_pem, access.token, access.token_file) == (b"CA DATA", "inline", None)


def test_kubeconfig_files_joined_as_in_KUBECONFIG_are_merged_first_wins(tmp_path: Path) -> None:
    first = _write(
        tmp_path / "a",
        {
            "current-context": "ctx",
            "clusters": [
                {"name": "c", "cluster": {"server": "https://first:6443", "insecure-skip-tls-verify": True}}
            ],
        },
    )
    second = _write(tmp_path / "b", _config({}, {"token": "from-b"}, **{"current-context": "other"}))
    access = read_kubeconfig(f"{first}{os.pathsep}{second}")
    assert (access.server, access.insecure, access.token, access.namespace) == (
        "https://first:6443",
        True,
        "from-b",
        "vms",
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"current-context": ""},
            r"has no current-context: choose one with `kubectl config use-context NAME",
        ),
        ({"current-context": "elsewhere"}, r"current-context 'elsewhere' is not among its contexts \(ctx\)"),
        (
            {"contexts": [{"name": "ctx", "context": {"cluster": "gone", "user": "u"}}]},
            r"the current context's cluster 'gone' is not among its clusters \(c\)",
        ),
        ({"clusters": [{"name": "c", "cluster": {}}]}, r"clusters\['c'\]\.server is not set"),
        (
            {"users": [{"name": "u", "user": {"exec": {"command": "aws"}}}]},
            r"users\['u'\]\.exec is not supported by the launcher: give the user a token, tokenFile or client ",
        ),
        (
            {"users": [{"name": "u", "user": {"client-certificate-data": _b64(b"x")}}]},
            r"users\['u'\] has a client-certificate but no client-key: give both",
        ),
        (
            {"users": [{"name": "u", "user": {"client-key-data": "not base64!"}}]},
            r"users\['u'\]\.client-key-data is not valid base64",
        ),
        (
            {"users": [{"name": "u", "user": {"tokenFile": "nowhere"}}]},
            r"users\['u'\]\.tokenFile .*nowhere does not exist",
        ),
        (
            {
                "clusters": [
                    {
                        "name": "c",
                        "cluster": {
                            "server": "https://x",
                            "insecure-skip-tls-verify": True,
                            "certificate-authority-data": _b64(b"CA"),
                        },
                    }
                ]
            },
            r"sets both insecure-skip-tls-verify and a certificate authority",
        ),
    ],
)
def test_a_kubeconfig_that_cannot_work_is_a_clear_error(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    path = _write(tmp_path / "kubeconfig", {**_config({}, {"token": "t"}), **change})
    with pytest.raises(ConfigError, match=message) as info:
        read_kubeconfig(path)
    assert str(path) in str(info.value)


def test_an_unreadable_kubeconfig_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=f"cannot read kubeconfig {tmp_path / 'absent'}: No such file"):
        read_kubeconfig(tmp_path / "absent")
    (tmp_path / "broken").write_text("clusters: [\n")
    with pytest.raises(ConfigError, match="is not valid YAML"):
        read_kubeconfig(tmp_path / "broken")
