"""Every /v1 router, in the order they appear in the OpenAPI document."""

from __future__ import annotations

from fastapi import APIRouter

from corral.api.v1 import (
    aggregates,
    audit_log,
    capacity,
    config,
    events,
    flavors,
    hosts,
    instances,
    keystone,
    policy,
    projects,
    quota,
    server_groups,
    simulation,
    tokens,
)


def routers() -> list[APIRouter]:
    return [hosts.router, aggregates.router, flavors.router, server_groups.router,
            instances.router, projects.router, quota.router, tokens.router,
            capacity.router, audit_log.router, events.router, keystone.router,
            config.router, simulation.router, policy.router]
