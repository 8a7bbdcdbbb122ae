"""What the instance use cases need of the store, as narrow typed protocols (the SQL
Repository satisfies them structurally; persistence never imports this module).

Rows come back typed (domain/instances.py, domain/decisions.py,
domain/idempotency.py), never as ``dict[str, Any]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol

from corral.domain.decisions import DecisionRow
from corral.domain.idempotency import StoredResponse
from corral.domain.instances import InstanceRow, NewInstance


class InstanceStore(Protocol):
    def insert_instances(self, new: Sequence[NewInstance]) -> list[InstanceRow]: ...

    def get_instance_row(self, uuid: str, *, for_update: bool = False
                         ) -> InstanceRow | None: ...

    def instance_rows(self, *, project_id: str | None = None, host_id: int | None = None,
                      state: str | None = None, include_deleted: bool = False,
                      limit: int | None = None) -> list[InstanceRow]: ...

    def update_instance(self, uuid: str, values: Mapping[str, object]) -> None: ...

    def host_names_by_id(self, ids: Iterable[int | None]) -> dict[int, str]: ...


class DecisionStore(Protocol):
    def insert_decision(self, row: DecisionRow) -> None: ...

    def prune_decisions(self, before: datetime) -> int: ...

    def update_decision(self, uuid: str, values: Mapping[str, object]) -> None: ...

    def get_decision_row(self, uuid: str) -> DecisionRow | None: ...

    def decision_rows(self, *, project_id: str | None = None,
                      instance_uuid: str | None = None, also: str | None = None,
                      limit: int = 50) -> list[DecisionRow]: ...


class IdempotencyStore(Protocol):
    def idempotent_response(self, scope: str, key: str, *, since: datetime
                            ) -> StoredResponse | None: ...

    def insert_idempotent_response(self, scope: str, key: str, *, fingerprint: str,
                                   status: int, response: str, now: datetime,
                                   expired_before: datetime) -> None: ...

    def prune_idempotency_keys(self, before: datetime) -> int: ...
