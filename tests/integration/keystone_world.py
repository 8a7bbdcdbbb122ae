"""The session's real Keystone and what the Keystone tests share in it.

``keystone`` starts one Keystone per test session (tests/integration/keystone.py) and
``world`` makes, once, a domain with a parent > child project and another project,
with a token for each role and scope, corral's own service user (reader on the
system) and an application credential of it. tests/integration/conftest.py imports
both fixtures, so that every module of the Keystone tests shares the one Keystone.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)

from corral.config import Settings

from .keystone import Keystone, User
from .venvs import KEYSTONE


def free_port() -> int:  # conftest's, which imports this module
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keystone]:
    """A fresh Keystone for the session; skipped (or failed) without its virtualenv."""
    venv, problem = KEYSTONE.build()
    if problem is not None:
        require_service("Keystone", problem)
    ks = Keystone(venv, tmp_path_factory.mktemp("keystone"), free_port())
    ks.initialise()
    ks.start()
    yield ks
    ks.stop()


@dataclass
class World:
    """Keystone's side: a domain with parent > child and another project, and a token
    for each role and scope."""

    domain: str
    parent: str
    child: str
    other: str
    service_user: User  # corral's own: reader on the system
    tokens: dict[str, str]
    credential: tuple[str, str]  # an application credential of corral's service user


@pytest.fixture(scope="session")
def world(keystone: Keystone) -> World:
    ks = keystone
    domain = ks.domain()
    parent = ks.project(domain)
    child = ks.project(domain, parent)
    other = ks.project(domain)
    services = ks.project("default")
    tokens = {"admin": ks.admin_token(),
              "system_admin": ks.token("admin", "s3cret-admin", system=True)}
    for name, role, where in (("manager", "manager", parent), ("member", "member", child),
                              ("reader", "reader", child), ("other_member", "member", other),
                              ("service", "service", services)):
        user = ks.user()
        ks.grant(user, role, project=where)
        tokens[name] = ks.token(user.name, user.password, project=where)
        if name == "member":  # an application credential of the member, in its project
            body = ks.call("POST", f"/users/{user.id}/application_credentials",
                           token=tokens[name],
                           json={"application_credential": {"name": uuid.uuid4().hex}})
            cred = body["application_credential"]
            tokens["app_credential"] = ks.app_credential_token(cred["id"], cred["secret"])
    domain_manager = ks.user(domain)
    ks.grant(domain_manager, "manager", domain=domain)
    tokens["domain_manager"] = ks.token(domain_manager.name, domain_manager.password,
                                        domain, domain=domain)
    system_reader = ks.user()
    ks.grant(system_reader, "reader", system=True)
    tokens["system_reader"] = ks.token(system_reader.name, system_reader.password, system=True)
    corral = ks.user()
    ks.grant(corral, "reader", system=True)
    ks.grant(corral, "service", project=services)  # for its application credential
    own = ks.token(corral.name, corral.password, project=services)
    body = ks.call("POST", f"/users/{corral.id}/application_credentials", token=own,
                   json={"application_credential": {"name": "corral"}})
    cred = body["application_credential"]
    return World(domain, parent, child, other, corral, tokens, (cred["id"], cred["secret"]))


def settings_for(keystone: Keystone, world: World, tmp_path: Path, **extra: Any) -> Settings:
    user = world.service_user
    return Settings(data_dir=str(tmp_path), auth_strategy="keystone",
                    keystone_auth_url=keystone.url, keystone_username=user.name,
                    keystone_password=user.password, keystone_system_scope="all",
                    keystone_project_sync_interval_s=0, **extra)
