"""/v1 reads at most 16 MiB of a request body, as Placement does: past that a 413 naming
the limit, before the body is read whole, and nothing written."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from corral.api.placement.middleware import MAX_BODY

from .helpers import SQLITE_ONLY, V1

ROUTES = [("POST", "/instances"), ("POST", "/hosts/heartbeats"), ("PUT", "/hosts/too-big"),
          ("POST", "/flavors")]


def _chunks(size: int) -> Iterator[bytes]:
    """A JSON body of ``size`` bytes and more, sent without a content-length."""
    yield b'{"name": "'
    for _ in range(size // (1 << 20) + 1):
        yield b"x" * (1 << 20)
    yield b'"}'


@SQLITE_ONLY  # the limit is the HTTP layer's, before any store
@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_a_body_past_the_limit_is_a_413_whether_declared_or_streamed(
        v1: V1, method: str, path: str) -> None:
    declared = v1.request(method, path, content=b"x" * (MAX_BODY + 1),
                          headers={"content-type": "application/json"})
    streamed = v1.request(method, path, content=_chunks(MAX_BODY),
                          headers={"content-type": "application/json"})
    for r in (declared, streamed):
        assert r.status_code == 413, r.text
        error = r.json()["error"]
        assert error["code"] == "too_large"
        assert str(MAX_BODY) in error["message"]
    assert v1.get("/hosts").json()["hosts"] == []
    assert v1.get("/instances").json()["instances"] == []


@SQLITE_ONLY
def test_a_body_at_the_limit_is_read(v1: V1) -> None:
    body = b'{"hosts": []}' + b" " * (MAX_BODY - 13)
    r = v1.request("POST", "/hosts/heartbeats", content=body,
                   headers={"content-type": "application/json"})
    assert r.status_code == 200, r.text
