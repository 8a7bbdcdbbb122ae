"""The quota ledger: usage moved in the claim's transaction, limits enforced up the tree
(docs/quotas.md; the audit that recounts it is services/quota_audit.py).

Every allocation write goes through :func:`charge` in its own transaction: the usage a
write adds or gives back moves the project's ``own`` usage and the ``subtree`` usage of
the project and every ancestor. With ``enforce`` (boots, resizes, migrations), a move
that would take any of them past its limit is refused with QuotaExceeded and the whole
transaction rolls back. Rows are locked in (project, resource) order after a shared lock
on the tree, so two claims racing for the last unit anywhere in the tree serialise: one
fits, the other is refused.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping

from corral.domain import quotas
from corral.domain.quotas import Chains
from corral.services.stores import Repo

Key = tuple[str, str]  # (project id, resource)


def charge(repo: Repo, deltas: Mapping[Key, int], *, enforce: bool) -> None:
    """Move usage by ``deltas`` ((project id, resource) -> amount) in ``repo``'s transaction.

    Projects not seen before become roots. Raises QuotaExceeded (with ``enforce``) when
    a positive move would exceed the limit of the project or of an ancestor.
    """
    wanted = {k: v for k, v in deltas.items() if v}
    if not wanted:
        return
    repo.share_quota_tree()
    projects = {p for p, _res in wanted}
    found = repo.quota_chains(projects)
    unknown = projects - set(found.chains)
    if unknown:  # first seen here (a server group before any allocation): a new root
        for p in sorted(unknown):
            repo.ensure_project(p)
        found = repo.quota_chains(projects)
    moves: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])
    for (project, res), amount in wanted.items():
        chain = found.chains[project]
        moves[(chain[0][0], res)][0] += amount
        for pid, _ext in chain:
            moves[(pid, res)][1] += amount
    repo.ensure_usage_rows(k for k in moves if k not in found.usage)
    ids = {pid for pid, _res in moves}
    usage = repo.lock_usage(ids, read=found.usage)
    if enforce:
        _enforce(found, wanted, moves, usage)
    repo.move_usage({k: (own, sub) for k, (own, sub) in moves.items()})


def _enforce(found: Chains, wanted: Mapping[Key, int],
             moves: Mapping[tuple[int, str], list[int]],
             usage: Mapping[tuple[int, str], tuple[int, int]]) -> None:
    for (project, res), amount in sorted(wanted.items()):
        if amount <= 0:
            continue
        for pid, ext in found.chains[project]:
            asked = moves[(pid, res)][1]
            limit = quotas.effective_limit(found.limits.get((pid, res)), found.defaults.get(res))
            in_use = usage.get((pid, res), (0, 0))[1]
            if not quotas.fits(limit, in_use, asked):
                raise quotas.QuotaExceeded(ext, res, limit, in_use, asked, project)


def check_group_members(repo: Repo, adding: Mapping[tuple[str, str], int]) -> None:
    """Refuse new members past ``server_group_members`` of the group's project or any
    ancestor. ``adding``: (group id, its project) -> members this claim adds. Each group
    is locked first (id order), so racing boots into one group count each other."""
    if not adding:
        return
    found = repo.quota_chains({project for _group, project in adding})
    res = quotas.SERVER_GROUP_MEMBERS
    for group, project in sorted(adding):
        chain = found.chains.get(project, [])
        limits = [(ext, quotas.effective_limit(found.limits.get((pid, res)),
                                               found.defaults.get(res))) for pid, ext in chain]
        if all(limit == quotas.UNLIMITED for _ext, limit in limits):
            continue
        repo.lock_server_group(group)
        members = sum(repo.group_members_by_host(group).values())
        for ext, limit in limits:
            if not quotas.fits(limit, members, adding[(group, project)]):
                raise quotas.QuotaExceeded(ext, res, limit, members, adding[(group, project)],
                                           project)
