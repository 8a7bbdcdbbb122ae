"""Who is asking (noauth2 and static tokens) and Placement's default policy rules."""

from __future__ import annotations

import pytest

from corral.api.context import RequestContext, allowed, authenticate
from corral.config import Settings
from corral.services.policy import Policy

NOAUTH = Settings()
TOKENS = Settings(auth_strategy="tokens", api_tokens="s=nova:svc:service,b=bob:ops:admin+reader")


@pytest.mark.parametrize("token,roles,scope,expected", [
    ("admin", None, None, RequestContext("admin", "admin", frozenset({"admin"}))),
    ("admin:p", None, None, RequestContext("admin", "p", frozenset({"admin"}))),
    ("u:p", None, None, RequestContext("u", "p", frozenset())),
    ("u", None, None, RequestContext("u", "u", frozenset())),
    ("u:p", "reader, member", None, RequestContext("u", "p", frozenset({"reader", "member"}))),
    ("admin", "reader", None, RequestContext("admin", "admin", frozenset({"reader"}))),
    ("admin", "", None, RequestContext("admin", "admin", frozenset())),
    ("u:p", "admin", "all", RequestContext("u", None, frozenset({"admin"}), "all")),
])
def test_noauth2(token: str, roles: str | None, scope: str | None,
                 expected: RequestContext) -> None:
    assert authenticate(NOAUTH, token, roles, scope) == expected


@pytest.mark.parametrize("token", [None, ""])
def test_no_token(token: str | None) -> None:
    assert authenticate(NOAUTH, token, None, None) is None
    assert authenticate(TOKENS, token, None, None) is None


def test_static_tokens() -> None:
    assert authenticate(TOKENS, "s", None, None) == RequestContext(
        "nova", "svc", frozenset({"service"}))
    assert authenticate(TOKENS, "s", "admin", None) == RequestContext(
        "nova", "svc", frozenset({"service"}))
    assert authenticate(TOKENS, "b", None, "all") == RequestContext(
        "bob", "ops", frozenset({"admin", "reader"}), "all")
    assert authenticate(TOKENS, "admin", None, None) is None
    assert authenticate(TOKENS, "u:p", "admin", None) is None


def _ctx(*roles: str, project: str | None = "p", scope: str | None = None) -> RequestContext:
    return RequestContext("u", project, frozenset(roles), scope)


POLICIES = {new: Policy(enforce_new_defaults=new) for new in (True, False)}


@pytest.mark.parametrize("new", [True, False])
@pytest.mark.parametrize("roles,ok", [
    (("admin",), True), (("service",), True), (("reader",), False), (("member",), False),
    ((), False),
])
def test_admin_or_service(roles: tuple[str, ...], ok: bool, new: bool) -> None:
    assert allowed(POLICIES[new], _ctx(*roles), "placement:resource_providers:list") is ok


@pytest.mark.parametrize("new,roles,ok", [
    (True, ("service",), True), (True, ("admin",), False), (True, ("reader",), False),
    (False, ("service",), True), (False, ("admin",), True), (False, ("reader",), False),
])
def test_service_rule_lets_admins_in_only_under_legacy_defaults(new: bool,
                                                                roles: tuple[str, ...],
                                                                ok: bool) -> None:
    assert allowed(POLICIES[new], _ctx(*roles), "placement:reshaper:reshape") is ok


@pytest.mark.parametrize("roles,target,ok", [
    (("reader",), "p", True), (("reader",), "other", False), (("reader",), None, False),
    (("admin",), "other", True), (("service",), "other", True), ((), "p", False),
])
def test_project_reader_or_admin(roles: tuple[str, ...], target: str | None, ok: bool) -> None:
    assert allowed(POLICIES[True], _ctx(*roles), "placement:usages", target) is ok


@pytest.mark.parametrize("rule", ["placement:resource_providers:list", "placement:usages",
                                  "placement:reshaper:reshape"])
@pytest.mark.parametrize("new", [True, False])
def test_system_scope_is_always_refused(rule: str, new: bool) -> None:
    ctx = _ctx("admin", "service", "reader", project=None, scope="all")
    assert allowed(POLICIES[new], ctx, rule, "p") is False
