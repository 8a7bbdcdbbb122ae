"""POST /reshaper: a reshape that removes a class from a provider and, in the same
request, still allocates that class there is a 409 ``placement.inventory.inuse``.

Placement applies the new inventories only after the new allocations (it claims against
the union of old and new, then removes what the request dropped), so the removal is what
fails: the class is in use. Nova's report client reads that code to tell an inventory in
use from other failures. Nothing is written.
"""

from __future__ import annotations

from typing import Any

from .helpers import assert_error, generation
from .test_reshaper import (
    assert_untouched,
    generations,
    host,  # noqa: F401 (fixture)
    move_vcpu,
    reshape,
)


def test_a_reshape_keeping_an_allocation_on_a_class_it_removes_is_inventory_in_use(
        api: Any, host: dict[str, str]) -> None:  # noqa: F811 (fixture)
    gens = generations(api, host)
    data = move_vcpu(api, host)
    cn = host["cn"]
    # vm2 is rewritten by the reshape, but keeps its VCPU on cn, whose VCPU goes away.
    data["allocations"][host["vm2"]]["allocations"] = {cn: {"resources": {"VCPU": 1}}}
    assert data["inventories"][cn]["resource_provider_generation"] == generation(api, cn)
    entry = assert_error(reshape(api, data), 409, version="1.30",
                         code="placement.inventory.inuse")
    assert "VCPU" in entry["detail"] and cn in entry["detail"], entry
    assert_untouched(api, host, gens)
