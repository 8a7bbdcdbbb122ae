"""The dashboard in a real browser: a ``corral serve`` process with a seeded fleet, /ui
opened in headless Chromium, every figure shown checked against the /v1 API, the live
refresh seen to pick up a change, the page read without JavaScript, and screenshots
saved as test artifacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from integration.conftest import Server

from .fleet import ADMIN, expected, expected_quotas, seed, shown

pytestmark = pytest.mark.slow

FIGURES_JS = "els => Object.fromEntries(els.map(e => [e.dataset.figure, e.textContent.trim()]))"


def figures_of(page: Any) -> dict[str, str]:
    found: dict[str, str] = page.eval_on_selector_all("[data-figure]", FIGURES_JS)
    return shown(found)


def test_the_dashboard_in_chromium_shows_the_api_figures(
        browser: Any, server: Server, artifacts: Path, backend: str) -> None:
    started = time.monotonic()
    api = httpx.Client(base_url=server.url, timeout=10.0)
    seed(api)
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    page = context.new_page()
    try:
        # Anonymous: the sign-in form, and no figure.
        response = page.goto(f"{server.url}/ui")
        assert response is not None and response.status == 401
        assert page.locator("[data-figure]").count() == 0
        page.fill("#token", "admin")
        page.click("button[type=submit]")
        page.wait_for_selector('[data-figure="hosts/down"]')
        assert page.url == f"{server.url}/ui"

        # Every figure of the overview is the API's.
        page.goto(f"{server.url}/ui?refresh=2")
        want = expected(api)
        assert figures_of(page) == want
        assert page.text_content('[data-figure="hosts/down"]') == "1"
        rows = page.eval_on_selector_all("#troubled tbody tr", "rows => rows.map(r => r.dataset.host)")
        assert rows == ["cn3", "cn4"]  # disabled, and forced down
        assert page.text_content('[data-figure="headroom/small/total"]') == \
            want["headroom/small/total"]
        shot = artifacts / f"dashboard-overview-{backend}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"\nscreenshot: {shot}")

        # The live region picks up a change made through the API within a refresh or two.
        r = api.patch("/v1/hosts/cn5", json={"enabled": False, "disabled_reason": "drain"},
                      headers=ADMIN)
        assert r.status_code == 200, r.text
        page.wait_for_function(
            "() => document.querySelector('[data-figure=\"hosts/disabled\"]')"
            ".textContent.trim() === '2'", timeout=8000)
        assert figures_of(page) == expected(api)
        assert "Figures as of" in (page.text_content("#refresh-status") or "")

        # The quota tree: usage against limits, as GET /v1/projects/{id}/quota says.
        page.click("text=Quotas")
        page.wait_for_selector("#quota-tree")
        quotas = expected_quotas(api)
        assert figures_of(page) == quotas
        assert page.text_content('[data-figure="quota/team-a/cores/used"]') == "5"
        assert page.text_content('[data-figure="quota/team-a/cores/limit"]') == "8"
        shot = artifacts / f"dashboard-quotas-{backend}.png"
        page.screenshot(path=str(shot), full_page=True)
        print(f"screenshot: {shot}")
    finally:
        context.close()

    # Nothing was fetched from anywhere but corral.
    assert requested and all(url.startswith(server.url + "/") for url in requested), requested

    # Readable without JavaScript (the header token instead of the cookie).
    plain = browser.new_context(java_script_enabled=False, extra_http_headers=ADMIN)
    try:
        page = plain.new_page()
        page.goto(f"{server.url}/ui")
        assert figures_of(page) == expected(api)
    finally:
        plain.close()
    api.close()
    assert time.monotonic() - started < 20
