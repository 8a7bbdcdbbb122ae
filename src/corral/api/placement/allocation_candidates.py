"""GET /allocation_candidates (1.10 and every later change to it)."""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from corral.api.errors import ApiError
from corral.api.microversion import Version
from corral.api.placement import query
from corral.api.placement.util import (
    authorize,
    check_accept,
    require_version,
    respond,
    settings,
    version,
)
from corral.domain import codes
from corral.domain.errors import BadQuery
from corral.domain.names import normalize_uuid
from corral.engine.request import CandidateRequest, RequestGroup
from corral.services.candidates import CandidateFinder, CandidateResult

_PREFIXES = ("resources", "required", "member_of", "in_tree")
_NUMERIC = re.compile(r"^(resources|required|member_of|in_tree)([1-9][0-9]*)?$")
_STRING = re.compile(r"^(resources|required|member_of|in_tree)([a-zA-Z0-9_-]{1,64})?$")


def _allowed_plain(v: Version) -> set[str]:
    names = {"resources"}
    for minimum, name in (((1, 16), "limit"), ((1, 17), "required"), ((1, 21), "member_of"),
                          ((1, 25), "group_policy"), ((1, 31), "in_tree"),
                          ((1, 35), "root_required"), ((1, 36), "same_subtree")):
        if v.matches(minimum):
            names.add(name)
    return names


def _first(request: Request, name: str) -> str | None:
    values = request.query_params.getlist(name)
    return values[0] if values else None


def parse_request(request: Request) -> CandidateRequest:
    """Turn the query string into a CandidateRequest, refusing what the version forbids."""
    v = version(request)
    params = request.query_params
    plain = _allowed_plain(v)
    pattern = _STRING if v.matches((1, 33)) else _NUMERIC
    suffixes: dict[str, dict[str, str]] = {}
    for key in params:
        match = pattern.match(key) if v.matches((1, 25)) else None
        if key in plain and key not in _PREFIXES:
            continue
        if key in plain or (match and match.group(1) in plain):
            prefix, suffix = (match.group(1), match.group(2) or "") if match else (key, "")
            suffixes.setdefault(suffix, {})[prefix] = key
            continue
        raise ApiError(400, f"Invalid query string parameters: '{key}' is not an allowed "
                       f"parameter at microversion {v}", code=codes.QUERY_BAD_VALUE)
    bound = settings(request).max_request_groups
    if len(suffixes) > bound:  # the work of a request grows with its groups: bounded
        raise ApiError(400, f"Invalid query string parameters: {len(suffixes)} request groups "
                       f"named; at most {bound} are allowed in one request "
                       "(max_request_groups).", code=codes.QUERY_BAD_VALUE)
    groups: list[RequestGroup] = []
    for suffix, keys in sorted(suffixes.items()):
        groups.append(_group(request, v, suffix, keys))
    same_subtree = _same_subtree(request, groups)
    if v.matches((1, 36)):
        _check_groups(groups, same_subtree)
    else:
        _check_orphans(groups)
    # Every suffixed group counts, resourceless ones (1.36) too, as in Placement.
    suffixed = [g for g in groups if g.suffix]
    # A repeated limit or group_policy counts once, with its first value (as Placement).
    policy = _first(request, "group_policy")
    if policy is not None and policy not in ("none", "isolate"):
        raise ApiError(400, f"Invalid query string parameters: group_policy must be 'none' or "
                       f"'isolate', got {policy!r}", code=codes.QUERY_BAD_VALUE)
    if policy is None and len(suffixed) > 1:
        raise ApiError(400, 'The "group_policy" parameter is required when specifying more '
                       'than one "resources{N}" parameter.', code=codes.QUERY_MISSING_VALUE)
    limit = None
    if "limit" in params:
        limit = query.limit(_first(request, "limit") or "")
    root_required: frozenset[str] = frozenset()
    root_forbidden: frozenset[str] = frozenset()
    if "root_required" in params:
        root_required, root_forbidden = _root_required(request)
    return CandidateRequest(groups=tuple(groups), group_policy=policy or "none", limit=limit,
                            root_required=root_required, root_forbidden=root_forbidden,
                            same_subtree=same_subtree, nested=v.matches((1, 29)))


def _group(request: Request, v: Version, suffix: str, keys: dict[str, str]) -> RequestGroup:
    params = request.query_params
    resources: tuple[tuple[str, int], ...] = ()
    if "resources" in keys:
        resources = query.resources(params[keys["resources"]], keys["resources"])
    required: tuple[frozenset[str], ...] = ()
    forbidden: frozenset[str] = frozenset()
    if "required" in keys:
        required, forbidden = query.required_traits(request, v, keys["required"])
        for any_of in required:
            if any_of <= forbidden:
                raise ApiError(400, "Conflicting required and forbidden traits found in the "
                               f"following traits keys: {keys['required']}: "
                               f"({', '.join(sorted(any_of))})")
    member_of: tuple[frozenset[str], ...] = ()
    forbidden_aggs: frozenset[str] = frozenset()
    if "member_of" in keys:
        member_of, forbidden_aggs = query.member_of(request, v, keys["member_of"])
    in_tree = None
    if "in_tree" in keys:
        in_tree = normalize_uuid(params[keys["in_tree"]])
        if in_tree is None:
            raise ApiError(400, f"Invalid query string parameters: Expected '{keys['in_tree']}' "
                           f"parameter to be a format of uuid. Got: {params[keys['in_tree']]}",
                           code=codes.QUERY_BAD_VALUE)
    return RequestGroup(suffix, resources, required, forbidden, member_of, forbidden_aggs, in_tree)


def _same_subtree(request: Request, groups: list[RequestGroup]) -> tuple[tuple[str, ...], ...]:
    known = {g.suffix for g in groups}
    out: list[tuple[str, ...]] = []
    for value in request.query_params.getlist("same_subtree"):
        names = tuple(n.strip() for n in value.split(","))
        if "" in names:
            raise ApiError(400, "Empty string (unsuffixed group) can not be specified in "
                           "`same_subtree` ", code=codes.QUERY_BAD_VALUE)
        bad = [n for n in names if n not in known]
        if bad:
            raise ApiError(400, f"Real suffixes should be specified in `same_subtree`: {bad} not "
                           f"found in {sorted(known)}.", code=codes.QUERY_BAD_VALUE)
        out.append(names)
    return tuple(out)


def _no_resources() -> ApiError:
    return ApiError(400, "There must be at least one resources or resources[$S] parameter.",
                    code=codes.QUERY_MISSING_VALUE)


def _check_groups(groups: list[RequestGroup], same_subtree: tuple[tuple[str, ...], ...]) -> None:
    """1.36: a group without resources only places its traits and aggregates, and must be
    named in same_subtree (the unsuffixed group never can be)."""
    if not any(g.resources for g in groups):
        raise _no_resources()
    in_subtree = {s for names in same_subtree for s in names}
    bad = [g.suffix for g in groups if not g.resources and g.suffix not in in_subtree]
    if bad:
        raise ApiError(400, "Resourceless suffixed group request should be specified in "
                       f"`same_subtree` query param: bad group(s) - {bad}.",
                       code=codes.QUERY_BAD_VALUE)


def _check_orphans(groups: list[RequestGroup]) -> None:
    """Before 1.36 every group needs resources; traits or aggregates without are orphans."""
    orphans = [f"required{g.suffix}" for g in groups if not g.resources
               and (g.required or g.forbidden)]
    if orphans:
        raise ApiError(400, "All traits parameters must be associated with resources. "
                       f"Found the following orphaned traits keys: {', '.join(orphans)}")
    orphans = [f"member_of{g.suffix}" for g in groups if not g.resources
               and (g.member_of or g.forbidden_aggregates)]
    if orphans:
        raise ApiError(400, "All member_of parameters must be associated with resources. "
                       f"Found the following orphaned member_of keys: {', '.join(orphans)}")
    if not groups or not any(g.resources for g in groups):
        raise _no_resources()
    if not all(g.resources for g in groups):
        raise ApiError(400, "All request groups must specify resources.")


def _root_required(request: Request) -> tuple[frozenset[str], frozenset[str]]:
    required: set[str] = set()
    forbidden: set[str] = set()
    values = request.query_params.getlist("root_required")
    if len(values) > 1:
        raise BadQuery("Query parameter 'root_required' may be specified only once.",
                       code=codes.QUERY_DUPLICATE_KEY)
    for value in values:
        for name in (n.strip() for n in value.split(",")):
            if not name or name.startswith("in:"):
                raise BadQuery(f"Invalid query string parameters: Expected 'root_required' "
                               f"to be a comma-separated list of traits, each optionally "
                               f"prefixed with '!'. Got: {value}")
            (forbidden if name.startswith("!") else required).add(name.lstrip("!"))
    both = required & forbidden
    if both:
        raise BadQuery("Conflicting required and forbidden traits found in root_required: "
                       + ", ".join(sorted(both)))
    return frozenset(required), frozenset(forbidden)


def render(result: CandidateResult, v: Version) -> dict[str, Any]:
    requests: list[dict[str, Any]] = []
    for ar in result.allocation_requests:
        if v.matches((1, 12)):
            item: dict[str, Any] = {"allocations": {
                rp: {"resources": res} for rp, res in ar.allocations.items()}}
        else:
            item = {"allocations": [{"resource_provider": {"uuid": rp}, "resources": res}
                                    for rp, res in ar.allocations.items()]}
        if v.matches((1, 34)):
            item["mappings"] = ar.mappings
        requests.append(item)
    summaries: dict[str, Any] = {}
    for uuid, s in result.summaries.items():
        entry: dict[str, Any] = {"resources": {
            rc: {"capacity": cap, "used": used} for rc, (cap, used) in s.resources.items()}}
        if v.matches((1, 17)):
            entry["traits"] = s.traits
        if v.matches((1, 29)):
            entry["parent_provider_uuid"] = s.parent_uuid
            entry["root_provider_uuid"] = s.root_uuid
        summaries[uuid] = entry
    return {"allocation_requests": requests, "provider_summaries": summaries}


def list_allocation_candidates(request: Request) -> Response:
    require_version(request, (1, 10))
    authorize(request, "placement:allocation_candidates:list")
    check_accept(request)
    req = parse_request(request)
    v = version(request)
    conf = settings(request)
    finder: CandidateFinder = request.app.state.finder
    result = finder.find(
        req, requested_classes_only=not v.matches((1, 27)),
        max_candidates=(None if conf.max_allocation_candidates < 0
                        else conf.max_allocation_candidates),
        randomize=conf.randomize_allocation_candidates,
        distinct_allocations=not v.matches((1, 34)),
        max_combinations=conf.max_candidate_combinations)
    return respond(request, render(result, v))
