"""A local certificate authority for one machine's system (``anneal serve``), made with the
``cryptography`` package: a CA and one certificate per service, each naming the service by a
SPIFFE URI (its identity on mutual TLS) and valid for the host names it is reached by."""

from __future__ import annotations

import datetime
import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_DAYS = 3650
LEAF_DAYS = 825


def _write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to a new file readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _san_entries(hosts: Sequence[str], uri: str) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(uri)]
    for host in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


@dataclass(frozen=True)
class IssuedCertificate:
    """Where one issued certificate and its key were written."""

    certificate: Path
    key: Path


class LocalCA:
    """The CA certificate and key under ``folder`` (``ca.pem``, ``ca-key.pem``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.certificate_path = self.folder / "ca.pem"
        self.key_path = self.folder / "ca-key.pem"

    def exists(self) -> bool:
        return self.certificate_path.is_file() and self.key_path.is_file()

    def create(self, name: str = "ANNEAL local CA") -> None:
        """Make a new CA (overwriting none: call only when :meth:`exists` is False)."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        _write_private(self.key_path, _pem_key(key))
        _write_private(self.certificate_path, certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, uri: str, hosts: Sequence[str], folder: Path) -> IssuedCertificate:
        """A certificate for ``name`` (server and client auth) under ``folder``.

        ``uri`` is the identity (a SPIFFE URI SAN); ``hosts`` the DNS names and IP addresses
        it is reached by.
        """
        ca_key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        ca_certificate = x509.load_pem_x509_certificate(self.certificate_path.read_bytes())
        assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
            .issuer_name(ca_certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=LEAF_DAYS))
            .add_extension(x509.SubjectAlternativeName(_san_entries(hosts, uri)), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        issued = IssuedCertificate(folder / f"{name}.pem", folder / f"{name}-key.pem")
        _write_private(issued.key, _pem_key(key))
        _write_private(issued.certificate, certificate.public_bytes(serialization.Encoding.PEM))
        return issued
