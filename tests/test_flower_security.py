"""Certificates and node keys for `borderless deploy`, and the insecure switch."""

from __future__ import annotations

import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_ssh_private_key, load_ssh_public_key

from borderless.cli import main
from borderless.flower.security import TlsFiles, make_certificates, make_node_key


def test_server_certificate_is_signed_by_the_ca_for_the_given_hosts(tmp_path):
    files = make_certificates(tmp_path / "certs", ["127.0.0.1", "fl.example.org"])
    ca = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    cert = x509.load_pem_x509_certificate(files.server_cert.read_bytes())
    cert.verify_directly_issued_by(ca)  # raises if not signed by this CA
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    assert san.get_values_for_type(x509.DNSName) == ["fl.example.org"]
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert oct(files.server_key.stat().st_mode)[-3:] == "600"
    with pytest.raises(FileExistsError, match="nothing was written"):
        make_certificates(tmp_path / "certs", ["127.0.0.1"])
    assert x509.load_pem_x509_certificate(files.ca_cert.read_bytes()) == ca  # untouched


def test_node_keys_are_what_flower_loads(tmp_path):
    private, public = make_node_key(tmp_path, "hau-node")
    key = load_ssh_private_key(private.read_bytes(), None)  # as flower-supernode loads it
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp384r1"
    assert load_ssh_public_key(public.read_bytes()).public_numbers() == key.public_key().public_numbers()
    with pytest.raises(FileExistsError):
        make_node_key(tmp_path, "hau-node")


def test_missing_tls_files_are_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="ca.crt.*borderless deploy certs"):
        TlsFiles.in_folder(tmp_path).check()


def test_secure_by_default_insecure_only_with_flag_and_warning(tmp_path, sib200_dir, capsys):
    cfg = tmp_path / "c.toml"
    cfg.write_text(f'[data]\npath = "{sib200_dir}"\nlanguages = ["eng_Latn", "hau_Latn"]\n[backbone]\nname = "tiny-random"\n')
    assert main(["deploy", "server", str(cfg), "--print-command"]) == 2  # no certificates: refused
    assert "--insecure" in capsys.readouterr().err
    make_certificates(tmp_path / "certs", ["127.0.0.1"])
    assert main(["deploy", "server", str(cfg), "--certs", str(tmp_path / "certs"), "--print-command"]) == 0
    out = capsys.readouterr()
    assert "--enable-supernode-auth" in out.out and "--ssl-certfile" in out.out
    assert "--disable-runtime-dependency-installation" in out.out and "--insecure" not in out.out
    assert "WARNING" not in out.err
    assert main(["deploy", "server", str(cfg), "--insecure", "--print-command"]) == 0
    out = capsys.readouterr()
    assert "--insecure" in out.out and "WARNING" in out.err and "WITHOUT TLS" in out.err
    # a node: needs the CA and its key unless --insecure; the language must be in the config and on disk
    base = ["deploy", "node", str(cfg), "--data", str(sib200_dir), "--print-command"]
    assert main(base + ["--language", "hau_Latn"]) == 2
    assert "--ca" in capsys.readouterr().err
    private, _ = make_node_key(tmp_path, "n1")
    assert main(base + ["--language", "hau_Latn", "--key", str(private), "--ca", str(tmp_path / "certs" / "ca.crt")]) == 0
    out = capsys.readouterr().out
    assert "--root-certificates" in out and "--auth-supernode-private-key" in out and 'language="hau_Latn"' in out
    assert main(base + ["--language", "yor_Latn", "--insecure"]) == 2
    assert "yor_Latn" in capsys.readouterr().err


def test_flower_processes_stay_offline(monkeypatch):
    from borderless.flower.processes import flower_env

    monkeypatch.delenv("FLWR_TELEMETRY_ENABLED", raising=False)
    env = flower_env({"FLWR_HOME": "/x"})
    assert env["FLWR_TELEMETRY_ENABLED"] == "0" and env["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert env["FLWR_HOME"] == "/x"
    assert env["PATH"].split(":")[0].endswith("bin")  # the project's Flower helpers come first
    monkeypatch.setenv("FLWR_TELEMETRY_ENABLED", "1")  # a user's explicit choice is kept
    assert flower_env()["FLWR_TELEMETRY_ENABLED"] == "1"
