"""The API documentation works without the internet: ``/docs`` references nothing
outside the server, every asset it references is served by corral itself with its
content type, and no page is left that loads from a CDN (issue 11, point 10)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from starlette.testclient import TestClient

BASE = "http://testserver"
TYPES = {".js": ("application/javascript", "text/javascript"), ".css": ("text/css",),
         ".png": ("image/png",), ".json": ("application/json",)}


class References(HTMLParser):
    """Every ``src``, ``href`` and ``spec-url`` attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs
                      if name in ("src", "href", "spec-url") and value is not None]


def references(html: str) -> list[str]:
    parser = References()
    parser.feed(html)
    parser.close()
    return parser.urls


def test_the_documentation_page_loads_nothing_from_elsewhere(client: TestClient) -> None:
    page = "/docs"
    r = client.get(page)
    assert r.status_code == 200, r.text
    assert "<title>corral API documentation</title>" in r.text
    assert r.headers["content-type"].startswith("text/html")
    assert "http://" not in r.text and "https://" not in r.text, r.text
    # the attributes, and the schema Swagger UI's inline script fetches
    found = references(r.text) + re.findall(r"\burl: '([^']*)'", r.text)
    # the script, the stylesheet, the favicon and the schema
    assert len(found) == 4, found
    for url in found:
        absolute = urljoin(BASE + page, url)
        assert urlsplit(absolute).netloc == "testserver", f"{page} references {url}"
        asset = client.get(absolute)
        assert asset.status_code == 200, f"{page} references {url}: {asset.status_code}"
        suffix = "." + urlsplit(absolute).path.rsplit(".", 1)[-1]
        content_type = asset.headers["content-type"].split(";")[0]
        assert content_type in TYPES[suffix], f"{url} is served as {content_type}"
        assert len(asset.content) > 1000, url


def test_the_docs_assets_are_those_of_the_installed_package(client: TestClient) -> None:
    from importlib.resources import files

    shipped = files("fastapi_offline") / "static" / "swagger-ui-bundle.js"
    assert client.get("/docs/static/swagger-ui-bundle.js").content == shipped.read_bytes()
    assert client.get("/docs/static/nothing-here.js").status_code == 404


def test_no_page_loads_from_a_cdn(client: TestClient) -> None:
    # FastAPI's ReDoc page loads its script (and ReDoc its logo) from CDNs: it is gone
    # (the path falls through to the Placement API, which knows no such route).
    for headers in ({}, {"x-auth-token": "admin"}):
        r = client.get("/redoc", headers=headers)
        assert r.status_code in (401, 404) and "cdn" not in r.text, r.text
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert "https://" not in client.get("/docs/oauth2-redirect").text
