"""Every policy rule corral enforces: its name, default check string and what it guards.

Placement's rules keep the names Placement gives them (``placement:...``), so an
operator's Placement ``policy.yaml`` applies unchanged; corral's own /v1 rules are named
``corral:<noun>:<action>``. Both refer to a few base rules an operator may also
override (``admin_or_service``, ``project_reader``, ...). The defaults reproduce the
built-in behaviour of docs/access.md exactly. Two checks of corral's own extend the
grammar (services/policy.py): ``subtree:%(project_id)s`` (the caller's project is the
target project or one of its ancestors) and ``project_role:%(project_id)s`` (the caller
holds any role in the target project).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule: its name, default check string, what it guards and its legacy default
    (used, or-ed with the new one, when ``enforce_new_defaults`` is false)."""

    name: str
    default: str
    description: str
    legacy: str | None = None


_ADMIN_OR_SERVICE = "rule:admin_or_service"
_ANY_ROLE = "(role:reader or role:member or role:project-admin or role:admin)"
_WRITE_ROLE = "(role:member or role:project-admin or role:admin)"
_SUBTREE = "(role:project-admin and subtree:%(project_id)s)"

BASE_RULES: tuple[Rule, ...] = (
    Rule("admin_or_service", "role:admin or role:service",
         "The cloud admin: admin or service on a project-scoped token."),
    Rule("service_api", "role:service", "Services (Nova, Neutron) only."),
    Rule("project_reader_or_admin_or_service_api",
         "rule:admin_or_service or ((role:reader or role:member or role:admin) "
         "and project_id:%(project_id)s)",
         "The cloud admin, or a reader of the project asked about."),
    Rule("project_reader", f"{_ADMIN_OR_SERVICE} or project_role:%(project_id)s or {_SUBTREE}",
         "May see a project: any role in it, or project-admin of it or an ancestor."),
    Rule("project_admin", f"{_ADMIN_OR_SERVICE} or {_SUBTREE}",
         "Project-admin of the project or of an ancestor."),
    Rule("project_manager",
         f"{_ADMIN_OR_SERVICE} or ({_SUBTREE} and not project_id:%(project_id)s)",
         "May change a project: project-admin of a strict ancestor (never its own)."),
    Rule("project_read",
         f"{_ADMIN_OR_SERVICE} or ({_ANY_ROLE} and project_id:%(project_id)s) or {_SUBTREE}",
         "Reads in a project: a role there, or project-admin of it or an ancestor."),
    Rule("project_write",
         f"{_ADMIN_OR_SERVICE} or ({_WRITE_ROLE} and project_id:%(project_id)s) or {_SUBTREE}",
         "Writes in a project: member or above there, or project-admin above it."),
)


def _placement(name: str, what: str, base: str = "admin_or_service") -> Rule:
    return Rule(f"placement:{name}", f"rule:{base}", what)


PLACEMENT_RULES: tuple[Rule, ...] = (
    _placement("resource_providers:list", "GET /resource_providers"),
    _placement("resource_providers:create", "POST /resource_providers"),
    _placement("resource_providers:show", "GET /resource_providers/{uuid}"),
    _placement("resource_providers:update", "PUT /resource_providers/{uuid}"),
    _placement("resource_providers:delete", "DELETE /resource_providers/{uuid}"),
    _placement("resource_providers:inventories:list", "GET .../inventories, .../inventories/{rc}"),
    _placement("resource_providers:inventories:create", "POST .../inventories"),
    _placement("resource_providers:inventories:update", "PUT .../inventories[/{rc}]"),
    _placement("resource_providers:inventories:delete", "DELETE .../inventories[/{rc}]"),
    _placement("resource_providers:aggregates:list", "GET .../aggregates"),
    _placement("resource_providers:aggregates:update", "PUT .../aggregates"),
    _placement("resource_providers:traits:list", "GET .../traits"),
    _placement("resource_providers:traits:update", "PUT .../traits"),
    _placement("resource_providers:traits:delete", "DELETE .../traits"),
    _placement("resource_providers:usages", "GET .../usages"),
    _placement("resource_providers:allocations:list", "GET .../allocations"),
    _placement("resource_classes:list", "GET /resource_classes"),
    _placement("resource_classes:create", "POST /resource_classes"),
    _placement("resource_classes:show", "GET /resource_classes/{name}"),
    _placement("resource_classes:update", "PUT /resource_classes/{name}"),
    _placement("resource_classes:delete", "DELETE /resource_classes/{name}"),
    _placement("traits:list", "GET /traits"),
    _placement("traits:show", "GET /traits/{name}"),
    _placement("traits:update", "PUT /traits/{name}"),
    _placement("traits:delete", "DELETE /traits/{name}"),
    _placement("allocations:manage", "POST /allocations"),
    _placement("allocations:list", "GET /allocations/{consumer_uuid}"),
    _placement("allocations:update", "PUT /allocations/{consumer_uuid}"),
    _placement("allocations:delete", "DELETE /allocations/{consumer_uuid}"),
    _placement("allocation_candidates:list", "GET /allocation_candidates"),
    _placement("usages", "GET /usages (target: the project asked about)",
               "project_reader_or_admin_or_service_api"),
    Rule("placement:reshaper:reshape", "rule:service_api", "POST /reshaper",
         legacy="role:admin"),
)


def _corral(name: str, base: str, what: str) -> Rule:
    return Rule(f"corral:{name}", f"rule:{base}", what)


_ADMIN = "admin_or_service"

V1_RULES: tuple[Rule, ...] = (
    *(_corral(f"aggregates:{a}", _ADMIN, f"{a} host aggregates")
      for a in ("create", "list", "show", "update", "delete", "hosts:add", "hosts:remove")),
    *(_corral(f"capacity:{a}", _ADMIN, f"GET /v1/capacity{p}")
      for a, p in (("show", ""), ("utilization", "/utilization"), ("stranded", "/stranded"))),
    *(_corral(f"flavors:{a}", _ADMIN, f"{a} flavors")
      for a in ("create", "update", "delete", "extra_specs:update", "extra_specs:delete",
                "access:list", "access:add", "access:remove")),
    *(_corral(f"hosts:{a}", _ADMIN, f"{a} hosts")
      for a in ("list", "show", "report", "heartbeat", "update", "delete")),
    _corral("instances:create", "project_write", "boot in a project (target: the project)"),
    _corral("instances:list", "project_read", "list a project's instances"),
    _corral("instances:show", "project_read", "show an instance (target: its project)"),
    _corral("instances:delete", "project_write", "delete an instance"),
    _corral("instances:resize", "project_write", "resize an instance"),
    _corral("instances:confirm", "project_write", "confirm a resize"),
    _corral("instances:revert", "project_write", "revert a resize"),
    _corral("instances:build_report", _ADMIN, "report an instance's build"),
    _corral("instances:migrate", _ADMIN, "migrate an instance"),
    _corral("decisions:list", "project_read", "list placement decisions"),
    _corral("decisions:show", "project_read", "show a placement decision"),
    _corral("projects:create", "project_manager", "create a project (target: its parent)"),
    _corral("projects:create_root", _ADMIN, "create a root project"),
    _corral("projects:list", "project_reader", "list projects (target: the root asked)"),
    _corral("projects:list_all", _ADMIN, "list the whole tree"),
    _corral("projects:show", "project_reader", "show a project"),
    _corral("projects:update", "project_manager", "rename or move a project"),
    _corral("projects:delete", "project_manager", "delete a project"),
    _corral("projects:quota", "project_reader", "show a project's quota"),
    _corral("limits:show", "project_reader", "show a project's limits"),
    _corral("limits:update", "project_manager", "set a project's limits"),
    _corral("limits:delete", "project_manager", "drop a project's limit"),
    _corral("limits:defaults:update", _ADMIN, "set the default limits"),
    _corral("limits:defaults:delete", _ADMIN, "drop a default limit"),
    _corral("quota:audit", _ADMIN, "audit (and fix) the quota books"),
    _corral("audit_log:list", _ADMIN, "GET /v1/audit-log"),
    _corral("events:list", _ADMIN, "GET /v1/events"),
    _corral("keystone:sync", _ADMIN, "POST /v1/keystone/sync"),
    # The server's settings and the fleet copied for a simulation: the cloud admin's only
    # (the service role is not an administrator of /v1).
    Rule("corral:config:show", "role:admin", "GET /v1/config"),
    Rule("corral:simulation:fleet", "role:admin", "GET /v1/simulation/fleet"),
    Rule("corral:policy:list", "role:admin", "GET /v1/policy"),
    _corral("server_groups:create", "project_write", "create a server group"),
    _corral("server_groups:create:other_user", _ADMIN,
            "create a server group recorded as another user's"),
    _corral("server_groups:list", "project_read", "list server groups"),
    _corral("server_groups:show", "project_read", "show a server group"),
    _corral("server_groups:delete", "project_write", "delete a server group"),
    _corral("tokens:create", "project_admin", "create a token (target: its project)"),
    _corral("tokens:list", "project_admin", "list tokens (target: the caller's project)"),
    _corral("tokens:show", "project_admin", "show a token (target: its project)"),
    _corral("tokens:revoke", "project_admin", "revoke a token (target: its project)"),
    Rule("corral:metrics:read", "rule:admin_or_service or role:metrics_reader",
         "GET /metrics (give the scraper a static token with the metrics_reader role)"),
    _corral("dashboard:view", _ADMIN, "the /ui dashboard"),
)

ALL_RULES: tuple[Rule, ...] = (*BASE_RULES, *PLACEMENT_RULES, *V1_RULES)
