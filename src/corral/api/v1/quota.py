"""/v1/quota/audit: recount usage, report drift and orphaned allocations, repair them."""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from corral.api.v1.access import require_cloud_admin
from corral.api.v1.common import Body, Caller, acting
from corral.services.quota_audit import Auditor

router = APIRouter(tags=["quotas"])


class AuditBody(Body):
    project: str | None = None
    fix: bool = False


@router.post("/quota/audit")
def run_audit(request: Request, ctx: Caller, body: AuditBody | None = None) -> dict[str, object]:
    """Recount every project's usage from its allocations, instances and server groups;
    list each drift (ledger says, reality says) and each orphaned allocation. With
    ``fix``, repair them all in one transaction. Admin only."""
    require_cloud_admin(request, ctx)
    body = body or AuditBody()
    auditor: Auditor = request.app.state.auditor
    report = auditor.run(project=body.project, fix=body.fix, actor=acting(request, ctx))
    return {"clean": report.clean, "fixed": report.fixed,
            "drifts": [asdict(d) for d in report.drifts],
            "orphans": [asdict(o) for o in report.orphans]}
