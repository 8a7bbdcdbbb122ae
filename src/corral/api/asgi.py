"""Entry point for ASGI servers: ``uvicorn --factory corral.api.asgi:app_from_environment``.

Settings come from the environment (``CORRAL_*``, ``CORRAL_CONFIG_FILE``), which is how
``corral serve --workers N`` hands them to each worker process.
"""

from __future__ import annotations

from starlette.types import ASGIApp

from corral.api.app import create_app
from corral.config import load_settings
from corral.logging import configure_logging


def app_from_environment() -> ASGIApp:
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    return create_app(settings)
