"""The API documentation in a real browser with no internet: a ``corral serve`` process,
``/docs`` opened in headless Chromium with every request to anywhere but the server
refused, and the operations seen rendered (issue 11, point 10)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from integration.conftest import Server

pytestmark = pytest.mark.slow

RENDER_TIMEOUT_MS = 20_000  # generous: two cores shared by a whole test run


def offline_context(browser: Any, server: Server) -> tuple[Any, list[str]]:
    """A browser context that reaches the server and nothing else: every other request
    is aborted (as on an air-gapped network) and recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    refused: list[str] = []

    def only_the_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == urlsplit(server.url).netloc:
            route.continue_()
        else:
            refused.append(url)
            route.abort("internetdisconnected")

    context.route("**/*", only_the_server)
    return context, refused


# The documentation renders the same whatever the storage: one backend is enough.
@pytest.mark.parametrize("backend", ["sqlite"])
def test_docs_render_the_operations_without_the_internet(
        browser: Any, server: Server, artifacts: Path) -> None:
    context, refused = offline_context(browser, server)
    try:
        page = context.new_page()
        response = page.goto(f"{server.url}/docs")
        assert response is not None and response.status == 200
        boot = page.locator('.opblock-post .opblock-summary-path[data-path="/v1/instances"]')
        boot.wait_for(timeout=RENDER_TIMEOUT_MS)
        assert page.locator(".opblock").count() > 20
        assert page.title() == "corral API documentation"
        # An operation opens, with its request body schema, all from the local schema.
        boot.click()
        page.locator(".opblock-post.is-open .opblock-section-request-body").wait_for(
            timeout=RENDER_TIMEOUT_MS)
        shot = artifacts / "docs-swagger-ui.png"
        page.screenshot(path=str(shot))
        print(f"\nscreenshot: {shot}")
    finally:
        context.close()
    assert refused == []
