"""Keystone tokens past their expiry with a service token, and one call per cold token.

Against the session's real Keystone (tests/integration/keystone_world.py):

- a user's token that has expired is refused alone, and accepted when a valid service
  token with the ``service`` role comes with it (Nova finishing a long operation with
  the user's token, as keystonemiddleware's ``allow_expired`` lets it); a service token
  without that role, or no token at all, changes nothing;
- many requests at once with a token corral has not validated yet cost Keystone one
  validation, counted in Keystone's own access log.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from corral.api.app import create_app
from corral.persistence import Store

from .keystone import Keystone
from .keystone_world import World, settings_for

pytestmark = pytest.mark.slow

PLACEMENT = {"openstack-api-version": "placement 1.39"}
CONCURRENT = 12


@pytest.fixture(params=["sqlite"])
def backend(request: pytest.FixtureRequest) -> str:
    """Token handling does not depend on the database: SQLite only, for time."""
    return str(request.param)


@pytest.fixture
def corral(keystone: Keystone, world: World, tmp_path: Path, store: Store
           ) -> Iterator[TestClient]:
    with TestClient(create_app(settings_for(keystone, world, tmp_path), store)) as client:
        yield client


def get(client: TestClient, path: str, token: str, service_token: str | None = None) -> Any:
    headers = {"x-auth-token": token, **PLACEMENT}
    if service_token is not None:
        headers["x-service-token"] = service_token
    return client.get(path, headers=headers)


def test_an_expired_token_is_accepted_only_beside_a_service_token(
        corral: TestClient, keystone: Keystone, world: World) -> None:
    user = keystone.user()
    keystone.grant(user, "member", project=world.child)
    token, expires = keystone.expiring_token(user, world.child)
    service, t = world.tokens["service"], world.tokens
    assert get(corral, "/v1/flavors", token).status_code == 200  # still valid: cached
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds() + 0.2))

    for path in ("/v1/flavors", f"/usages?project_id={world.child}"):
        assert get(corral, path, token).status_code == 401, path
        r = get(corral, path, token, service)
        assert r.status_code == 200, (path, r.text)
        # the service token must be one: valid, and with the service role
        for bad in (t["other_member"], "not-a-token"):
            assert get(corral, path, token, bad).status_code == 401, (path, bad)
        # accepted beside a service token does not make it valid alone (cached apart)
        assert get(corral, path, token).status_code == 401, path
    # what the service token adds is the service role, for Placement only
    assert get(corral, "/resource_providers", token, service).status_code == 200
    r = corral.post("/v1/keystone/sync", headers={"x-auth-token": token,
                                                  "x-service-token": service})
    assert r.status_code == 403, r.text
    # a token Keystone never issued is refused, service token or not
    assert get(corral, "/v1/flavors", "gAAAAABnot-a-token", service).status_code == 401


def test_concurrent_validations_of_one_cold_token_are_one_call_to_keystone(
        corral: TestClient, keystone: Keystone, world: World) -> None:
    # corral's service user authenticates first, so that only validations remain
    assert get(corral, "/v1/flavors", world.tokens["reader"]).status_code == 200
    user = keystone.user()
    keystone.grant(user, "reader", project=world.child)
    cold = keystone.token(user.name, user.password, project=world.child)
    before = keystone.validations()
    paths = ["/v1/flavors", f"/usages?project_id={world.child}"] * (CONCURRENT // 2)
    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(lambda path: get(corral, path, cold).status_code, paths))
    assert statuses == [200] * CONCURRENT
    assert keystone.validations() - before == 1
    # a refused token likewise: one call for all
    before = keystone.validations()
    with ThreadPoolExecutor(CONCURRENT) as pool:
        statuses = list(pool.map(lambda path: get(corral, path, cold + "x").status_code,
                                 paths))
    assert statuses == [401] * CONCURRENT
    assert keystone.validations() - before == 1
