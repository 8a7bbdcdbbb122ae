"""How ``corral serve`` listens: TLS, trusted proxies, connection limits, and the refusal
to serve noauth2 beyond loopback.

* **TLS** (``tls_cert_file``, ``tls_key_file``): HTTPS only, TLS 1.2 or newer, forward
  secret AEAD ciphers only (:data:`CIPHERS`; TLS 1.3's own suites are all AEAD). With
  ``tls_ca_file`` every client must present a certificate that bundle signed.
* **Proxies** (``trusted_proxies``): X-Forwarded-Proto and X-Forwarded-For are believed
  from those addresses only, and from none by default (uvicorn's own default believes
  127.0.0.1).
* **Limits**: the connection's own (api/edge.py), through its protocol class, and
  uvicorn's keep-alive time.
* **noauth2** lets any caller claim any identity: ``corral serve`` refuses it on an
  address other than loopback unless ``allow_noauth2_on_network`` says so, and warns
  loudly whenever it is on.
"""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Callable
from typing import Any

from corral.config import Settings
from corral.config_serving import proxies

#: TLS 1.2 cipher suites served: ECDHE key exchange (forward secrecy) with AES-GCM or
#: ChaCha20-Poly1305 only; no CBC, no RSA key exchange, no SHA-1.
CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL:!MD5:!DSS"

#: The protocol serving every connection (api/edge.py).
PROTOCOL = "corral.api.edge:EdgeProtocol"

NOAUTH2_REFUSED = (
    "auth_strategy = noauth2 lets any caller claim any identity (admin included), and "
    "{host} is not a loopback address. Listen on 127.0.0.1, set auth_strategy = tokens, "
    "or, for a test or demo network only, pass --allow-noauth2-on-network "
    "(allow_noauth2_on_network = true).")
NOAUTH2_WARNING = (
    "WARNING: auth_strategy = noauth2: any caller may claim any identity, admin "
    "included. For tests and demos only; set auth_strategy = tokens (docs/access.md).")


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only reaches this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def noauth2_refusal(conf: Settings) -> str | None:
    """Why ``conf`` may not be served (noauth2 on the network, not allowed), or None."""
    if (conf.auth_strategy == "noauth2" and not is_loopback(conf.host)
            and not conf.allow_noauth2_on_network):
        return NOAUTH2_REFUSED.format(host=conf.host)
    return None


def tls_context(_config: Any, default: Callable[[], ssl.SSLContext]) -> ssl.SSLContext:
    """uvicorn's context (certificate, key, client CA) with corral's protocol floor and
    ciphers, whatever the platform's defaults."""
    context = default()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    return context


def server_options(conf: Settings) -> dict[str, Any]:
    """uvicorn.run's options for ``conf``: listening, TLS, proxies, connections."""
    trusted = proxies(conf.trusted_proxies)
    options: dict[str, Any] = {
        "host": conf.host, "port": conf.port, "workers": conf.workers,
        "log_level": "warning", "access_log": False, "http": PROTOCOL,
        "timeout_keep_alive": conf.keepalive_timeout_s,
        "proxy_headers": bool(trusted), "forwarded_allow_ips": trusted or None,
    }
    if conf.tls_cert_file:
        options.update(ssl_certfile=conf.tls_cert_file, ssl_keyfile=conf.tls_key_file,
                       ssl_context_factory=tls_context)
        if conf.tls_ca_file:
            options.update(ssl_ca_certs=conf.tls_ca_file, ssl_cert_reqs=ssl.CERT_REQUIRED)
    return options
