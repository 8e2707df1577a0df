"""TLS for the gRPC port, with the Proxy's keys (``ProxyConfig`` ``tlsTestModeEnable``,
``tlsKeyPath``, ``tlsCertPath``; ``ProxyAndTlsProtocolNegotiator``).

* ``tlsCertPath`` and ``tlsKeyPath`` set: TLS with that PEM certificate (chain) and key.
* ``tlsTestModeEnable=true``: TLS with a self-signed certificate made at start (Netty's
  ``SelfSignedCertificate`` in the Proxy; here the ``openssl`` command, so that no
  cryptography package is needed), for ``brokerIP1``, ``localhost`` and ``127.0.0.1``.
  Clients must trust it explicitly (:attr:`TlsMaterial.certificate` gives it).
* Neither: plaintext, the 5.x SDKs' default.

The Proxy also detects per connection whether a client starts TLS (``tls.server.mode``
permissive); grpcio binds a port one way only, so rocketq serves one or the other.
"""

from __future__ import annotations

import asyncio
import ipaddress
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from rocketq.broker.config import BrokerConfig
from rocketq.common.errors import ConfigError

__all__ = ["TlsMaterial", "load_tls_material"]

# The self-signed certificate of test mode: an RSA key (what Netty's SelfSignedCertificate
# makes) valid for a year (a broker is restarted far more often; each start makes a new one).
TEST_KEY_BITS = 2048
TEST_CERT_DAYS = 365
# How long openssl may take to make the key (seconds; usually well under one).
OPENSSL_TIMEOUT_S = 60.0


@dataclass(frozen=True, slots=True)
class TlsMaterial:
    """PEM bytes the server presents: its certificate (chain) and private key."""

    certificate: bytes
    private_key: bytes


async def load_tls_material(config: BrokerConfig) -> TlsMaterial | None:
    """The TLS material the config asks for, None for plaintext. ``ConfigError`` when the
    files cannot be read or a test certificate cannot be made."""
    if config.tls_cert_path or config.tls_key_path:
        if not (config.tls_cert_path and config.tls_key_path):
            raise ConfigError("tlsCertPath and tlsKeyPath must be set together")
        return TlsMaterial(
            _read(config.tls_cert_path, "tlsCertPath"), _read(config.tls_key_path, "tlsKeyPath")
        )
    if config.tls_test_mode_enable:
        return await asyncio.to_thread(self_signed, config.broker_ip1)
    return None


def _read(path: str, key: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"{key}: cannot read {path!r}: {exc}") from exc


def _subject_alt_names(host: str) -> str:
    names = {"DNS:localhost", "IP:127.0.0.1"}
    try:
        names.add(f"IP:{ipaddress.ip_address(host)}")
    except ValueError:
        names.add(f"DNS:{host}")
    return ",".join(sorted(names))


def self_signed(host: str) -> TlsMaterial:
    """A new self-signed certificate for ``host`` (blocking: runs ``openssl``)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ConfigError("tlsTestModeEnable=true needs the openssl command to make a certificate")
    with tempfile.TemporaryDirectory(prefix="rocketq-tls-") as work:
        key, cert = Path(work) / "key.pem", Path(work) / "cert.pem"
        command = [
            openssl, "req", "-x509", "-newkey", f"rsa:{TEST_KEY_BITS}", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", str(TEST_CERT_DAYS),
            "-subj", f"/CN={host}", "-addext", f"subjectAltName={_subject_alt_names(host)}",
        ]  # fmt: skip
        done = subprocess.run(command, capture_output=True, timeout=OPENSSL_TIMEOUT_S, check=False)
        if done.returncode != 0:
            raise ConfigError(f"tlsTestModeEnable: openssl failed: {done.stderr.decode()[-500:]}")
        return TlsMaterial(cert.read_bytes(), key.read_bytes())
