"""GET /v1/policy: every policy rule this server enforces, its default and its effective
check string (the policy file's, or the default).

Cloud admin only (``corral:policy:list``): the effective rules say who may do what, which
an attacker would rather know. ``corral policy list`` prints it; ``--local`` reads a
policy file on the operator's machine instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from corral.api.context import RequestContext
from corral.api.v1.common import allow, policy_of

MayPolicyList = Annotated[RequestContext, Depends(allow("corral:policy:list"))]

router = APIRouter(tags=["policy"])


@router.get("/policy")
def list_policy(
    request: Request, _ctx: MayPolicyList,
    overridden: Annotated[bool, Query(
        description="Only the rules the policy file changes.")] = False,
) -> dict[str, Any]:
    """Every rule: name, default, effective check string, whether the file overrides
    it, and what it guards."""
    return {"rules": [r.record() for r in policy_of(request).rules()
                      if r.overridden or not overridden]}
