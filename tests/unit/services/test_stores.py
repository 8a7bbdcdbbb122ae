"""The storage ports of ``corral.services.stores`` cover the SQL Repository exactly.

mypy checks that the Repository satisfies every port (``services/system.py``); these
check the other direction: every query persistence offers is declared on one port (so
a service can name it by its noun), with the same parameters, and the Store port asks
nothing the SQL Store lacks.
"""

from __future__ import annotations

import inspect

from corral.persistence import Repository
from corral.persistence import Store as SqlStore
from corral.services import event_store, stores

#: The ports: every Protocol that Repo is made of (most are declared in stores.py; the
#: event outbox's in services/event_store.py).
PORTS = [cls for cls in stores.Repo.__mro__[1:]
         if getattr(cls, "_is_protocol", False) and cls.__module__.startswith("corral.")]


def _members(port: type) -> set[str]:
    names = {n for n, v in vars(port).items() if inspect.isfunction(v) and not n.startswith("_")}
    return names | set(vars(port).get("__annotations__", {}))


def _queries() -> set[str]:
    return {n for n in dir(Repository)
            if not n.startswith("_") and inspect.isfunction(getattr(Repository, n))}


def test_every_query_is_on_exactly_one_port() -> None:
    owners: dict[str, list[str]] = {}
    for port in PORTS:
        for name in _members(port):
            owners.setdefault(name, []).append(port.__name__)
    missing = sorted(_queries() - set(owners))
    assert not missing, f"Repository queries on no port of services/stores.py: {missing}"
    twice = {n: o for n, o in owners.items() if len(o) > 1}
    assert not twice, f"queries declared on several ports: {twice}"


def test_ports_declare_what_the_repository_has_with_its_parameters() -> None:
    for port in PORTS:
        for name, declared in vars(port).items():
            if not inspect.isfunction(declared) or name.startswith("_"):
                continue
            real = getattr(Repository, name, None)
            assert real is not None, f"{port.__name__}.{name} is not a Repository query"
            want = [(p.name, p.kind, p.default) for p in inspect.signature(declared).parameters.values()]
            got = [(p.name, p.kind, p.default) for p in inspect.signature(real).parameters.values()]
            assert want == got, f"{port.__name__}.{name}: port {want} != Repository {got}"


def test_repo_is_every_port() -> None:
    declared = {cls for cls in vars(stores).values()
                if isinstance(cls, type) and cls.__module__ == stores.__name__
                and getattr(cls, "_is_protocol", False) and cls not in (stores.Repo, stores.Store)}
    assert set(PORTS) >= declared and event_store.EventStore in PORTS


def test_the_sql_store_has_what_the_store_port_asks() -> None:
    asked = {n for n in vars(stores.Store) if not n.startswith("_")}
    assert asked, "the Store port declares nothing"
    assert not sorted(n for n in asked if not hasattr(SqlStore, n))
