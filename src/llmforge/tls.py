"""TLS material for ``llmforge serve --tls``: a local certificate authority and a server
certificate it signs, kept in ``secrets/tls/`` (folder 0700, keys 0600).

Clients trust ``ca.pem`` once; re-issuing the server certificate (``force``) signs it with the same
CA, so they keep trusting the server. Keys are ECDSA P-256; the CA may only sign server
certificates (``CA:TRUE, pathlen:0``, key usage certSign and cRLSign), the server certificate is
for TLS servers only (``serverAuth``) and always names ``localhost``, ``127.0.0.1`` and ``::1``.
No function here returns or prints key material.
"""

from __future__ import annotations

import ipaddress
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from llmforge.errors import ConfigError, UsageError
from llmforge.fileio import atomic_write_bytes, private_dir
from llmforge.project import Project

DEFAULT_DAYS = 397          # the longest validity browsers accept for a server certificate
CA_DAYS = 3650
EXPIRY_WARNING_DAYS = 30
DEFAULT_NAMES = ("localhost",)
DEFAULT_IPS = ("127.0.0.1", "::1")
CA_CERT, CA_KEY, SERVER_CERT, SERVER_KEY = "ca.pem", "ca.key", "server.pem", "server.key"
_CLOCK_SKEW = timedelta(minutes=5)
_DNS_NAME = re.compile(r"^(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")


@dataclass(frozen=True)
class TlsFiles:
    """Where a project keeps its TLS material."""

    folder: Path

    @property
    def ca_cert(self) -> Path:
        return self.folder / CA_CERT

    @property
    def ca_key(self) -> Path:
        return self.folder / CA_KEY

    @property
    def cert(self) -> Path:
        return self.folder / SERVER_CERT

    @property
    def key(self) -> Path:
        return self.folder / SERVER_KEY

    def all(self) -> tuple[Path, ...]:
        return (self.ca_cert, self.ca_key, self.cert, self.key)


def tls_files(project: Project) -> TlsFiles:
    return TlsFiles(project.path("secrets") / "tls")


def init_tls(project: Project, names: Sequence[str] = (), ips: Sequence[str] = (),
             days: int = DEFAULT_DAYS, force: bool = False) -> dict[str, Any]:
    """Create the project's CA (unless ``force`` finds one) and a server certificate it signs.

    Args:
        names: DNS names the server answers to, besides ``localhost``.
        ips: IP addresses the server answers on, besides ``127.0.0.1`` and ``::1``.
        days: validity of the server certificate (1 to 3650).
        force: replace existing material: a new server certificate and key, signed by the existing
            CA when there is one, so clients that trust ``ca.pem`` keep trusting the server; without
            ``names`` and ``ips`` the new certificate keeps the names of the one it replaces.

    Returns:
        What :func:`tls_status` returns for the new material.

    Raises:
        UsageError: material exists and ``force`` is not set; a bad name, address or ``days``.
    """
    if not 1 <= days <= CA_DAYS:
        raise UsageError(f"--days must be between 1 and {CA_DAYS}, got {days}")
    files = tls_files(project)
    existing = [path.name for path in files.all() if path.exists()]
    if existing and not force:
        raise UsageError(f"TLS material already exists in {files.folder} ({', '.join(existing)}); pass --force "
                         "to issue a new server certificate from the same CA")
    if not names and not ips and files.cert.is_file():   # a renewal keeps the names clients use
        names, ips = _previous_names(files.cert)
    dns_names, addresses = _subject_names(names, ips)
    private_dir(files.folder)
    if files.ca_cert.exists() and files.ca_key.exists():
        ca_key, ca_cert = _load_ca(files)
    else:
        ca_key, ca_cert = _new_ca(project)
        _write(files.ca_key, _key_pem(ca_key))
        _write(files.ca_cert, ca_cert.public_bytes(serialization.Encoding.PEM))
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _server_certificate(ca_key, ca_cert, server_key, dns_names, addresses, days)
    _write(files.key, _key_pem(server_key))
    _write(files.cert, server_cert.public_bytes(serialization.Encoding.PEM))
    return tls_status(project)


def _subject_names(names: Sequence[str], ips: Sequence[str]) -> tuple[list[str], list[Any]]:
    dns_names = list(dict.fromkeys([*DEFAULT_NAMES, *(name.strip().lower().rstrip(".") for name in names)]))
    for name in dns_names:
        if not _DNS_NAME.match(name) or len(name) > 253:
            raise UsageError(f"--name {name!r} is not a DNS name (give addresses with --ip)")
    addresses = []
    for value in dict.fromkeys([*DEFAULT_IPS, *(ip.strip() for ip in ips)]):
        try:
            addresses.append(ipaddress.ip_address(value))
        except ValueError:
            raise UsageError(f"--ip {value!r} is not an IP address") from None
    return dns_names, addresses


def _previous_names(path: Path) -> tuple[list[str], list[str]]:
    try:
        san = load_certificate(path).extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ConfigError, x509.ExtensionNotFound):
        return [], []
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def _new_ca(project: Project) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "llmforge"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"llmforge local CA {uuid.uuid4().hex[:8]}")])
    now = datetime.now(timezone.utc)
    public = key.public_key()
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW).not_valid_after(now + timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(key, hashes.SHA256()))
    return key, cert


def _server_certificate(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate,
                        key: ec.EllipticCurvePrivateKey, dns_names: list[str], addresses: list[Any],
                        days: int) -> x509.Certificate:
    now = datetime.now(timezone.utc)
    names = [x509.DNSName(name) for name in dns_names] + [x509.IPAddress(address) for address in addresses]
    ca_ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "llmforge"),
                                     x509.NameAttribute(NameOID.COMMON_NAME, dns_names[-1])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _CLOCK_SKEW).not_valid_after(now + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=True, key_cert_sign=False,
                                         crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _load_ca(files: TlsFiles) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    try:
        key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
        cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the CA in {files.folder}: {exc}; move it away and run "
                          "`llmforge tls init` again (clients must then trust the new ca.pem)") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise ConfigError(f"{files.ca_key} does not belong to {files.ca_cert}")
    return key, cert


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes) -> None:
    """Certificates are public, but every file in secrets/ is 0600 so one rule covers the folder."""
    atomic_write_bytes(path, data, mode=0o600)


def load_certificate(path: Path) -> x509.Certificate:
    """A PEM certificate (the first one in the file).

    Raises:
        ConfigError: the file is missing or holds no PEM certificate.
    """
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"no certificate at {path}; create one with `llmforge tls init`") from None
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path} is not a PEM certificate: {exc}") from None


def certificate_expiry(path: Path) -> datetime:
    """When the certificate in ``path`` stops being valid (UTC)."""
    return load_certificate(path).not_valid_after_utc


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 fingerprint as colon-separated hex, as browsers and ``openssl x509 -fingerprint`` show it."""
    return ":".join(f"{byte:02X}" for byte in cert.fingerprint(hashes.SHA256()))


def tls_status(project: Project) -> dict[str, Any]:
    """The project's TLS material: which files exist, and for each certificate its SHA-256
    fingerprint, names and expiry (with ``days_left``). Never key material."""
    files = tls_files(project)
    status: dict[str, Any] = {"folder": str(files.folder),
                              "files": {path.name: {"path": str(path), "present": path.is_file()}
                                        for path in files.all()}}
    for label, path in (("ca", files.ca_cert), ("server", files.cert)):
        status[label] = _describe(load_certificate(path)) if path.is_file() else None
    return status


def _describe(cert: x509.Certificate) -> dict[str, Any]:
    expires = cert.not_valid_after_utc
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = san.get_values_for_type(x509.DNSName) + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        names = []
    return {"subject": cert.subject.rfc4514_string(), "sha256": fingerprint(cert), "names": names,
            "not_before": cert.not_valid_before_utc.isoformat(), "expires": expires.isoformat(),
            "days_left": (expires - datetime.now(timezone.utc)).days}


def server_files(project: Project) -> tuple[Path, Path]:
    """The project's server certificate and key, for ``serve --tls``.

    Raises:
        ConfigError: either is missing.
    """
    files = tls_files(project)
    missing = [path.name for path in (files.cert, files.key) if not path.is_file()]
    if missing:
        raise ConfigError(f"no TLS certificate in {files.folder} (missing {', '.join(missing)}); "
                          "create one with `llmforge tls init`, or pass --tls-cert and --tls-key")
    return files.cert, files.key
