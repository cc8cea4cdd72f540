"""Credentials for a secured deployment, made with ``cryptography`` (no openssl needed).

- TLS: a private certificate authority and a SuperLink certificate signed by it, valid for the
  host names and addresses the nodes will dial. Nodes verify the SuperLink with ``ca.crt``.
  For production, use certificates from your organisation's CA instead: the file names are the same.
- SuperNode authentication: one EC P-384 key pair per node in OpenSSH format. The SuperLink only
  accepts nodes whose public key was registered with it (``borderless deploy register``).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_folder(cls, folder: Path) -> "TlsFiles":
        folder = Path(folder)
        return cls(folder / "ca.crt", folder / "server.pem", folder / "server.key")

    def check(self) -> None:
        missing = [str(p) for p in (self.ca_cert, self.server_cert, self.server_key) if not p.is_file()]
        if missing:
            raise FileNotFoundError(
                f"TLS files missing: {', '.join(missing)}. Make them with `borderless deploy certs "
                f"{self.ca_cert.parent}` (or copy your organisation's ca.crt, server.pem and server.key there), "
                "or pass --insecure to run without TLS (not for real data)."
            )


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "borderless"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def make_certificates(folder: Path, hosts: list[str], days: int = 365, overwrite: bool = False) -> TlsFiles:
    """A CA and a server certificate for ``hosts`` (names or IP addresses). Refuses to overwrite."""
    files = TlsFiles.in_folder(folder)
    existing = [str(p) for p in (files.ca_cert, files.server_cert, files.server_key) if p.exists()]
    if existing and not overwrite:
        raise FileExistsError(f"{', '.join(existing)} exist; nothing was written. Use another folder or --overwrite.")
    if not hosts:
        raise ValueError("give at least one host name or address the SuperLink is reached at")
    now = dt.datetime.now(dt.timezone.utc)
    ca_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    ca_cert = (x509.CertificateBuilder().subject_name(_name("borderless local CA")).issuer_name(_name("borderless local CA"))
               .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
               .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
               .sign(ca_key, hashes.SHA256()))
    sans: list[x509.GeneralName] = []
    for h in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            sans.append(x509.DNSName(h))
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    cert = (x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    pem = serialization.Encoding.PEM
    _write(files.ca_cert, ca_cert.public_bytes(pem))
    _write(files.server_cert, cert.public_bytes(pem))
    _write(files.server_key, key.private_bytes(pem, serialization.PrivateFormat.TraditionalOpenSSL,
                                               serialization.NoEncryption()), private=True)
    return files


def make_node_key(folder: Path, name: str, overwrite: bool = False) -> tuple[Path, Path]:
    """``<name>`` (private, OpenSSH) and ``<name>.pub`` for one SuperNode. Refuses to overwrite."""
    private, public = Path(folder) / name, Path(folder) / f"{name}.pub"
    if (private.exists() or public.exists()) and not overwrite:
        raise FileExistsError(f"{private} exists; nothing was written. Use another name or --overwrite.")
    key = ec.generate_private_key(ec.SECP384R1())
    _write(private, key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                      serialization.NoEncryption()), private=True)
    _write(public, key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
           + f" {name}\n".encode())
    return private, public
