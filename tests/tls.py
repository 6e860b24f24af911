"""Self-signed TLS certificates for tests, made with the `openssl` command line."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SelfSigned", "self_signed", "signed_by"]


@dataclass(frozen=True)
class SelfSigned:
    """A certificate for 127.0.0.1 and localhost, its key, and a client context trusting it."""

    cert: Path
    key: Path

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts this certificate only."""
        return ssl.create_default_context(cafile=str(self.cert))


def self_signed(directory: Path, name: str = "gateway", subject: str = "127.0.0.1") -> SelfSigned:
    """Write `<name>.crt` and `<name>.key` (P-256, valid for two days, for 127.0.0.1 and
    localhost, common name `subject`) into `directory`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    directory.mkdir(parents=True, exist_ok=True)
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={subject}",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return SelfSigned(cert, key)


def signed_by(issuer: SelfSigned, directory: Path, name: str, subject: str) -> SelfSigned:
    """Write `<name>.crt` and `<name>.key`, a P-256 client certificate with common name `subject`
    issued by `issuer` (valid for two days), into `directory`."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("the openssl command is needed to make test certificates")
    cert, key, request = (directory / f"{name}.{ext}" for ext in ("crt", "key", "csr"))
    subprocess.run(
        [
            *(openssl, "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"),
            *("-nodes", "-subj", f"/CN={subject}", "-keyout", str(key), "-out", str(request)),
        ],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *(openssl, "x509", "-req", "-in", str(request), "-CA", str(issuer.cert)),
            *("-CAkey", str(issuer.key), "-CAcreateserial", "-days", "2", "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
    )
    key.chmod(0o600)
    return SelfSigned(cert, key)
