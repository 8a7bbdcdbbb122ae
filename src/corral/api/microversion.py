"""Placement microversions: the list, the header parser and the Version value.

Each entry says what changed; handlers branch with ``version.matches((1, N))``
exactly where behaviour differs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SERVICE = "placement"
HEADER = "OpenStack-API-Version"

VERSIONS: list[tuple[str, str]] = [
    ("1.0", "Initial version: providers, inventories, usages, allocations."),
    ("1.1", "Provider aggregates."),
    ("1.2", "Custom resource classes."),
    ("1.3", "member_of filter on GET /resource_providers."),
    ("1.4", "resources filter on GET /resource_providers."),
    ("1.5", "DELETE all inventories of a provider."),
    ("1.6", "Traits."),
    ("1.7", "PUT /resource_classes/{name} is create-or-verify, bodiless."),
    ("1.8", "project_id and user_id required on allocation writes."),
    ("1.9", "GET /usages by project and user."),
    ("1.10", "GET /allocation_candidates."),
    ("1.11", "allocations link on providers."),
    ("1.12", "Dict format of PUT /allocations; project/user in GET."),
    ("1.13", "POST /allocations for several consumers."),
    ("1.14", "Nested providers: parent_provider_uuid, root_provider_uuid, in_tree."),
    ("1.15", "last-modified and cache-control headers."),
    ("1.16", "limit on allocation candidates."),
    ("1.17", "required traits on allocation candidates."),
    ("1.18", "required traits on GET /resource_providers."),
    ("1.19", "Provider aggregates carry and check the provider generation."),
    ("1.20", "POST /resource_providers returns the provider."),
    ("1.21", "member_of on allocation candidates."),
    ("1.22", "Forbidden traits (!TRAIT)."),
    ("1.23", "Error codes in error bodies."),
    ("1.24", "Repeated member_of parameters."),
    ("1.25", "Granular (numbered) request groups."),
    ("1.26", "Inventory reserved may equal total."),
    ("1.27", "Provider summaries list every class of a provider."),
    ("1.28", "Consumer generations."),
    ("1.29", "Nested providers in allocation candidates."),
    ("1.30", "POST /reshaper."),
    ("1.31", "in_tree on allocation candidates."),
    ("1.32", "Forbidden aggregates (!member_of)."),
    ("1.33", "String suffixes for request groups."),
    ("1.34", "mappings in allocation requests."),
    ("1.35", "root_required on allocation candidates."),
    ("1.36", "same_subtree on allocation candidates."),
    ("1.37", "Re-parenting and un-parenting providers."),
    ("1.38", "Consumer types."),
    ("1.39", "Any-of traits (in:) and repeated required parameters."),
]

#: A version: two whole numbers without leading zeros. Each has at most 9 digits, so a
#: header is refused (400) before ``int`` is asked to convert a number of any length
#: (Python refuses past 4,300 digits, and this happens before authentication).
_NUMBER = re.compile(r"^([1-9][0-9]{0,8}|0)\.([1-9][0-9]{0,8}|0)$", re.ASCII)


@dataclass(frozen=True, order=True, slots=True)
class Version:
    major: int
    minor: int

    def matches(self, min_version: tuple[int, int] = (1, 0),
                max_version: tuple[int, int] | None = None) -> bool:
        """True when this version is within [min_version, max_version]."""
        mine = (self.major, self.minor)
        return mine >= min_version and (max_version is None or mine <= max_version)

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"


MIN_VERSION = Version(1, 0)
MAX_VERSION = Version(*map(int, VERSIONS[-1][0].split(".")))


class BadVersion(Exception):
    """The header is malformed (400)."""


class UnacceptableVersion(Exception):
    """The version is well formed but outside what corral serves (406)."""


def parse_header(value: str | None) -> Version:
    """Read the placement version from an ``OpenStack-API-Version`` header value.

    The header may name several services (``compute 2.1, placement 1.20``); with no
    placement entry the version is the minimum, ``latest`` the maximum.
    """
    if not value:
        return MIN_VERSION
    wanted = None
    for part in value.split(","):
        words = part.strip().split()
        if len(words) == 2 and words[0].lower() == SERVICE:
            wanted = words[1]
        elif words and words[0].lower() == SERVICE:
            raise BadVersion(f"invalid version string: {part.strip()}")
    if wanted is None:
        return MIN_VERSION
    if wanted.lower() == "latest":
        return MAX_VERSION
    match = _NUMBER.match(wanted)
    if not match:
        shown = wanted if len(wanted) <= 40 else f"{wanted[:30]}... ({len(wanted)} characters)"
        raise BadVersion(f"invalid version string: {shown}; expected MAJOR.MINOR, each a "
                         "whole number of at most 9 digits, or 'latest'")
    version = Version(int(match.group(1)), int(match.group(2)))
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise UnacceptableVersion(
            f"Unacceptable version header: {wanted}; this service supports "
            f"{MIN_VERSION} to {MAX_VERSION}")
    return version
