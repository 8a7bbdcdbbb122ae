"""Run one gabbi YAML file against a URL and write one JSON line per test.

This script runs inside the gabbi virtualenv (``test_placement_gabbi.py``), never in
corral's: it imports gabbi only. The fixtures a file names were already built through
corral's HTTP API by the caller, which passes their values as environment variables
(gabbi's ``$ENVIRON``); the fixture classes gabbi looks up here therefore do nothing.

Wording is told apart from behaviour here. Before the file runs, every test loses its
checks on the text of an error (``response_strings`` and the ``$.errors[0].detail`` JSON
path); gabbi then checks everything else (status, headers, every other field). A test
that passes that way has its text checks applied afterwards, on the same response, by
gabbi's own handlers: if one of them fails on an error response (4xx/5xx), the outcome
is ``wording``; on a success it is a behaviour failure like any other.

Usage: ``python gabbi_runner.py URL FILE.yaml OUT.jsonl``. Each output line is
``{"name", "outcome", "detail", "status", "code"}`` (the response's status and error
code) with ``outcome`` one of ``pass``, ``wording``,
``fail``, ``error``, ``skip``, ``xfail``, ``xpass``, in the file's order.
"""

import json
import sys
import types
import unittest
from typing import Any

from gabbi import fixture, handlers, suitemaker, utils
from gabbi.handlers import core, jsonhandler

WORDING_PATHS = ("$.errors[0].detail",)
#: Test name -> its checks on error text, applied once the rest of the test passed.
WORDING: dict[str, list[list[tuple[str, str, Any]]]] = {}


# gabbi ships no types: its classes are Any to mypy.
class _Nothing(fixture.GabbiFixture):  # type: ignore[misc]
    """Stands for any of Placement's fixtures: the state is already there."""


class _Fixtures(types.ModuleType):
    def __getattr__(self, name):
        return _Nothing


def _status(test):
    response = getattr(test, "response", None)
    return int(response["status"]) if response else None


def _code(test):
    """The error code of the response, when it is an error with one."""
    try:
        return json.loads(test.output)["errors"][0].get("code")
    except Exception:  # not JSON, not an error, no response: no code
        return None


class _Recorder(unittest.TestResult):
    def __init__(self):
        super().__init__()
        self.rows = []

    def _row(self, test, outcome, detail=""):
        name = getattr(test, "test_data", {}).get("name", str(test))
        seen = sum(1 for row in self.rows if row["name"].split(" #")[0] == name)
        if seen:  # a name used twice in one file: the second is "name #2"
            name = f"{name} #{seen + 1}"
        self.rows.append({"name": name, "outcome": outcome, "detail": detail,
                          "status": _status(test), "code": _code(test)})

    def _wording_checks(self, test):
        queue = WORDING.get(test.test_data["name"], [])
        return queue.pop(0) if queue else ()

    def addSuccess(self, test):
        problems = []
        for kind, item, value in self._wording_checks(test):
            try:
                if kind == "string":
                    core.StringResponseHandler().action(test, item)
                else:
                    jsonhandler.JSONHandler().action(test, item, value)
            except AssertionError as exc:
                problems.append(str(exc)[:2000])
        if problems and int(test.response["status"]) < 400:
            # Text that is not an error's is part of the answer: a behaviour difference.
            self._row(test, "fail", "\n".join(problems))
        elif problems:
            self._row(test, "wording", "\n".join(problems))
        else:
            self._row(test, "pass")

    def _trace(self, test, err):
        # TestResult's own formatting (it leaves out unittest's frames): private, so typeshed
        # does not declare it.
        return self._exc_info_to_string(err, test)  # type: ignore[attr-defined]

    def addFailure(self, test, err):
        self._wording_checks(test)
        self._row(test, "fail", self._trace(test, err))

    def addError(self, test, err):
        self._wording_checks(test)
        self._row(test, "error", self._trace(test, err))

    def addSkip(self, test, reason):
        self._wording_checks(test)
        self._row(test, "skip", reason)

    def addExpectedFailure(self, test, err):
        self._wording_checks(test)
        self._row(test, "xfail")

    def addUnexpectedSuccess(self, test):
        self._wording_checks(test)
        self._row(test, "xpass")


def split_wording(test):
    """Move a test's checks on error text out of gabbi's hands, into ``WORDING``."""
    checks = [("string", item, None) for item in test.pop("response_strings", None) or ()]
    paths = test.get("response_json_paths")
    if isinstance(paths, dict):
        for name in WORDING_PATHS:
            if name in paths:
                checks.append(("json", name, paths.pop(name)))
    WORDING.setdefault(test.get("name", ""), []).append(checks)


def main(url, path, out):
    host, port, prefix, _ssl = utils.host_info_from_target(url)
    suite_dict = utils.load_yaml(yaml_file=path, safe=True)
    for test in suite_dict.get("tests", ()):
        split_wording(test)
    handler_objects = [handler() for handler in handlers.RESPONSE_HANDLERS]
    suite = suitemaker.test_suite_from_dict(
        unittest.TestLoader(), "gabbi", suite_dict, ".", host, port,
        _Fixtures("fixtures"), None, prefix=prefix, handlers=handler_objects)
    result = _Recorder()
    suite.run(result)
    with open(out, "w") as stream:
        for row in result.rows:
            stream.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main(*sys.argv[1:4])
