"""Credentials of the embedded cluster: a private CA, the API server's TLS certificate, bearer tokens,
and the kubeconfig that points kubectl and the Python client at the server."""

from __future__ import annotations

import base64
import datetime
import fcntl
import ipaddress
import json
import os
import secrets
import socket
import ssl
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_HOSTS: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
ADMIN_USER = "admin"
ADMIN_GROUPS = ("system:masters", "system:authenticated")

CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_CERT_VALIDITY = datetime.timedelta(days=365)
SERVER_CERT_RENEW_BEFORE = datetime.timedelta(days=30)
# Certificates start an hour in the past so a client whose clock is slightly behind accepts them.
CLOCK_SKEW = datetime.timedelta(hours=1)


class CredentialsError(RuntimeError):
    """The files under DATA_DIR/pki exist but cannot be used; the message says which and how to fix it."""


@dataclass(frozen=True)
class ClusterCredentials:
    ca_cert_pem: bytes
    server_cert_pem: bytes
    server_key_pem: bytes
    admin_token: str


def pki_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "pki"


def ensure_credentials(data_dir: Path, hosts: Sequence[str] = DEFAULT_HOSTS) -> ClusterCredentials:
    """Create the CA, the server certificate and the admin token under DATA_DIR/pki on first use and
    reuse them after. The server certificate is renewed when its names change, when it is no longer
    signed by the CA, or when it expires within 30 days."""
    directory = pki_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory):
        ca_key, ca_cert = _ensure_ca(directory)
        server_cert_pem, server_key_pem = _ensure_server_certificate(directory, ca_key, ca_cert,
                                                                     _subject_alt_names(hosts))
        admin_token = _ensure_admin_token(directory)
    return ClusterCredentials(ca_cert_pem=ca_cert.public_bytes(serialization.Encoding.PEM),
                              server_cert_pem=server_cert_pem, server_key_pem=server_key_pem,
                              admin_token=admin_token)


def issue_token(data_dir: Path, name: str, groups: Sequence[str] | None = None) -> str:
    """A bearer token for user `name` (a service account `system:serviceaccount:NS:SA`, a viewer ...),
    kept in DATA_DIR/pki/tokens.json. Asking again for the same user returns the same token."""
    if not name or name == ADMIN_USER:
        raise ValueError(f"cannot issue a token for user {name!r}: choose a name other than '' and {ADMIN_USER!r}")
    directory = pki_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory):
        tokens = _read_named_tokens(directory)
        for token, identity in tokens.items():
            if identity.get("user") == name:
                return token
        token = secrets.token_urlsafe(32)
        tokens[token] = {"user": name, "groups": list(groups) if groups is not None else _default_groups(name)}
        _write_private(directory / "tokens.json", json.dumps(tokens, indent=2, sort_keys=True).encode())
    return token


def load_tokens(data_dir: Path) -> dict[str, dict]:
    """Every valid bearer token → {"user": ..., "groups": [...]}, the admin token included."""
    directory = pki_dir(data_dir)
    tokens = _read_named_tokens(directory)
    admin_file = directory / "admin.token"
    if admin_file.exists():
        tokens[admin_file.read_text().strip()] = {"user": ADMIN_USER, "groups": list(ADMIN_GROUPS)}
    return tokens


def issue_serving_cert(data_dir: Path, name: str, hosts: Sequence[str]) -> tuple[bytes, bytes]:
    """(certificate PEM, key PEM) for a TLS server called `name` — a node agent's streaming endpoint —
    signed by the cluster CA and valid for `hosts`, so the API server can verify it. Kept in
    DATA_DIR/pki/serving/NAME.{crt,key} and renewed as the API server's own certificate is."""
    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"cannot issue a serving certificate named {name!r}: use a plain name such as the node's")
    directory = pki_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory):
        ca_key, ca_cert = _ensure_ca(directory)
        serving = directory / "serving"
        serving.mkdir(mode=0o700, exist_ok=True)
        return _ensure_server_certificate(serving, ca_key, ca_cert, _subject_alt_names(hosts), file_stem=name,
                                          common_name=f"kvtui-serving:{name}")


def ensure_streaming_token(data_dir: Path) -> str:
    """The bearer token the API server presents to node agents' streaming servers (logs, exec,
    port-forward), kept in DATA_DIR/pki/streaming.token. It grants nothing at the API server itself."""
    directory = pki_dir(data_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    with _locked(directory):
        token_file = directory / "streaming.token"
        if token_file.exists() and token_file.read_text().strip():
            return token_file.read_text().strip()
        token = secrets.token_urlsafe(32)
        _write_private(token_file, (token + "\n").encode())
        return token


def server_ssl_context(creds: ClusterCredentials) -> ssl.SSLContext:
    """TLS for the API server: TLS 1.2+, HTTP/1.1 only over ALPN, since WebSocket and SPDY upgrades
    (exec, attach, port-forward) need HTTP/1.1 and clients would otherwise try h2."""
    return serving_ssl_context(creds.server_cert_pem, creds.server_key_pem)


def serving_ssl_context(cert_pem: bytes, key_pem: bytes) -> ssl.SSLContext:
    """Server-side TLS from a certificate and key in PEM, with the settings of `server_ssl_context`."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["http/1.1"])
    # ssl loads a certificate chain only from files: stage it in a private directory for the call.
    with tempfile.TemporaryDirectory(prefix="kvtui-tls-") as staging:
        cert_file, key_file = Path(staging) / "server.crt", Path(staging) / "server.key"
        _write_private(cert_file, cert_pem)
        _write_private(key_file, key_pem)
        context.load_cert_chain(cert_file, key_file)
    return context


def kubeconfig(server_url: str, creds: ClusterCredentials, *, cluster_name: str = "kvtui", user: str = ADMIN_USER,
               namespace: str = "default", token: str | None = None) -> dict[str, Any]:
    """A kubeconfig with one cluster, user and context, trusting the cluster's CA; the user
    authenticates with `token` (the admin token unless given)."""
    ca_data = base64.b64encode(creds.ca_cert_pem).decode("ascii")
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": cluster_name, "cluster": {"server": server_url, "certificate-authority-data": ca_data}}],
        "users": [{"name": user, "user": {"token": token if token is not None else creds.admin_token}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": user, "namespace": namespace}}],
        "current-context": cluster_name,
    }


def write_kubeconfig(path: Path, config: dict) -> None:
    """Write `config` as YAML, readable by its owner only, replacing any old file in one step."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _write_private(path, yaml.safe_dump(config, sort_keys=False, default_flow_style=False).encode())


# --------------------------------------------------------------------------------------------
# The CA


def _ensure_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_file, key_file = directory / "ca.crt", directory / "ca.key"
    if cert_file.exists() and key_file.exists():
        return _load_ca(cert_file, key_file)
    if cert_file.exists() or key_file.exists():
        present = cert_file if cert_file.exists() else key_file
        raise CredentialsError(f"{present} exists without its pair ({cert_file.name}, {key_file.name}): restore the "
                               f"missing file, or delete {directory} to mint new credentials (existing kubeconfigs "
                               "then stop working)")
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kvtui-ca@{int(now.timestamp())}")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_private(key_file, _private_key_pem(key))
    _write_public(cert_file, cert.public_bytes(serialization.Encoding.PEM))
    return key, cert


def _load_ca(cert_file: Path, key_file: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        cert = x509.load_pem_x509_certificate(cert_file.read_bytes())
        key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    except ValueError as exc:
        raise CredentialsError(f"cannot read the cluster CA in {cert_file.parent}: {exc}; delete that directory "
                               "to mint new credentials (existing kubeconfigs then stop working)") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CredentialsError(f"{key_file} is not the key of {cert_file}; delete {cert_file.parent} to mint new "
                               "credentials (existing kubeconfigs then stop working)")
    return key, cert


# --------------------------------------------------------------------------------------------
# The server certificate


def _subject_alt_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in [*DEFAULT_HOSTS, socket.gethostname(), *hosts]:
        if not host:
            continue
        try:
            name: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            name = x509.DNSName(host.lower())
        if name not in names:
            names.append(name)
    return names


def _ensure_server_certificate(directory: Path, ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                               names: list[x509.GeneralName], file_stem: str = "server",
                               common_name: str = "kvtui-apiserver") -> tuple[bytes, bytes]:
    cert_file, key_file = directory / f"{file_stem}.crt", directory / f"{file_stem}.key"
    if cert_file.exists() and key_file.exists():
        cert_pem, key_pem = cert_file.read_bytes(), key_file.read_bytes()
        if _server_certificate_still_good(cert_pem, key_pem, ca_cert, names):
            return cert_pem, key_pem
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + SERVER_CERT_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_pem, key_pem = cert.public_bytes(serialization.Encoding.PEM), _private_key_pem(key)
    _write_private(key_file, key_pem)
    _write_public(cert_file, cert_pem)
    return cert_pem, key_pem


def _server_certificate_still_good(cert_pem: bytes, key_pem: bytes, ca_cert: x509.Certificate,
                                   names: list[x509.GeneralName]) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(cert_pem)
        key = serialization.load_pem_private_key(key_pem, password=None)
        present = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False  # unreadable, or from another CA: issue a new one
    return (key.public_key() == cert.public_key()
            and set(present) == set(names)
            and cert.not_valid_after_utc - _now() > SERVER_CERT_RENEW_BEFORE)


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                         data_encipherment=False, key_agreement=False, key_cert_sign=cert_sign, crl_sign=cert_sign,
                         encipher_only=False, decipher_only=False)


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


# --------------------------------------------------------------------------------------------
# Tokens


def _ensure_admin_token(directory: Path) -> str:
    token_file = directory / "admin.token"
    if token_file.exists():
        token = token_file.read_text().strip()
        if token:
            return token
    token = secrets.token_urlsafe(32)
    _write_private(token_file, (token + "\n").encode())
    return token


def _default_groups(user: str) -> list[str]:
    parts = user.split(":")
    if len(parts) == 4 and parts[:2] == ["system", "serviceaccount"]:
        return ["system:serviceaccounts", f"system:serviceaccounts:{parts[2]}", "system:authenticated"]
    return ["system:authenticated"]


def _read_named_tokens(directory: Path) -> dict[str, dict]:
    tokens_file = directory / "tokens.json"
    if not tokens_file.exists():
        return {}
    try:
        tokens = json.loads(tokens_file.read_text())
    except ValueError as exc:
        raise CredentialsError(f"{tokens_file} is not valid JSON ({exc}); fix it or delete it (the tokens it "
                               "holds then stop working)") from exc
    if not isinstance(tokens, dict):
        raise CredentialsError(f"{tokens_file} must hold an object of token → identity; fix it or delete it")
    return tokens


# --------------------------------------------------------------------------------------------
# Files


@contextmanager
def _locked(directory: Path) -> Iterator[None]:
    # Two processes starting the cluster at once must not mint two different CAs.
    with open(directory / ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write_private(path: Path, data: bytes) -> None:
    _write_atomically(path, data, 0o600)


def _write_public(path: Path, data: bytes) -> None:
    _write_atomically(path, data, 0o644)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    """Write to a temporary file beside `path` and rename it over `path`, so readers never see half a file."""
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
