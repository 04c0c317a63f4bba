"""Throw-away TLS material for the bridge's HTTPS tests, made with the ``openssl`` binary.

A test CA and a server certificate it signed for ``127.0.0.1`` and ``localhost`` (Go, and so
the Collector, accepts names from subjectAltName only), P-256 keys, valid for two days.
Imported by the tests (pytest puts ``tests/`` on ``sys.path``).
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class CertFiles:
    ca: Path  # what clients trust
    cert: Path  # the bridge's certificate, signed by ``ca``
    key: Path  # its unencrypted key
    encrypted_key: Path  # the same key under a passphrase (a configuration mistake)
    other_key: Path  # a key that does not belong to ``cert``


def _openssl(*args: str, cwd: Path) -> None:
    openssl = shutil.which("openssl")
    assert openssl, "the openssl binary is needed to make the test certificates"
    result = subprocess.run([openssl, *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)} failed:\n{result.stderr}"


def make_certificates(directory: Path) -> CertFiles:
    directory.mkdir(parents=True, exist_ok=True)
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")
    _openssl(
        "req",
        "-x509",
        *ec,
        "-days",
        "2",
        "-subj",
        "/CN=otel-discord test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        cwd=directory,
    )
    _openssl("req", *ec, "-subj", "/CN=localhost", "-keyout", "bridge.key", "-out", "bridge.csr", cwd=directory)
    (directory / "bridge.ext").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n"
    )
    _openssl(
        "x509",
        "-req",
        "-in",
        "bridge.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "bridge.ext",
        "-out",
        "bridge.pem",
        cwd=directory,
    )
    _openssl(
        "pkey", "-in", "bridge.key", "-aes256", "-passout", "pass:secret", "-out", "bridge-encrypted.key", cwd=directory
    )
    _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", "other.key", cwd=directory
    )
    return CertFiles(
        ca=directory / "ca.pem",
        cert=directory / "bridge.pem",
        key=directory / "bridge.key",
        encrypted_key=directory / "bridge-encrypted.key",
        other_key=directory / "other.key",
    )
