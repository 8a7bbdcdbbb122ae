"""A throwaway PKI for the TLS tests, and ``corral serve`` over HTTPS with it.

A CA, a server certificate for 127.0.0.1 and a client certificate (and one signed by
another CA) are made once per test session with the ``openssl`` command;
tests/integration/conftest.py imports the ``pki`` fixture. ``start_https`` serves with
the server certificate and waits, verification on, until ``/healthz`` answers.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from corral.persistence import Store

from .conftest import START_TIMEOUT, Server, clean_env, corral_command, free_port, store_url


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    stranger_cert: Path  # signed by another CA
    stranger_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=60)


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    key, cert = directory / f"{name}.key", directory / f"{name}.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", cert, "-days", "1", "-subj", f"/CN={name}")
    return cert, key


def _issue(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    key, csr, cert = (directory / f"{name}.key", directory / f"{name}.csr",
                      directory / f"{name}.pem")
    ext = directory / f"{name}.ext"
    ext.write_text(extensions)
    _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
             "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
             "-out", cert, "-days", "1", "-extfile", ext)
    return cert, key


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is not installed")
    directory = tmp_path_factory.mktemp("pki")
    ca = _ca(directory, "corral-test-ca")
    other = _ca(directory, "some-other-ca")
    server = _issue(directory, "server", ca,
                    "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    client = _issue(directory, "client", ca, "extendedKeyUsage=clientAuth\n")
    stranger = _issue(directory, "stranger", other, "extendedKeyUsage=clientAuth\n")
    return Pki(ca[0], *server, *client, *stranger)


def client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca))  # verification on
    if cert is not None:
        context.load_cert_chain(str(cert), str(key))
    return context


def start_https(store: Store, directory: Path, pki: Pki, *extra: str,
                env: Mapping[str, str] | None = None) -> Server:
    """``corral serve`` with the test certificate; waits until /healthz answers over TLS.

    ``env``: settings (``CORRAL_*``) for the server, on top of a clean environment.
    """
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = directory / "serve.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            corral_command("--database-url", store_url(store), "serve", "--host", "127.0.0.1",
                           "--port", str(port), "--tls-cert-file", str(pki.server_cert),
                           "--tls-key-file", str(pki.server_key), *extra),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**clean_env(directory / "data"), **(env or {})},
            start_new_session=True)
    server = Server(f"https://127.0.0.1:{port}", process, log_path)
    probe = client_context(pki, pki.client_cert, pki.client_key)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and server.alive():
        try:
            if httpx.get(server.url + "/healthz", verify=probe, timeout=2.0).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.stop()
    pytest.fail(f"corral serve did not answer over HTTPS; its output:\n{server.log()}")
