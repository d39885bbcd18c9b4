"""A self-signed certificate for the demo and for tests, made once and reused.

Production uses a real certificate (FEEDSVC_TLS_CERT/KEY) or TLS at a reverse
proxy; this exists so `make run` serves HTTPS on a fresh machine.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

RENEW_BEFORE = datetime.timedelta(days=30)


def _still_good(cert_path: Path, key_path: Path) -> bool:
    if not (cert_path.is_file() and key_path.is_file()):
        return False
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    except ValueError:
        return False
    return cert.not_valid_after_utc - RENEW_BEFORE > datetime.datetime.now(datetime.UTC)


def ensure_self_signed(data_dir: Path, hostnames=("localhost", "127.0.0.1")) -> tuple[Path, Path]:
    """(cert, key) under data_dir/tls/, created when missing or about to expire."""
    folder = Path(data_dir) / "tls"
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    if _still_good(cert_path, key_path):
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0]),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, "feedsvc demo")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=365))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return cert_path, key_path
