"""The shape of the code holds: the import contracts in pyproject.toml (domain is pure,
layers point down), no module of src/corral over 400 lines and no function over 60,
and mypy passes over src/ and tests/ (CI runs ``make test`` only: these make it run
the linters that guard the structure)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "corral"
#: A module past this many lines holds more than one thing: split it.
MODULE_LINES = 400
#: A function past this many lines (``def`` to its last line) tells more than one step.
FUNCTION_LINES = 60


def test_import_contracts_hold() -> None:
    lint = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run([str(lint), "--config", str(ROOT / "pyproject.toml")],
                            capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_passes_over_src_tests_and_bench() -> None:
    # The files and strictness are pyproject.toml's (strict on src/, less so on tests/ and
    # bench/). About 35 s with a cold cache on a loaded 2-core machine, 1 s warm.
    mypy = Path(sys.executable).parent / "mypy"
    result = subprocess.run([str(mypy)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr


class _Functions(ast.NodeVisitor):
    """Every function and method of a module, by qualified name, with its length."""

    def __init__(self) -> None:
        self.found: list[tuple[str, int, int]] = []  # (qualified name, line, lines)
        self.scope: list[str] = []

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        assert node.end_lineno is not None
        name = ".".join([*self.scope, node.name])
        self.found.append((name, node.lineno, node.end_lineno - node.lineno + 1))
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef


def oversized(root: Path, base: Path = ROOT) -> list[str]:
    """One line per module over MODULE_LINES and per function over FUNCTION_LINES under
    ``root`` (migrations included), paths relative to ``base``, largest first within
    each kind."""
    modules: list[tuple[int, str]] = []
    functions: list[tuple[int, str]] = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        where = path.relative_to(base).as_posix()
        lines = text.count("\n")
        if lines > MODULE_LINES:
            modules.append((lines, f"module {where}: {lines} lines"))
        visitor = _Functions()
        visitor.visit(ast.parse(text, filename=str(path)))
        for name, line, length in visitor.found:
            if length > FUNCTION_LINES:
                functions.append((length, f"function {where}:{line} {name}: {length} lines"))
    return ([text for _n, text in sorted(modules, key=lambda m: -m[0])]
            + [text for _n, text in sorted(functions, key=lambda f: -f[0])])


def test_no_module_or_function_is_oversized() -> None:
    found = oversized(SRC)
    assert not found, (
        f"{len(found)} over the limits ({MODULE_LINES} lines a module, {FUNCTION_LINES} "
        "a function): split them\n  " + "\n  ".join(found))


def test_the_size_check_names_each_offender_with_its_length(tmp_path: Path) -> None:
    def statements(n: int, indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(n))

    # at the limits: not named
    (tmp_path / "fine.py").write_text("def ok():\n" + statements(FUNCTION_LINES - 1, "    ")
                                      + "\n" * (MODULE_LINES - FUNCTION_LINES))
    # one line over each: a method of FUNCTION_LINES + 1, a module of MODULE_LINES + 1
    method = "    def grown(self):\n" + statements(FUNCTION_LINES, "        ")
    (tmp_path / "big.py").write_text("class Box:\n" + method
                                     + "\n" * (MODULE_LINES - FUNCTION_LINES - 1))
    assert oversized(tmp_path, tmp_path) == [
        f"module big.py: {MODULE_LINES + 1} lines",
        f"function big.py:2 Box.grown: {FUNCTION_LINES + 1} lines"]
