"""corral's own import-linter contract types: no import cycles between modules, and only
named modules of a package reach a forbidden one.

import-linter's built-in ``acyclic_siblings`` (2.x, not in every version) compares the
children of each package squashed together, so it misses a cycle between a package and
one of its own modules (``api/placement/__init__`` <-> ``api/placement/openapi``). This
contract looks at modules one by one, over grimp's graph, which holds every import: at
module level, inside functions and under ``TYPE_CHECKING``. A function-level import does
not hide a cycle from it.

``only_exempt_reach`` keeps the CLI a client of the API (issue 14): every module of
``corral.cli`` but the exempt ones (serve, relay, db, demo and their helper) is checked,
so a new command module is covered without editing a list; and a chain through an
exempt module counts (importing ``cli/local.py`` is opening the database).

Registered in pyproject.toml (``contract_types``); lint-imports puts the working directory
on ``sys.path``, so run it from the repository root (as ``make lint`` and the
architecture test do).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


class NoCyclesContract(Contract):
    """No module of ``containers`` reaches itself again through imports.

    Configuration:
        containers: the packages whose modules (the packages included) are checked.
    """

    type_name = "no_cycles"

    containers = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        roots: list[str] = list(self.containers)  # type: ignore[call-overload]
        for root in roots:
            if root not in graph.modules:
                raise ValueError(f"Module '{root}' does not exist.")
        modules = {m for root in roots for m in {root, *graph.find_descendants(root)}}
        components = _components(graph, modules)
        cycles = [(_one_cycle(graph, c), c) for c in components]
        output.verbose_print(verbose, f"{len(modules)} modules, {len(cycles)} cycles.")
        return ContractCheck(kept=not cycles, warnings=[], metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle, component in check.metadata["cycles"]:
            output.print_error(f"Import cycle of {len(cycle) - 1} modules "
                               f"({len(component)} import each other: {', '.join(component)}):")
            output.new_line()
            for importer, imported in zip(cycle, cycle[1:], strict=False):
                output.indent_cursor()
                output.print_error(f"{importer} -> {imported}", bold=False)
            output.new_line()


def _edges(graph: ImportGraph, module: str, within: set[str]) -> list[str]:
    return sorted(graph.find_modules_directly_imported_by(module) & within)


def _components(graph: ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in sorted(modules):
        if start in index:
            continue
        work: list[tuple[str, Iterable[str]]] = []
        _visit(start, index, low, stack, on_stack)
        work.append((start, iter(_edges(graph, start, modules))))
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    _visit(target, index, low, stack, on_stack)
                    work.append((target, iter(_edges(graph, target, modules))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = _pop_component(node, stack, on_stack)
                    if len(component) > 1:
                        found.append(sorted(component))
    return sorted(found)


def _visit(node: str, index: dict[str, int], low: dict[str, int], stack: list[str],
           on_stack: set[str]) -> None:
    index[node] = low[node] = len(index)
    stack.append(node)
    on_stack.add(node)


def _pop_component(node: str, stack: list[str], on_stack: set[str]) -> list[str]:
    component: list[str] = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.append(member)
        if member == node:
            return component


def _one_cycle(graph: ImportGraph, component: list[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, for the report."""
    within = set(component)
    start = component[0]
    came_from: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in _edges(graph, node, within):
            if target == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [*reversed(path), start]
            if target not in came_from:
                came_from[target] = node
                queue.append(target)
    return [start, start]


class OnlyExemptReachContract(Contract):
    """No module of ``package`` except the ``exempt`` ones reaches a ``forbidden_modules``
    module (or a descendant) through any chain of imports, exempt modules on the way
    included. ``allowed_modules`` are forbidden modules that may be imported all the same
    (a module that reads a file, not the database), as long as nothing they import is
    forbidden. Every name must exist: an exemption of a module gone fails.

    Configuration:
        package: the package whose modules are checked (the package itself included).
        exempt: modules of ``package`` that may reach the forbidden modules.
        forbidden_modules: what the others must not reach.
        allowed_modules: optional; forbidden modules that are let through.
    """

    type_name = "only_exempt_reach"

    package = fields.StringField()
    exempt = fields.ListField(subfield=fields.StringField())
    forbidden_modules = fields.ListField(subfield=fields.StringField())
    allowed_modules = fields.ListField(subfield=fields.StringField(), required=False)

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        package = str(self.package)
        exempt = set(self.exempt)  # type: ignore[call-overload]
        forbidden: list[str] = list(self.forbidden_modules)  # type: ignore[call-overload]
        allowed: list[str] = list(self.allowed_modules or [])  # type: ignore[arg-type]
        for name in (package, *exempt, *forbidden, *allowed):
            if name not in graph.modules:
                raise ValueError(f"Module '{name}' does not exist.")
        checked = sorted({package, *graph.find_descendants(package)} - exempt)
        chains = [chain for module in checked
                  if (chain := _forbidden_chain(graph, module, forbidden, allowed))]
        output.verbose_print(verbose, f"{len(checked)} modules checked, {len(chains)} reach "
                             "a forbidden module.")
        return ContractCheck(kept=not chains, warnings=[], metadata={"chains": chains})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for chain in check.metadata["chains"]:
            output.print_error(f"{chain[0]} reaches {chain[-1]}:")
            output.new_line()
            for importer, imported in zip(chain, chain[1:], strict=False):
                output.indent_cursor()
                output.print_error(f"{importer} -> {imported}", bold=False)
            output.new_line()


def _within(module: str, packages: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def _forbidden_chain(graph: ImportGraph, start: str, forbidden: list[str],
                     allowed: list[str]) -> list[str] | None:
    """A shortest chain of imports from ``start`` to a forbidden module, or None."""
    came_from: dict[str, str] = {start: start}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph.find_modules_directly_imported_by(node)):
            if target in came_from:
                continue
            came_from[target] = node
            if _within(target, forbidden) and not _within(target, allowed):
                chain = [target]
                while chain[-1] != start:
                    chain.append(came_from[chain[-1]])
                return list(reversed(chain))
            queue.append(target)
    return None
