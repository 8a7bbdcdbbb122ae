"""The Repository: every query corral makes, bound to one transaction.

A Repository wraps one connection inside one transaction (see ``store.py``). Methods
read and write rows and translate integrity errors into domain errors; the rules
(what may change, when a generation must match) live in ``corral.services``. Each noun
is a mixin in a module of its own (``providers.py``, ``catalog.py``, ``hosts.py``,
``flavors.py``...); the services see them through the ports of
``corral.services.stores``, one per noun, which this class satisfies structurally.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection

from corral.persistence.allocations import AllocationQueries
from corral.persistence.audit_log import AuditQueries
from corral.persistence.catalog import CatalogQueries
from corral.persistence.events import EventQueries
from corral.persistence.flavors import FlavorQueries
from corral.persistence.fleet_policy import FleetPolicyQueries
from corral.persistence.heartbeats import HeartbeatQueries
from corral.persistence.hosts import HostQueries
from corral.persistence.idempotency import IdempotencyQueries
from corral.persistence.inbox import InboxQueries
from corral.persistence.instances import InstanceQueries
from corral.persistence.ledger import LedgerQueries
from corral.persistence.liveness import LivenessQueries
from corral.persistence.projects import ProjectQueries
from corral.persistence.providers import ProviderQueries
from corral.persistence.revisions import RevisionQueries
from corral.persistence.snapshot import SnapshotQueries
from corral.persistence.tokens import TokenQueries


class Repository(ProviderQueries, CatalogQueries, AllocationQueries, SnapshotQueries,
                 HostQueries, FlavorQueries, InstanceQueries, RevisionQueries, ProjectQueries,
                 LedgerQueries, TokenQueries, IdempotencyQueries, FleetPolicyQueries,
                 HeartbeatQueries, AuditQueries, EventQueries, InboxQueries,
                 LivenessQueries):
    """Every query corral makes, bound to one transaction."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        #: Change feed ids this transaction wrote, when known (see log_provider_changes).
        self.logged_changes: list[int] = []
        self.bumped: dict[int, tuple[int, datetime]] = {}
