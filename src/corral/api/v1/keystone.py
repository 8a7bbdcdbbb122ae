"""/v1/keystone/sync: compare corral's project tree with Keystone's now (admin only).

With ``auth_strategy = keystone`` corral's tree follows Keystone's hierarchy
(services/keystone_projects.py); ``corral serve`` syncs every
``[keystone_authtoken] project_sync_interval_s`` seconds, and this runs one at once.
"""

from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, Request

from corral.api.errors import ApiError
from corral.api.v1.access import require_cloud_admin
from corral.api.v1.common import Caller, acting, keystone_of

router = APIRouter(tags=["keystone"])


@router.post("/keystone/sync")
def sync_keystone_projects(request: Request, ctx: Caller) -> dict[str, object]:
    """Move every project Keystone moved (the checked move of ``corral project move``;
    a move the limits refuse is listed under ``refused``; each move is in the audit
    trail, for the caller) and list the projects Keystone no longer has (``deleted``:
    never deleted here). 409 unless ``auth_strategy =
    keystone``; 503 when Keystone cannot be asked. Admin only."""
    require_cloud_admin(request, ctx, "corral:keystone:sync")
    auth = keystone_of(request)
    if auth is None or auth.placer is None:
        raise ApiError(409, "The project tree follows Keystone only with auth_strategy = "
                       "keystone.", code="keystone_not_configured")
    return asdict(auth.placer.sync(acting(request, ctx)))
