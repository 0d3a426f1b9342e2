"""``llmforge tls init``: a local CA and a server certificate it signs, and doctor's expiry check."""

from __future__ import annotations

import ipaddress
import json
import stat
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID

from llmforge.doctor import ERROR, OK, WARN, check_tls, healthy
from llmforge.errors import UsageError
from llmforge.tls import certificate_expiry, init_tls, tls_files, tls_status


def _cert(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def _san(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return san.get_values_for_type(x509.DNSName), [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]


def test_init_creates_a_ca_and_a_server_certificate_it_signs(project) -> None:
    init_tls(project, ["kb.plant.lan"], ["10.0.0.5"], days=90)
    files = tls_files(project)
    ca, server = _cert(files.ca_cert), _cert(files.cert)
    server.verify_directly_issued_by(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert constraints.ca and constraints.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.key_cert_sign and usage.crl_sign
    assert not server.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == \
        [ExtendedKeyUsageOID.SERVER_AUTH]
    names, ips = _san(server)
    assert set(names) == {"localhost", "kb.plant.lan"} and set(ips) == {"127.0.0.1", "::1", "10.0.0.5"}
    lifetime = server.not_valid_after_utc - datetime.now(timezone.utc)
    assert timedelta(days=89) < lifetime <= timedelta(days=90)
    assert certificate_expiry(files.cert) == server.not_valid_after_utc
    key = serialization.load_pem_private_key(files.key.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.public_key() == server.public_key()
    assert stat.S_IMODE(files.folder.stat().st_mode) == 0o700
    assert {path.name: stat.S_IMODE(path.stat().st_mode) for path in files.all()} == \
        {"ca.pem": 0o600, "ca.key": 0o600, "server.pem": 0o600, "server.key": 0o600}


def test_init_again_refuses_and_force_reissues_from_the_same_ca(project) -> None:
    init_tls(project, ["kb.plant.lan"], ["10.0.0.5"])
    files = tls_files(project)
    ca_pem, ca_key, server_pem = files.ca_cert.read_bytes(), files.ca_key.read_bytes(), files.cert.read_bytes()
    with pytest.raises(UsageError, match="already exists.*--force"):
        init_tls(project)
    assert files.cert.read_bytes() == server_pem
    init_tls(project, force=True)
    assert (files.ca_cert.read_bytes(), files.ca_key.read_bytes()) == (ca_pem, ca_key)
    assert files.cert.read_bytes() != server_pem
    renewed = _cert(files.cert)
    renewed.verify_directly_issued_by(_cert(files.ca_cert))
    assert "kb.plant.lan" in _san(renewed)[0] and "10.0.0.5" in _san(renewed)[1]   # a renewal keeps the names
    init_tls(project, ["other.lan"], force=True)
    assert "kb.plant.lan" not in _san(_cert(files.cert))[0]


@pytest.mark.parametrize(("names", "ips", "days", "message"), [
    (["bad name"], [], 30, "not a DNS name"), ([], ["10.0.0.300"], 30, "not an IP address"),
    ([], [], 0, "--days"), ([], [], 4000, "--days")])
def test_bad_input_is_refused_before_anything_is_written(project, names, ips, days, message) -> None:
    with pytest.raises(UsageError, match=message):
        init_tls(project, names, ips, days)
    assert not tls_files(project).folder.exists()


def test_cli_json_shows_fingerprints_and_never_a_key(cli, project) -> None:
    result = cli("tls", "init", "--name", "kb.plant.lan", "--ip", "192.168.1.20", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    files = tls_files(project)
    server = _cert(files.cert)
    expected = ":".join(f"{b:02X}" for b in server.fingerprint(hashes.SHA256()))
    assert data["server"]["sha256"] == expected and data["server"]["expires"] == server.not_valid_after_utc.isoformat()
    assert "kb.plant.lan" in data["server"]["names"] and "192.168.1.20" in data["server"]["names"]
    assert data["files"]["ca.pem"] == {"path": str(files.ca_cert), "present": True}
    for secret in (files.key, files.ca_key):
        body = b"".join(secret.read_bytes().splitlines()[1:-1]).decode()
        assert body[:40] not in result.stdout + result.stderr
    assert "PRIVATE KEY" not in result.stdout + result.stderr
    again = cli("tls", "init")
    assert again.exit_code == 2 and again.stderr.count("\n") == 1 and "--force" in again.stderr
    shown = cli("tls", "show", "--json")
    assert json.loads(shown.stdout)["server"]["sha256"] == expected and "PRIVATE KEY" not in shown.stdout


def _expired_server_certificate(project) -> None:
    """Replace the server certificate by one the project's CA signed, valid until yesterday."""
    files = tls_files(project)
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    ca, old = _cert(files.ca_cert), _cert(files.cert)
    now = datetime.now(timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(old.subject).issuer_name(ca.subject).public_key(old.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=30))
            .not_valid_after(now - timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                        x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def test_doctor_reports_tls_presence_and_expiry(project) -> None:
    absent = check_tls(project.root)
    assert absent.status == OK and "llmforge tls init" in absent.detail
    init_tls(project, days=400)
    fine = check_tls(project.root)
    assert fine.status == OK and "server.pem" in fine.detail and "server.key" in fine.detail
    init_tls(project, days=10, force=True)
    soon = check_tls(project.root)
    assert soon.status == WARN and "in 9 days" in soon.detail and "tls init --force" in soon.fix
    assert healthy([soon])
    _expired_server_certificate(project)
    expired = check_tls(project.root)
    assert expired.status == ERROR and "EXPIRED" in expired.detail and "tls init --force" in expired.fix
    assert not healthy([expired])


def test_doctor_cli_fails_on_an_expired_certificate(cli, project) -> None:
    init_tls(project, days=5)
    data = json.loads(cli("doctor", "--json").stdout)
    assert next(c for c in data["checks"] if c["name"] == "tls")["status"] == WARN
    _expired_server_certificate(project)
    result = cli("doctor", "--json")
    data = json.loads(result.stdout)
    assert next(c for c in data["checks"] if c["name"] == "tls")["status"] == ERROR
    assert data["healthy"] is False and result.exit_code == 1


def test_status_lists_what_is_missing(project) -> None:
    status = tls_status(project)
    assert status["server"] is None and not any(f["present"] for f in status["files"].values())
