"""Cluster credentials: files and permissions, reuse, TLS that real clients verify, and kubeconfigs
the kubernetes client loads."""

import datetime
import http.server
import json
import socket
import ssl
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import kubernetes
import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from cluster.apiserver import pki


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def certificate(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem)


def alt_names(pem: bytes) -> set[str]:
    names = certificate(pem).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


def test_first_call_creates_the_files_private_where_secret(tmp_path):
    pki.ensure_credentials(tmp_path)
    files = {path.name: mode(path) for path in (tmp_path / "pki").iterdir() if not path.name.startswith(".")}
    assert files == {"ca.crt": 0o644, "ca.key": 0o600, "server.crt": 0o644, "server.key": 0o600,
                     "admin.token": 0o600}
    assert mode(tmp_path / "pki") == 0o700


def test_second_call_reuses_everything(tmp_path):
    first = pki.ensure_credentials(tmp_path)
    second = pki.ensure_credentials(tmp_path)
    assert second == first
    assert (tmp_path / "pki" / "admin.token").read_text().strip() == first.admin_token
    assert len(first.admin_token) >= 43  # 32 random bytes, URL-safe base64


def test_ca_and_server_certificate_have_the_required_extensions(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    ca, server = certificate(creds.ca_cert_pem), certificate(creds.server_cert_pem)
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey)
    assert ca.public_key().curve.name == "secp256r1"
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign) == (True, True)
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= datetime.timedelta(days=3650)
    assert server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value == x509.ExtendedKeyUsage(
        [ExtendedKeyUsageOID.SERVER_AUTH])
    assert server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    server.verify_directly_issued_by(ca)
    assert alt_names(creds.server_cert_pem) >= {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()}


def test_changed_hosts_renew_the_server_certificate_but_keep_the_ca(tmp_path):
    first = pki.ensure_credentials(tmp_path)
    second = pki.ensure_credentials(tmp_path, ["localhost", "127.0.0.1", "::1", "vm-host.example", "10.9.8.7"])
    assert second.ca_cert_pem == first.ca_cert_pem
    assert second.admin_token == first.admin_token
    assert second.server_cert_pem != first.server_cert_pem
    assert {"vm-host.example", "10.9.8.7"} <= alt_names(second.server_cert_pem)


def test_a_server_certificate_about_to_expire_is_renewed(tmp_path):
    first = pki.ensure_credentials(tmp_path)
    ca_key = serialization.load_pem_private_key((tmp_path / "pki" / "ca.key").read_bytes(), password=None)
    old = certificate(first.server_cert_pem)
    now = datetime.datetime.now(datetime.UTC)
    expiring = (x509.CertificateBuilder()
                .subject_name(old.subject).issuer_name(old.issuer)
                .public_key(serialization.load_pem_private_key(first.server_key_pem, password=None).public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=300)).not_valid_after(now + datetime.timedelta(days=10))
                .add_extension(old.extensions.get_extension_for_class(x509.SubjectAlternativeName).value, critical=False)
                .sign(ca_key, hashes.SHA256()))
    (tmp_path / "pki" / "server.crt").write_bytes(expiring.public_bytes(serialization.Encoding.PEM))
    renewed = pki.ensure_credentials(tmp_path)
    assert certificate(renewed.server_cert_pem).not_valid_after_utc - now > datetime.timedelta(days=300)
    assert renewed.ca_cert_pem == first.ca_cert_pem


def test_a_ca_without_its_key_is_reported_with_the_fix(tmp_path):
    pki.ensure_credentials(tmp_path)
    (tmp_path / "pki" / "ca.key").unlink()
    with pytest.raises(pki.CredentialsError) as error:
        pki.ensure_credentials(tmp_path)
    directory = tmp_path / "pki"
    assert str(error.value) == (f"{directory / 'ca.crt'} exists without its pair (ca.crt, ca.key): restore the "
                                f"missing file, or delete {directory} to mint new credentials (existing kubeconfigs "
                                "then stop working)")


# --------------------------------------------------------------------------------------------
# Tokens


def test_named_tokens_are_stored_privately_and_listed_with_the_admin_token(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    viewer = pki.issue_token(tmp_path, "viewer", groups=["kvtui:viewers"])
    launcher = pki.issue_token(tmp_path, "system:serviceaccount:default:kvtui-launcher")
    assert mode(tmp_path / "pki" / "tokens.json") == 0o600
    assert pki.load_tokens(tmp_path) == {
        creds.admin_token: {"user": "admin", "groups": ["system:masters", "system:authenticated"]},
        viewer: {"user": "viewer", "groups": ["kvtui:viewers"]},
        launcher: {"user": "system:serviceaccount:default:kvtui-launcher",
                   "groups": ["system:serviceaccounts", "system:serviceaccounts:default", "system:authenticated"]},
    }


def test_issuing_a_token_twice_for_one_user_returns_the_same_token(tmp_path):
    assert pki.issue_token(tmp_path, "viewer") == pki.issue_token(tmp_path, "viewer")
    assert len(pki.load_tokens(tmp_path)) == 1


def test_the_admin_name_is_reserved(tmp_path):
    with pytest.raises(ValueError) as error:
        pki.issue_token(tmp_path, "admin")
    assert str(error.value) == "cannot issue a token for user 'admin': choose a name other than '' and 'admin'"


# --------------------------------------------------------------------------------------------
# TLS and kubeconfig through real clients


class _VersionHandler(http.server.BaseHTTPRequestHandler):
    expected_token = ""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        if self.headers.get("Authorization") != f"Bearer {self.expected_token}":
            self.send_response(401)
            self.end_headers()
            return
        payload = json.dumps({"major": "1", "minor": "37", "gitVersion": "v1.37.0-kvtui", "gitCommit": "0",
                              "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z", "goVersion": "none",
                              "compiler": "cpython", "platform": "linux/amd64"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args) -> None:
        pass


@contextmanager
def tls_server(creds: pki.ClusterCredentials) -> Iterator[int]:
    handler = type("Handler", (_VersionHandler,), {"expected_token": creds.admin_token})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.socket = pki.server_ssl_context(creds).wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def handshake(port: int, ca_pem: bytes, server_hostname: str) -> str | None:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    context.set_alpn_protocols(["h2", "http/1.1"])
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            return tls.selected_alpn_protocol()


@pytest.mark.parametrize("name", ["localhost", "127.0.0.1"])
def test_server_certificate_verifies_against_the_ca(tmp_path, name):
    creds = pki.ensure_credentials(tmp_path)
    with tls_server(creds) as port:
        assert handshake(port, creds.ca_cert_pem, name) == "http/1.1"


def test_a_name_not_in_the_certificate_is_refused(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    with tls_server(creds) as port, pytest.raises(ssl.SSLCertVerificationError) as error:
        handshake(port, creds.ca_cert_pem, "elsewhere.example")
    assert "Hostname mismatch" in str(error.value)


def test_kubeconfig_shape(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    config = pki.kubeconfig("https://127.0.0.1:6443", creds, namespace="vms")
    assert config["current-context"] == "kvtui"
    assert config["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:6443"
    assert config["users"] == [{"name": "admin", "user": {"token": creds.admin_token}}]
    assert config["contexts"] == [{"name": "kvtui", "context": {"cluster": "kvtui", "user": "admin", "namespace": "vms"}}]


def test_written_kubeconfig_is_private_yaml_and_replaced_whole(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    path = tmp_path / "home" / ".kube" / "kvtui.yaml"
    pki.write_kubeconfig(path, pki.kubeconfig("https://127.0.0.1:1", creds))
    pki.write_kubeconfig(path, pki.kubeconfig("https://127.0.0.1:2", creds))
    assert mode(path) == 0o600
    assert yaml.safe_load(path.read_text())["clusters"][0]["cluster"]["server"] == "https://127.0.0.1:2"
    assert [p.name for p in path.parent.iterdir()] == ["kvtui.yaml"]


def test_the_kubernetes_client_loads_the_kubeconfig_and_talks_tls_with_the_token(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    with tls_server(creds) as port:
        path = tmp_path / "kubeconfig"
        pki.write_kubeconfig(path, pki.kubeconfig(f"https://127.0.0.1:{port}", creds))
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(config_file=str(path), client_configuration=configuration)
        assert configuration.host == f"https://127.0.0.1:{port}"
        with kubernetes.client.ApiClient(configuration) as client:
            version = kubernetes.client.VersionApi(client).get_code()
    assert version.git_version == "v1.37.0-kvtui"


def test_a_viewer_kubeconfig_carries_the_viewer_token(tmp_path):
    creds = pki.ensure_credentials(tmp_path)
    token = pki.issue_token(tmp_path, "viewer")
    config = pki.kubeconfig("https://127.0.0.1:6443", creds, user="viewer", token=token)
    assert config["users"] == [{"name": "viewer", "user": {"token": token}}]
    assert x509.load_pem_x509_certificate(creds.ca_cert_pem).subject.get_attributes_for_oid(
        NameOID.COMMON_NAME)[0].value.startswith("kvtui-ca@")
