"""``corral serve`` over HTTPS with a throwaway CA, and behind a TLS-terminating proxy.

A CA, a server certificate for 127.0.0.1 and a client certificate are made per test
session with the ``openssl`` command. Clients connect with verification on (the CA as
their only trust anchor); with ``tls_ca_file`` the server demands a client certificate.
Behind a proxy, X-Forwarded-Proto and X-Forwarded-For are believed only from an
address in ``trusted_proxies``: the links the API writes and the access log follow.
"""

from __future__ import annotations

import socket
import ssl
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from corral.persistence import Store

from .conftest import ServeFactory, Server
from .pki import Pki, client_context, start_https

pytestmark = pytest.mark.slow

PROVIDER = "5e1c6a1e-54a1-4a36-9e43-1c1b7e1d0c01"


HttpsFactory = Callable[..., Server]


@pytest.fixture
def https(store: Store, tmp_path: Path, pki: Pki) -> Iterator[HttpsFactory]:
    """``https(*options)``: a server over HTTPS, stopped at teardown."""
    servers: list[Server] = []

    def factory(*extra: str) -> Server:
        servers.append(start_https(store, tmp_path / f"tls{len(servers)}", pki, *extra))
        return servers[-1]

    yield factory
    for server in servers:
        server.stop()


def handshake(url: str, context: ssl.SSLContext) -> tuple[str, str]:
    """(protocol version, cipher) of one TLS connection to ``url``'s port."""
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        version, cipher = tls.version(), tls.cipher()
        assert version is not None and cipher is not None
        return version, cipher[0]


def test_serves_https_verified_with_the_ca_and_modern_protocols_only(https: HttpsFactory,
                                                                     pki: Pki) -> None:
    server = https()
    r = httpx.get(server.url + "/healthz", verify=client_context(pki), timeout=10.0)
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = httpx.get(server.url + "/resource_providers", verify=client_context(pki), timeout=10.0,
                  headers={"x-auth-token": "admin"})
    assert r.status_code == 200, r.text
    version, _cipher = handshake(server.url, client_context(pki))
    assert version in ("TLSv1.2", "TLSv1.3")
    # TLS 1.2 clients get forward-secret AEAD ciphers only.
    tls12 = client_context(pki)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    version, cipher = handshake(server.url, tls12)
    assert version == "TLSv1.2"
    assert cipher.startswith("ECDHE-") and ("GCM" in cipher or "CHACHA20" in cipher), cipher
    # A TLS 1.2 client offering only CBC ciphers is refused.
    cbc = client_context(pki)
    cbc.maximum_version = ssl.TLSVersion.TLSv1_2
    cbc.set_ciphers("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA")
    with pytest.raises(ssl.SSLError):
        handshake(server.url, cbc)
    # A client that does not trust the CA refuses the server; plain HTTP is not served.
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=10.0)
    with pytest.raises(httpx.HTTPError):
        httpx.get(server.url.replace("https:", "http:") + "/healthz", timeout=10.0)


def test_client_certificate_required_with_tls_ca_file(https: HttpsFactory, pki: Pki) -> None:
    server = https("--tls-ca-file", str(pki.ca))
    r = httpx.get(server.url + "/healthz", timeout=10.0,
                  verify=client_context(pki, pki.client_cert, pki.client_key))
    assert r.status_code == 200
    for refused in (client_context(pki), client_context(pki, pki.stranger_cert, pki.stranger_key)):
        with pytest.raises((httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError)):
            httpx.get(server.url + "/healthz", verify=refused, timeout=10.0)
    assert server.alive()


def _create_provider(url: str, name: str) -> httpx.Response:
    return httpx.post(url + "/resource_providers", timeout=10.0,
                      json={"name": name, "uuid": PROVIDER},
                      headers={"x-auth-token": "admin", "openstack-api-version": "placement 1.20",
                               "x-forwarded-proto": "https", "x-forwarded-for": "203.0.113.7"})


def _logged_clients(server: Server) -> set[str]:
    return {part.split("=", 1)[1] for line in server.log().splitlines()
            if "route=/resource_providers" in line and "method=POST" in line
            for part in line.split() if part.startswith("client=")}


def test_forwarded_headers_believed_only_from_trusted_proxies(store: Store, serve: ServeFactory) -> None:
    trusting = serve(store, "--trusted-proxies", "127.0.0.1")
    r = _create_provider(trusting.url, "behind-proxy")
    assert r.status_code == 200, r.text
    assert r.headers["location"].startswith("https://127.0.0.1:"), r.headers["location"]
    time.sleep(0.5)  # the access log line is written once the answer is sent
    assert _logged_clients(trusting) == {"203.0.113.7"}
    for extra in ((), ("--trusted-proxies", "192.0.2.10, 198.51.100.0/24")):
        other = serve(store, *extra)
        httpx.delete(other.url + f"/resource_providers/{PROVIDER}", timeout=10.0,
                     headers={"x-auth-token": "admin"})
        r = _create_provider(other.url, "not-believed")
        assert r.status_code == 200, r.text
        assert r.headers["location"].startswith("http://127.0.0.1:"), r.headers["location"]
        time.sleep(0.5)
        assert _logged_clients(other) == {"127.0.0.1"}
