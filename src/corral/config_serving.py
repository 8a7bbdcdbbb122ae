"""The options of the serving edge: TLS, trusted proxies, and the limits of a public
service (sizes, times, the work one request may cause, a per-token rate).

They live here rather than in config.py, which adds them to its option list and its
settings model (as it adds the scheduler plugins' own): each is (INI section, name,
help) in :data:`OPTIONS` and a typed, bounded field in :data:`FIELDS`. Defaults are
chosen so that no honest client of today meets a limit (docs/configuration.md,
"Limits of a public service").
"""

from __future__ import annotations

import ipaddress
from typing import Any

from pydantic import Field

#: (section, name, help) of each option, in the order ``corral config sample`` shows them.
OPTIONS: list[tuple[str, str, str]] = [
    ("api", "tls_cert_file",
     "PEM certificate chain 'corral serve' presents; with tls_key_file it serves HTTPS "
     "only (TLS 1.2 or newer, forward-secret AEAD ciphers). Empty: plain HTTP."),
    ("api", "tls_key_file", "PEM private key of tls_cert_file."),
    ("api", "tls_ca_file",
     "PEM bundle of the certificate authorities whose client certificates are accepted. "
     "When set, every client must present a certificate it signed (mutual TLS)."),
    ("api", "trusted_proxies",
     "Comma-separated addresses or networks (10.0.0.5, 10.1.0.0/16) of the proxies "
     "terminating TLS in front of corral, whose X-Forwarded-Proto and X-Forwarded-For "
     "are believed (links and logs then show the client's scheme and address). Empty: "
     "none is believed."),
    ("api", "allow_noauth2_on_network",
     "Let 'corral serve' listen on an address other than loopback in auth_strategy "
     "noauth2, where any caller can claim any identity. For tests and demos only."),
    ("limits", "max_body_bytes",
     "Largest request body, in bytes: a larger one is a 413, refused before it is read."),
    ("limits", "max_header_bytes",
     "Largest request line and headers together, in bytes: past it a 431, and the "
     "connection is closed."),
    ("limits", "max_url_bytes", "Longest request target (path and query), in bytes: past "
     "it a 414, and the connection is closed."),
    ("limits", "header_timeout_s",
     "Seconds a client has to send a request's line and headers, from when its connection "
     "opens or its previous response ends. A connection silent that long is closed; one "
     "that started a request is answered 408 and closed."),
    ("limits", "body_timeout_s",
     "Seconds a client has to send a request's whole body once its headers are in: then "
     "a 408, and the connection is closed."),
    ("limits", "keepalive_timeout_s",
     "Seconds an idle kept-alive connection stays open after its last response."),
    ("limits", "max_request_groups",
     "Most request groups (the unsuffixed one and every resourcesN) one allocation "
     "candidates request may name: past it a 400 naming the bound."),
    ("limits", "max_candidate_combinations",
     "Most work one allocation candidates request may cause: the allocation requests it "
     "could build (at most its limit), each counted once per request group or class it "
     "places. Past it a 400 naming the bound, before any of the work is done."),
    ("limits", "rate_limit_per_s",
     "Requests per second each token may make to one server process, sustained (a token "
     "bucket of rate_limit_burst); past it a 429 with Retry-After. 0: no limit."),
    ("limits", "rate_limit_burst",
     "Requests a token may make at once before rate_limit_per_s paces it."),
]

#: The typed field (type, default and bounds) of each option.
FIELDS: dict[str, tuple[Any, Any]] = {
    "tls_cert_file": (str, Field(default="")),
    "tls_key_file": (str, Field(default="")),
    "tls_ca_file": (str, Field(default="")),
    "trusted_proxies": (str, Field(default="")),
    "allow_noauth2_on_network": (bool, Field(default=False)),
    "max_body_bytes": (int, Field(default=16 * 1024 * 1024, ge=1024, le=1024 ** 3)),
    "max_header_bytes": (int, Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)),
    "max_url_bytes": (int, Field(default=16 * 1024, ge=256, le=1024 * 1024)),
    "header_timeout_s": (float, Field(default=10.0, gt=0, le=3600, allow_inf_nan=False)),
    "body_timeout_s": (float, Field(default=30.0, gt=0, le=3600, allow_inf_nan=False)),
    "keepalive_timeout_s": (int, Field(default=5, ge=1, le=3600)),
    "max_request_groups": (int, Field(default=64, ge=1, le=10_000)),
    "max_candidate_combinations": (int, Field(default=10_000, ge=1000, le=10 ** 12)),
    "rate_limit_per_s": (float, Field(default=0.0, ge=0, le=1_000_000, allow_inf_nan=False)),
    "rate_limit_burst": (int, Field(default=100, ge=1, le=1_000_000)),
}


def check(values: dict[str, Any]) -> list[str]:
    """Problems between options of this module (each one's own bounds are the model's)."""
    problems = []
    if bool(values.get("tls_cert_file")) != bool(values.get("tls_key_file")):
        problems.append("tls_cert_file and tls_key_file: set both (HTTPS) or neither")
    if values.get("tls_ca_file") and not values.get("tls_cert_file"):
        problems.append("tls_ca_file: client certificates need HTTPS (tls_cert_file)")
    for entry in proxies(str(values.get("trusted_proxies", ""))):
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            problems.append(f"trusted_proxies: {entry!r} is not an IP address or network")
    return problems


def proxies(value: str) -> list[str]:
    """The entries of ``trusted_proxies``."""
    return [part.strip() for part in value.split(",") if part.strip()]
