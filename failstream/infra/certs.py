"""A throw-away CA, broker certificate and client certificate for local TLS.

The client files use the names Aiven issues (``ca.pem``, ``service.cert``,
``service.key``), so the SSL code path users run against Aiven is the one the
local SSL listener exercises. Files are made with the openssl command line,
kept under ``.infra/kafka/tls`` and copied into ``certificates/`` only when
that folder holds no certificates of its own (a user's Aiven files win).
Private keys are 0600 in 0700 directories, from the moment openssl writes
them (the directory is private first) and again on every run (a checkout
made before this rule is narrowed).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from failstream.infra.process import INFRA_DIR, InfraError, say
from failstream.private_files import make_private, private_dir, write_private
from failstream.settings import ROOT

TLS_DIR = INFRA_DIR / "kafka" / "tls"
DAYS = "825"


@dataclass(frozen=True)
class LocalTls:
    ca: Path
    broker_keystore: Path  # PEM: private key followed by the certificate
    client_cert: Path
    client_key: Path


def _openssl(*args: str) -> None:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise InfraError(f"openssl {' '.join(args[:2])} failed: {result.stderr.strip()}")


def _issue(tls: Path, name: str, subject: str, extensions: str) -> None:
    key, csr, cert = tls / f"{name}.key", tls / f"{name}.csr", tls / f"{name}.cert"
    _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", subject)
    with tempfile.NamedTemporaryFile("w", suffix=".ext", delete=False) as ext:
        ext.write(extensions)
    _openssl(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(tls / "ca.pem"),
        "-CAkey",
        str(tls / "ca.key"),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        DAYS,
        "-sha256",
        "-extfile",
        ext.name,
    )
    Path(ext.name).unlink()
    csr.unlink()
    make_private(key)


def ensure_local_tls() -> LocalTls:
    tls = TLS_DIR
    files = LocalTls(tls / "ca.pem", tls / "broker-keystore.pem", tls / "service.cert", tls / "service.key")
    if not all(p.is_file() for p in (files.ca, files.broker_keystore, files.client_cert, files.client_key)):
        say("generating a local CA, broker and client certificate (openssl)")
        private_dir(tls)
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(tls / "ca.key"),
            "-out",
            str(files.ca),
            "-days",
            DAYS,
            "-subj",
            "/CN=Failstream local CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        _issue(
            tls,
            "broker",
            "/CN=localhost",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        )
        _issue(tls, "service", "/CN=failstream-client", "extendedKeyUsage=clientAuth\n")
        keystore = (tls / "broker.key").read_bytes() + (tls / "broker.cert").read_bytes()
        write_private(files.broker_keystore, keystore)
    private_dir(tls)
    for key in (tls / "ca.key", tls / "broker.key", files.broker_keystore, files.client_key):
        if key.exists():
            make_private(key)
    certificates = ROOT / "certificates"
    names = ("ca.pem", "service.cert", "service.key")
    if not any((certificates / n).exists() for n in names):
        for name in names:
            shutil.copy2(tls / name, certificates / name)
        say("copied local ca.pem, service.cert and service.key into certificates/")
    try:
        make_private(certificates / "service.key")  # ours, or the user's Aiven key
    except OSError:  # not there, or not ours to change (a read-only mount)
        pass
    return files
