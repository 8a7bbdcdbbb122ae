"""The storage port as the API and the CLI hold it: a ``Store`` they open through
:func:`corral.services.system.open_store` and hand to the services, never importing
``corral.persistence`` themselves (an import-linter contract says so).

Placeholder of the ``layers`` branch: the real module (a typing Protocol per noun and the
``Store`` protocol, which the SQL store satisfies structurally) replaces this one at the
merge; until then ``Store`` names the SQL store so the services' signatures type-check.
"""

from __future__ import annotations

from corral.persistence import Store as Store

__all__ = ["Store"]
