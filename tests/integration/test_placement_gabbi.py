"""Placement's own functional suite (gabbi YAML files) against a real ``corral serve``.

The ``openstack-placement`` wheel on PyPI carries Placement's functional tests as gabbi
YAML files (``placement/tests/functional/gabbits/``); gabbi runs them over HTTP against
any URL. This test downloads the pinned wheel and installs gabbi into a virtualenv of
their own (cached like the osc client's, see ``test_osc_client.py``), reads the YAML
files out of the wheel at run time (they are never committed), and runs every file
against a fresh server and database:

- the fixture the file names is rebuilt through corral's HTTP API
  (``gabbi_fixtures.py``), its identifiers passed to gabbi as environment variables;
- the server runs under the policy profile Placement's fixtures give the file: the new
  defaults for ``SecureRBACPolicyFixture``, the legacy ones for every other;
- ``gabbi_runner.py`` runs the file in the gabbi virtualenv and reports every test.

Every failing test must be listed in ``gabbi_known.txt`` (wording-only differences:
corral writes its own error messages; docs/placement-compatibility.md lists them too).
Any other failure fails this test, and so does a listed case that passes (remove it
from the list). ``CORRAL_GABBI_REPORT=path`` writes every result as JSON (``{backend}`` in the path
is replaced by the backend's name);
``CORRAL_GABBI_FILES=glob[,glob]`` runs only some files; ``CORRAL_GABBI_POSTGRESQL=1``
runs the suite on PostgreSQL too (see ``ON_POSTGRESQL``).

The virtualenv lives in ``$CORRAL_GABBI_VENV`` if set, else under
``~/.cache/corral-tests/``. Without network access the test is skipped
(``CORRAL_REQUIRE_SERVICES=1``: it fails).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import time
import zipfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import _reset_postgresql, require_service  # tests/conftest.py

from corral.persistence import Store

from . import gabbi_fixtures
from .conftest import store_url
from .gabbi_processes import GabbiForker, ServeForker
from .venvs import GABBI, placement_wheel

pytestmark = pytest.mark.slow

FILE_TIMEOUT = 300
GABBITS = "placement/tests/functional/gabbits/"
HERE = Path(__file__).parent
RUNNER = HERE / "gabbi_runner.py"
KNOWN = HERE / "gabbi_known.txt"


# --- the virtualenv and the YAML files ---------------------------------------------------

@pytest.fixture(scope="session")
def gabbi_venv() -> Path:
    """A virtualenv with gabbi and Placement's wheel (in ``wheels/``), built once."""
    venv, problem = GABBI.build()
    if problem is not None:
        require_service(GABBI.label, problem)
    return venv


@pytest.fixture(scope="session")
def gabbits(gabbi_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Placement's YAML files, read out of the wheel into a temporary directory."""
    wheel = placement_wheel(gabbi_venv)
    assert wheel is not None
    target = tmp_path_factory.mktemp("gabbits")
    files = []
    with zipfile.ZipFile(wheel) as archive:
        for name in sorted(archive.namelist()):
            if name.startswith(GABBITS) and name.endswith(".yaml"):
                path = target / Path(name).name
                path.write_bytes(archive.read(name))
                files.append(path)
    assert files, f"no YAML under {GABBITS} in {wheel.name}"
    return files


# --- the expectations ----------------------------------------------------------------------

WORDING = "wording"
BEHAVIOUR = "behaviour, to fix"
UNSENDABLE = "not sendable over HTTP"
UNSUPPORTED = "configuration corral does not offer"
#: The runner's outcomes, as the sections of gabbi_known.txt name them.
OUTCOMES = {"pass": "passed", "xfail": "passed", "skip": "skipped", "wording": WORDING,
            "fail": BEHAVIOUR, "error": BEHAVIOUR, "xpass": BEHAVIOUR}


def _category(row: dict[str, str]) -> str:
    """Where a result belongs; a request the HTTP client would not send is its own kind."""
    if row["outcome"] == "error" and "LocalProtocolError" in row["detail"]:
        return UNSENDABLE
    return OUTCOMES[row["outcome"]]

@dataclass(frozen=True)
class Known:
    """``gabbi_known.txt``: failing cases by section, each ``file.yaml :: test name``."""

    sections: dict[str, set[tuple[str, str]]]

    @classmethod
    def load(cls, path: Path) -> Known:
        sections: dict[str, set[tuple[str, str]]] = {}
        current = None
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            heading = re.fullmatch(r"\[(.+)\]", line)
            if heading:
                current = sections.setdefault(heading.group(1), set())
                continue
            assert current is not None, f"{path.name}: {line!r} before any [section]"
            file, sep, test = line.partition(" :: ")
            assert sep, f"{path.name}: {line!r} is not 'file.yaml :: test name'"
            current.add((file, test))
        return cls(sections)

    def section_of(self, case: tuple[str, str]) -> str | None:
        return next((name for name, cases in self.sections.items() if case in cases), None)


# --- running one file ----------------------------------------------------------------------

FIXTURE_LINE = re.compile(r"^fixtures:\s*\n(?:\s*#.*\n)*\s*-\s*(\w+)", re.MULTILINE)


def fixture_of(path: Path) -> str:
    found = FIXTURE_LINE.findall(path.read_text())
    assert len(found) == 1, f"{path.name}: expected one fixture, found {found}"
    return str(found[0])


def run_file(forkers: Forkers, path: Path, database_url: str,
             directory: Path) -> list[dict[str, str]]:
    """Start a server on ``database_url`` (already empty), build the file's fixture, run it."""
    fixture = fixture_of(path)
    secure = fixture in gabbi_fixtures.SECURE_RBAC
    server = forkers.serve.start(database_url, directory,
                                 {"enforce_new_defaults": "true" if secure else "false"})
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CORRAL_"))}
        env.update(gabbi_fixtures.build(server.url, fixture))
        out = directory / f"{path.stem}.jsonl"
        code = forkers.gabbi.run(server.url, path, out, env)
        if code != 0 or not out.exists():
            pytest.fail(f"{path.name}: the gabbi runner failed (exit {code}):\n"
                        f"{forkers.gabbi.parent.stderr_tail()}")
        rows = [json.loads(line) for line in out.read_text().splitlines()]
        if any(row["outcome"] == "error" for row in rows) or not rows:
            rows.append({"name": "(server log)", "outcome": "info", "detail": server.log()[-3000:]})
        return rows
    finally:
        server.stop()


@dataclass
class Forkers:
    serve: ServeForker
    gabbi: GabbiForker


@pytest.fixture
def forkers(gabbi_venv: Path) -> Iterator[Forkers]:
    serve = ServeForker()
    gabbi = GabbiForker(gabbi_venv / "bin" / "python", RUNNER)
    yield Forkers(serve, gabbi)
    gabbi.close()
    serve.close()


def _fresh_database(backend: str, request: pytest.FixtureRequest, tmp: Path,
                    index: int) -> str:
    if backend == "postgresql":
        pg: Store | None = request.getfixturevalue("pg_store")
        if pg is None:
            require_service("PostgreSQL", "CORRAL_TEST_POSTGRESQL_URL is not set")
        assert pg is not None
        _reset_postgresql(pg)
        return store_url(pg)
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp / f"db{index}.sqlite"
    shutil.copy(template, path)
    return f"sqlite:///{path}"


# --- the test ------------------------------------------------------------------------------

# The suite starts 79 servers; on the shared 2-core machine (load ~10) it took 8 minutes
# on SQLite and 12.5 on PostgreSQL, past the budget for running it twice: PostgreSQL is
# opt-in (CORRAL_GABBI_POSTGRESQL=1). Its last run gave the same results as SQLite's.
ON_POSTGRESQL = os.environ.get("CORRAL_GABBI_POSTGRESQL") == "1"


@pytest.mark.parametrize("backend", [
    "sqlite",
    pytest.param("postgresql", marks=pytest.mark.skipif(
        not ON_POSTGRESQL, reason="Placement's gabbi suite on PostgreSQL is opt-in: "
        "CORRAL_GABBI_POSTGRESQL=1")),
])
def test_placement_gabbits(backend: str, forkers: Forkers, gabbits: list[Path],
                           request: pytest.FixtureRequest, tmp_path: Path) -> None:
    known = Known.load(KNOWN)
    only = os.environ.get("CORRAL_GABBI_FILES")  # e.g. "allocations*,usage.yaml"
    if only:
        gabbits = [p for p in gabbits if any(fnmatch.fnmatch(p.name, g) for g in only.split(","))]
    started = time.monotonic()
    results: dict[tuple[str, str], dict[str, str]] = {}
    for index, path in enumerate(gabbits):
        url = _fresh_database(backend, request, tmp_path, index)
        for row in run_file(forkers, path, url, tmp_path / path.stem):
            if row["outcome"] != "info":
                results[(path.name, row["name"])] = row
            elif (path.name, "(server log)") not in results:
                results[(path.name, "(server log)")] = row
    elapsed = time.monotonic() - started

    counts: Counter[str] = Counter()
    unexpected, changed = [], []
    for case, row in results.items():
        if row["outcome"] == "info":
            continue
        counts["tests"] += 1
        actual = _category(row)
        counts[actual] += 1
        listed = known.section_of(case)
        if listed == actual or (listed is None and actual in ("passed", "skipped")):
            continue
        if listed == UNSUPPORTED and actual == BEHAVIOUR:
            counts[BEHAVIOUR] -= 1
            counts[UNSUPPORTED] += 1
            continue
        where = f"{case[0]} :: {case[1]}"
        if listed is None:
            unexpected.append(f"{where}  ({actual})\n{row['detail']}")
        else:
            changed.append(f"{where}   listed under [{listed}], now {actual}")
    summary = (f"{backend}: {len(gabbits)} files, {counts['tests']} tests: "
               f"{counts['passed']} passed, {counts[WORDING]} wording only, "
               f"{counts[BEHAVIOUR]} behaviour, {counts[UNSENDABLE]} not sendable, "
               f"{counts[UNSUPPORTED]} need a configuration corral does not offer, "
               f"{counts['skipped']} skipped; {elapsed:.0f}s")
    print(summary)
    report = os.environ.get("CORRAL_GABBI_REPORT")
    if report:
        Path(report.replace("{backend}", backend)).write_text(json.dumps(
            {"summary": summary,
             "results": [{"file": f, "test": t, **row} for (f, t), row in results.items()]},
            indent=1))
    logs = [row["detail"] for (_f, t), row in results.items() if t == "(server log)"]
    assert not unexpected, (f"{summary}\n{len(unexpected)} failures not in {KNOWN.name}:\n\n"
                            + "\n\n".join(unexpected) + "\n\nserver logs:\n" + "\n".join(logs))
    assert not changed, (f"{summary}\nthese listed cases changed; update {KNOWN.name}:\n"
                         + "\n".join(changed))
