"""The limits of a public service, on a real ``corral serve`` process, over raw sockets.

Each refusal is checked as a client sees it: its status, the JSON error body of the API
the path belongs to, and that it comes at once, before what the client has not sent
(a body, the end of its headers) arrives; and that the server still answers others.
"""

from __future__ import annotations

import json
import socket
import time
from typing import Any

import httpx
import pytest

from corral.persistence import Store

from .conftest import ServeFactory, Server

pytestmark = pytest.mark.slow

TOKENS = "s3cret=admin:admin:admin,other=nova:service:service+admin,paced=ops:ops:admin"


def settings_env(**values: object) -> dict[str, str]:
    return {f"CORRAL_{k.upper()}": str(v) for k, v in values.items()}


def port_of(server: Server) -> int:
    return int(server.url.rsplit(":", 1)[1])


def exchange(server: Server, data: bytes, wait: float = 10.0) -> tuple[int, dict[str, str], Any, float]:
    """Send ``data`` on a new connection, read the answer until the server closes it or
    ``wait`` passes: (status, headers, JSON body, seconds until the answer began)."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=wait) as sock:
        sock.sendall(data)
        answer, first = b"", None
        deadline = started + wait
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except (TimeoutError, ConnectionResetError):
                break
            if first is None:
                first = time.monotonic() - started
            if not chunk:
                break
            answer += chunk
            if b"\r\n\r\n" in answer:
                head = answer.split(b"\r\n\r\n", 1)[0]
                length = [int(line.split(b":")[1]) for line in head.split(b"\r\n")
                          if line.lower().startswith(b"content-length:")]
                if length and len(answer) >= len(head) + 4 + length[0]:
                    break
    assert answer, f"no answer within {wait} s"
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, json.loads(body), first or 0.0


def own_error(body: Any, status: int, code: str) -> str:
    """corral's error shape: its message."""
    error = body["error"]
    assert (error["status"], error["code"]) == (status, code), body
    assert error["request_id"].startswith("req-")
    return str(error["message"])


def placement_error(body: Any, status: int) -> str:
    """Placement's error shape: its detail."""
    (error,) = body["errors"]
    assert error["status"] == status and error["request_id"].startswith("req-"), body
    return str(error["detail"])


def healthy(server: Server) -> None:
    assert httpx.get(server.url + "/healthz", timeout=10.0).status_code == 200
    assert "unexpected_error" not in server.log()


def test_url_and_header_sizes_are_refused_as_they_arrive(store: Store, serve: ServeFactory) -> None:
    server = serve(store, env=settings_env(max_url_bytes=4096, max_header_bytes=8192))
    status, headers, body, _ = exchange(server, b"GET /v1/hosts?name=" + b"x" * 5000
                                        + b" HTTP/1.1\r\nhost: a\r\n\r\n")
    assert status == 414 and headers["connection"] == "close"
    assert "4096 bytes" in own_error(body, 414, "uri_too_long")
    status, _, body, _ = exchange(server, b"GET /resource_providers?name=" + b"x" * 5000
                                  + b" HTTP/1.1\r\nhost: a\r\n\r\n")
    assert status == 414 and "4096 bytes" in placement_error(body, 414)
    # A header far past the bound, never finished: refused once the bound is passed.
    status, _, body, _ = exchange(server, b"GET /v1/hosts HTTP/1.1\r\nhost: a\r\nx-big: "
                                  + b"y" * 2_000_000)
    assert status == 431 and "8192 bytes" in own_error(body, 431, "headers_too_large")
    # Many headers, each small, past the bound together.
    many = b"".join(b"x-h%d: %s\r\n" % (i, b"z" * 100) for i in range(100))
    status, _, body, _ = exchange(server, b"GET /resource_providers HTTP/1.1\r\nhost: a\r\n"
                                  + many + b"\r\n")
    assert status == 431 and "8192 bytes" in placement_error(body, 431)
    healthy(server)


def test_slow_and_idle_connections_are_closed(store: Store, serve: ServeFactory) -> None:
    server = serve(store, env=settings_env(header_timeout_s=1, body_timeout_s=1,
                                           keepalive_timeout_s=1))
    # A connection that never sends a byte is closed, without an answer.
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as idle:
        started = time.monotonic()
        assert idle.recv(100) == b""
        assert time.monotonic() - started < 5
    # Headers begun and never finished: 408.
    status, _, body, took = exchange(server, b"GET /resource_providers HTTP/1.1\r\nhost: a\r\n")
    assert status == 408 and 0.5 < took < 5, took
    assert "1.0 s" in placement_error(body, 408)
    # A body begun and never finished: 408, in corral's shape on its paths.
    status, _, body, took = exchange(server, b"POST /v1/instances HTTP/1.1\r\nhost: a\r\n"
                                     b"x-auth-token: admin\r\ncontent-type: application/json\r\n"
                                     b"content-length: 100\r\n\r\n{\"name\"")
    assert status == 408 and 0.5 < took < 5, took
    own_error(body, 408, "request_timeout")
    # A kept-alive connection left idle after its answer is closed.
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=10) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nhost: a\r\n\r\n")
        answer = b""
        while not answer.endswith(b"}"):
            answer += kept.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        assert kept.recv(100) == b""
        assert time.monotonic() - started < 5
    time.sleep(0.5)
    assert "status=408" in server.log()  # the body's refusal has its access log line
    healthy(server)


def test_bodies_are_refused_before_they_are_read(store: Store, serve: ServeFactory) -> None:
    server = serve(store, env=settings_env(auth_strategy="tokens", api_tokens=TOKENS,
                                           max_body_bytes=4096))
    post = (b"POST /v1/instances HTTP/1.1\r\nhost: a\r\ncontent-type: application/json\r\n"
            b"content-length: 400000000\r\n")
    # Without a token: 401 at once, though the 400 MB body never comes.
    status, headers, body, took = exchange(server, post + b"\r\n")
    assert status == 401 and headers["connection"] == "close" and took < 5
    own_error(body, 401, "unauthenticated")
    small = post.replace(b"400000000", b"1000")
    status, _, body, _ = exchange(server, small + b"\r\n")
    assert status == 401
    # With one: 413 at once, naming the bound; on Placement's paths as well.
    status, _, body, _ = exchange(server, post + b"x-auth-token: s3cret\r\n\r\n")
    assert status == 413 and "4096 bytes" in own_error(body, 413, "too_large")
    status, _, body, _ = exchange(server, b"PUT /allocations/8d7c5b1e-2a4c-4ad4-9d55-111111111111"
                                  b" HTTP/1.1\r\nhost: a\r\nx-auth-token: s3cret\r\ncontent-type: "
                                  b"application/json\r\ncontent-length: 40000000\r\n\r\n")
    assert status == 413 and "4096 bytes" in placement_error(body, 413)
    # A body without a length, past the bound as it arrives.
    chunk = b"1000\r\n" + b" " * 4096 + b"\r\n"
    status, _, body, _ = exchange(server, b"PUT /allocations/8d7c5b1e-2a4c-4ad4-9d55-111111111111"
                                  b" HTTP/1.1\r\nhost: a\r\nx-auth-token: s3cret\r\ncontent-type: "
                                  b"application/json\r\ntransfer-encoding: chunked\r\n\r\n" + chunk * 3)
    assert status == 413, body
    healthy(server)


def test_rate_per_token_and_request_groups_are_bounded(store: Store, serve: ServeFactory) -> None:
    server = serve(store, env=settings_env(auth_strategy="tokens", api_tokens=TOKENS,
                                           rate_limit_per_s=0.2, rate_limit_burst=3,
                                           max_request_groups=4))
    paced = {"x-auth-token": "paced"}
    answers = [httpx.get(server.url + "/v1/hosts", headers=paced, timeout=10.0) for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 5
    assert "retry in" in own_error(refused.json(), 429, "rate_limited")
    r = httpx.get(server.url + "/resource_providers", headers=paced, timeout=10.0)
    assert r.status_code == 429 and placement_error(r.json(), 429)
    # Other tokens, and /healthz, are not paced by that one.
    assert httpx.get(server.url + "/v1/hosts", headers={"x-auth-token": "s3cret"},
                     timeout=10.0).status_code == 200
    for _ in range(5):
        assert httpx.get(server.url + "/healthz", headers=paced, timeout=10.0).status_code == 200
    headers = {"x-auth-token": "other", "openstack-api-version": "placement 1.36"}
    groups = "&".join(f"resources{i}=VCPU:1" for i in range(1, 5)) + "&group_policy=none"
    r = httpx.get(server.url + "/allocation_candidates?" + groups, headers=headers, timeout=30.0)
    assert r.status_code == 200, r.text  # four groups: the bound
    r = httpx.get(server.url + "/allocation_candidates?resources=MEMORY_MB:1&" + groups,
                  headers=headers, timeout=30.0)
    assert r.status_code == 400
    assert "max_request_groups" in placement_error(r.json(), 400)
    assert "at most 4" in placement_error(r.json(), 400)
    healthy(server)
