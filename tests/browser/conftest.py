"""Real headless Chromium for the dashboard tests, driven by Playwright.

The browser is Debian's ``chromium`` (``/usr/bin/chromium``, or ``CORRAL_CHROMIUM``):
Playwright drives it through ``executable_path`` and never downloads one. Without it (or
without the ``playwright`` package) the tests skip, saying why, unless
``CORRAL_REQUIRE_SERVICES=1``, when they fail. One browser serves a whole module.
Screenshots go to ``test-artifacts/`` at the top of the checkout (``CORRAL_TEST_ARTIFACTS``
to change it; git ignores it).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import require_service
from integration.conftest import Server, start_server, store_url

from corral.persistence import Store

CANDIDATES = ("chromium", "chromium-browser")
ARTIFACTS = Path(os.environ.get("CORRAL_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[2] / "test-artifacts")


def chromium_path() -> str | None:
    configured = os.environ.get("CORRAL_CHROMIUM")
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright ``Browser``), closed after the module's tests (its
    event loop never outlives them, whatever later tests do with asyncio)."""
    executable = chromium_path()
    if executable is None:
        configured = os.environ.get("CORRAL_CHROMIUM")
        require_service("chromium", f"CORRAL_CHROMIUM={configured} is not executable" if configured
                        else "no chromium executable on PATH (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_service("chromium", "the playwright package is not installed (pip install -e '.[test]')")
    driver = sync_playwright().start()
    try:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        launched = driver.chromium.launch(executable_path=executable, headless=True,
                                          args=["--no-sandbox", "--disable-gpu"])
        try:
            yield launched
        finally:
            launched.close()
    finally:
        driver.stop()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def server(store: Store, tmp_path: Path) -> Iterator[Server]:
    """A real ``corral serve`` on the test's database, stopped at teardown."""
    started = start_server(store_url(store), tmp_path / "server")
    try:
        yield started
    finally:
        started.stop()
