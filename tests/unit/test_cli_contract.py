"""The CLI stays a client of the API (issue 14, part 8): the import contract covers every
module of ``corral.cli`` but the exempt ones, so a command module written tomorrow that
imports the services, the persistence, or an exempt module that opens the database,
breaks it without anyone editing a list.

The contract is read from pyproject.toml as lint-imports reads it, and checked on the
real import graph, then on the same graph with a new command module added."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[2]
NAME = "the CLI is a client of the API"


def _tools() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_contracts",
                                                  ROOT / "tools" / "import_contracts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _options() -> dict[str, Any]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    found = [c for c in config["contracts"] if c["name"].startswith(NAME)]
    assert len(found) == 1, "pyproject.toml must keep one CLI contract"
    return {k: v for k, v in found[0].items() if k not in ("name", "type")}


@pytest.fixture
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("corral")


def _check(graph: grimp.ImportGraph) -> Any:
    contract = _tools().OnlyExemptReachContract(NAME, {}, _options())
    return contract.check(graph, verbose=False)


def test_the_contract_names_the_whole_cli_package() -> None:
    options = _options()
    assert options["package"] == "corral.cli"
    assert set(options["exempt"]) == {"corral.cli.main", "corral.cli.relay", "corral.cli.consume",
                                      "corral.cli.demo", "corral.cli.local"}
    assert set(options["forbidden_modules"]) == {"corral.services", "corral.persistence"}


def test_the_cli_of_today_keeps_it(graph: grimp.ImportGraph) -> None:
    check = _check(graph)
    assert check.kept, check.metadata["chains"]


@pytest.mark.parametrize("imported", ["corral.services.system", "corral.persistence",
                                      "corral.cli.local", "corral.services.live_fleet"])
def test_a_new_command_module_that_reaches_the_database_breaks_it(
        graph: grimp.ImportGraph, imported: str) -> None:
    graph.add_module("corral.cli.newcommand")
    graph.add_import(importer="corral.cli.newcommand", imported=imported)
    check = _check(graph)
    assert not check.kept
    chain = check.metadata["chains"][0]
    assert chain[0] == "corral.cli.newcommand" and chain[1] == imported
    assert chain[-1].startswith(("corral.services", "corral.persistence"))


def test_an_allowed_module_that_starts_opening_the_database_breaks_it(
        graph: grimp.ImportGraph) -> None:
    """``policy list`` may read the policy file through services/policy.py only while
    that module reaches no storage."""
    graph.add_import(importer="corral.services.policy", imported="corral.services.stores")
    check = _check(graph)
    assert not check.kept
    assert check.metadata["chains"] == [["corral.cli.policy", "corral.services.policy",
                                         "corral.services.stores"]]


def test_an_exemption_of_a_module_gone_is_an_error(graph: grimp.ImportGraph) -> None:
    options = {**_options(), "exempt": ["corral.cli.main", "corral.cli.gone"]}
    contract = _tools().OnlyExemptReachContract(NAME, {}, options)
    with pytest.raises(ValueError, match="corral.cli.gone"):
        contract.check(graph, verbose=False)
