"""corral quota audit: a clean ledger, planted drift found (exit 3) and repaired (--fix)."""

from __future__ import annotations

from sqlalchemy import text

from corral.persistence import Store

from .conftest import Cli
from .test_instances_cli import boot, flavors, fleet


def test_audit_finds_and_fixes_planted_drift(any_cli: Cli, store: Store) -> None:
    fleet(store, cn1=8)
    flavors(any_cli)
    any_cli.ok("project", "create", "org")
    any_cli.ok("project", "create", "p1", "--parent", "org")
    boot(any_cli)
    clean = any_cli.ok("quota", "audit")
    assert "no drift, no orphans" in clean.stdout

    with store.engine.begin() as conn:  # the ledger says org's subtree uses 5 more cores
        conn.execute(text("UPDATE quota_usage SET subtree = subtree + 5 WHERE resource = 'cores'"
                          " AND project_id = (SELECT id FROM projects WHERE external_id = 'org')"))
    found = any_cli("quota", "audit")
    assert found.exit_code == 3, found.output
    assert "org" in found.stdout and "cores" in found.stdout and "6 / 1" in found.stdout
    assert "--fix" in found.stdout
    scoped = any_cli("quota", "audit", "--project", "p1")  # p1's ancestors are in scope
    assert scoped.exit_code == 3 and "org" in scoped.stdout

    fixed = any_cli.ok("quota", "audit", "--fix")
    assert "Repaired 1 drift(s)" in fixed.stdout
    assert "no drift" in any_cli.ok("quota", "audit").stdout
