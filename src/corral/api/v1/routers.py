"""Every /v1 router, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter


def routers() -> list[APIRouter]:
    found: list[APIRouter] = []
    # Each module exposes ``router``; modules land one by one (hosts, aggregates, flavors...).
    import importlib

    for name in ("hosts", "aggregates", "flavors", "server_groups"):
        try:
            module = importlib.import_module(f"corral.api.v1.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"corral.api.v1.{name}":
                raise
            continue
        found.append(module.router)
    return found
