"""What the instance.* events say (docs/events.md, payload version 1.1).

Each instance event carries what billing needs to know of the instance *after* the
change, with no read of its own on the boot path: who owns it, its flavor's name and
what that flavor claims per resource class (the amounts its allocations hold), where
it is (host and availability zone), its state, and when the change happened. A move
also says where it was and what it held before (``before``) and where it is now
(``after``); a failed build says why (``fault``) and what became of its allocations.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from corral.domain import events as ev
from corral.domain.events import NewEvent
from corral.domain.flavors import Flavor, from_snapshot, resources_of
from corral.domain.instances import InstanceRow
from corral.domain.scheduling import Instance
from corral.persistence.clock import utcnow
from corral.services.stores import Repo


def flavor_of(snapshot: str) -> Flavor:
    """The flavor an instance row keeps (its JSON snapshot)."""
    return from_snapshot(json.loads(snapshot))


def stamp(at: datetime) -> str:
    """A naive UTC time as the events show it."""
    return at.isoformat() + "Z"


def side(host: str | None, zone: str | None, flavor: Flavor,
         resources: Mapping[str, int] | None = None) -> dict[str, Any]:
    """One side of a move: where, which flavor, and what it held per resource class."""
    return {"host": host, "availability_zone": zone, "flavor_id": flavor.id,
            "flavor_name": flavor.name,
            "resources": dict(resources if resources is not None else resources_of(flavor))}


def payload(instance: Instance, flavor: Flavor, at: datetime, *,
            resources: Mapping[str, int] | None = None) -> dict[str, Any]:
    """The instance after the change; ``flavor`` is the one it holds now (during a
    resize, the new one) and ``resources`` what it holds (default: the flavor's)."""
    return {"instance_id": instance.id, "name": instance.name,
            "project_id": instance.project_id, "user_id": instance.user_id,
            **side(instance.host, instance.availability_zone, flavor, resources),
            "state": instance.state, "server_group": instance.server_group,
            "decision_id": instance.decision_id, "changed_at": stamp(at)}


def event(event_type: str, instance: Instance, flavor: Flavor, *, at: datetime | None = None,
          resources: Mapping[str, int] | None = None, **extra: Any) -> NewEvent:
    when = at or utcnow()
    return NewEvent(str(uuid.uuid4()), event_type, "instance", instance.id,
                    {**payload(instance, flavor, when, resources=resources), **extra}, when,
                    priority="ERROR" if event_type == ev.INSTANCE_CREATE_ERROR else "INFO",
                    payload_version=ev.INSTANCE_PAYLOAD_VERSION)


def where(repo: Repo, host_id: int | None) -> tuple[str | None, str | None]:
    """A host's name and availability zone (None, None: no host)."""
    if host_id is None:
        return None, None
    zones = repo.zones_of_hosts([host_id]).get(host_id) or []
    return repo.host_names_by_id([host_id]).get(host_id), zones[0][0] if zones else None


def summed(held: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    """{provider: {class: amount}} summed per class over the providers."""
    out: dict[str, int] = {}
    for resources in held.values():
        for rc, amount in resources.items():
            out[rc] = out.get(rc, 0) + amount
    return dict(sorted(out.items()))


def move_kind(row: InstanceRow) -> str:
    """resize (a new flavor is pending) or migrate."""
    return "resize" if row.new_flavor is not None else "migrate"
