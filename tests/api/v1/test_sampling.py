"""The scheduler's sampling mode (``score_sample_percent``, ``score_sample_minimum``) as
docs/configuration.md describes it: off by default; when on and more than the minimum
hosts pass the filters, only that percentage of them (at least the minimum) is weighed,
a sample that moves between decisions; filters are never sampled, so a sampled
decision never places where they forbid and refuses exactly as the exact one; the
funnel ends with a ``sampled`` step saying so.
"""

from __future__ import annotations

from typing import Any

from .helpers import V1
from .scheduling import AppFactory, app_with, boot, check_funnel, flavor, refused

__all__ = ["app_with"]

HOSTS = 20
DISABLED = 5  # the filters leave 15


def _fleet(v1: V1) -> list[str]:
    names = [f"s{i:02d}" for i in range(HOSTS)]
    for name in names:
        v1.report(name)
    for name in names[-DISABLED:]:
        v1.ok("PATCH", f"/hosts/{name}", json={"enabled": False, "disabled_reason": "rack"})
    flavor(v1, "small")
    return names[:-DISABLED]


def _dry_run(v1: V1) -> dict[str, Any]:
    r = boot(v1, "probe", dry_run=True)
    assert r.status_code == 200, r.text
    found: dict[str, Any] = r.json()
    check_funnel(found["funnel"])
    return found


def _chosen(answer: dict[str, Any]) -> str:
    host: str = answer["placements"][0]["host"]
    return host


def test_sampling_is_off_by_default(v1: V1) -> None:
    _fleet(v1)
    answers = [_dry_run(v1) for _ in range(10)]
    assert all(a["funnel"][-1]["step"] != "sampled" for a in answers), answers[0]["funnel"]
    # Exact: equal hosts, the same best every time (ties by name).
    assert {_chosen(a) for a in answers} == {"s00"}


def test_a_sample_of_the_percentage_but_at_least_the_minimum(v1: V1,
                                                             app_with: AppFactory) -> None:
    allowed = _fleet(v1)
    quarter = app_with(score_sample_percent=25, score_sample_minimum=3)
    funnel = _dry_run(quarter)["funnel"]
    # 15 pass the filters; a quarter of them, rounded up, is 4 (above the minimum).
    assert funnel[-2]["hosts"] == len(allowed)
    assert funnel[-1] == {"step": "sampled", "hosts": 4, "removed": len(allowed) - 4}
    floor = app_with(score_sample_percent=25, score_sample_minimum=6)
    assert _dry_run(floor)["funnel"][-1] == {"step": "sampled", "hosts": 6,
                                             "removed": len(allowed) - 6}
    # As many passing as the minimum or fewer: every one is weighed, no sampled step.
    whole = app_with(score_sample_percent=25, score_sample_minimum=len(allowed))
    assert _dry_run(whole)["funnel"][-1]["step"] != "sampled"


def test_the_sample_moves_and_never_leaves_what_the_filters_allow(
        v1: V1, app_with: AppFactory) -> None:
    allowed = _fleet(v1)
    sampled = app_with(score_sample_percent=25, score_sample_minimum=1)
    chosen = {_chosen(_dry_run(sampled)) for _ in range(30)}
    # Not always the exact best (s00): the sample starts at random each decision. Four
    # starts are possible for a best-by-name of a sample of every fourth host: the
    # chance that 30 decisions all land on one is 4 * 4**-30.
    assert len(chosen) > 1, chosen
    assert chosen <= set(allowed), chosen - set(allowed)
    for i in range(12):  # real boots too, each one seeing the ones before
        r = boot(sampled, f"vm{i}")
        assert r.status_code == 201, r.text
        assert r.json()["instances"][0]["host"] in allowed, r.text


def test_a_refusal_is_the_same_sampled_or_not(v1: V1, app_with: AppFactory) -> None:
    allowed = _fleet(v1)
    for name in allowed:
        v1.ok("PATCH", f"/hosts/{name}", json={"forced_down": True})
    sampled = app_with(score_sample_percent=10, score_sample_minimum=1)
    exact = refused(boot(v1, "vm"), "hosts_unavailable")
    again = refused(boot(sampled, "vm"), "hosts_unavailable")
    for explanation in (exact, again):
        explanation.pop("decision_id", None)
    assert again == exact
