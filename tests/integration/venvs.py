"""Virtualenvs of the real OpenStack clients and services the integration tests drive.

The OpenStack client (``openstack`` + osc-placement), Nova (its placement report
client), Keystone (served by gunicorn: tests/integration/keystone.py) and gabbi with
Placement's wheel (its functional YAML files) are never imported by corral or by the
test process: each lives in a virtualenv of its own, built once and cached under
``~/.cache/corral-tests/`` (``$XDG_CACHE_HOME`` honoured) in a directory named after
the pinned packages and the Python version, so reruns install nothing. An environment
variable per tool (``CORRAL_OSC_VENV``, ``CORRAL_NOVA_VENV``, ``CORRAL_GABBI_VENV``,
``CORRAL_KEYSTONE_VENV``) names a virtualenv to use as it is when it works, or to
install into (never deleted). One installer at a time holds a lock per virtualenv; a
marker file written last means a half-built one is rebuilt rather than trusted.

This module imports nothing but the standard library, so CI can build every
virtualenv at once, in the background, before the test run needs them::

    python3 tests/integration/venvs.py        # builds all, prints one line per tool
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

COMPLETE = ".corral-complete"
PROBE_TIMEOUT = 60


def clean_env(*drop: str) -> dict[str, str]:
    """This environment without the variables whose names start with ``drop``."""
    return {k: v for k, v in os.environ.items() if not k.startswith(drop)}


@dataclass(frozen=True)
class ToolVenv:
    """A tool's virtualenv: what to pip-install (and pip-download into ``wheels/``)."""

    label: str  # what a skip or failure names: "nova from PyPI"
    env_var: str
    prefix: str  # the cached directory's name starts with it
    install: tuple[str, ...]
    probe: Callable[[Path], bool]  # the installed tool works
    download: tuple[str, ...] = ()  # wheels fetched without dependencies, never installed
    timeout: int = 600  # seconds per pip step

    def cached_path(self) -> Path:
        cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        key = "\n".join([*self.download, *self.install, "py{}.{}".format(*sys.version_info[:2])])
        return cache / "corral-tests" / f"{self.prefix}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"

    def path(self) -> Path:
        configured = os.environ.get(self.env_var)
        return Path(configured) if configured else self.cached_path()

    def build(self) -> tuple[Path, str | None]:
        """The virtualenv, installed if it is not complete and working: (path, None), or
        (path, what went wrong)."""
        configured = os.environ.get(self.env_var)
        venv = self.path()
        if configured and self.probe(venv):
            return venv, None
        venv.parent.mkdir(parents=True, exist_ok=True)
        with open(venv.parent / f"{venv.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if (configured or (venv / COMPLETE).exists()) and self.probe(venv):
                return venv, None
            problem = self._install(venv, fresh=not configured)
            if problem is not None:
                if not configured:
                    shutil.rmtree(venv, ignore_errors=True)
                return venv, f"cannot install into {venv}: {problem}"
            if not configured:
                (venv / COMPLETE).write_text("\n".join([*self.install, *self.download]) + "\n")
        return venv, None

    def _install(self, venv: Path, fresh: bool) -> str | None:
        if fresh:
            shutil.rmtree(venv, ignore_errors=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
               "--no-input", "-q"]
        steps = [[*pip, "install", *self.install]]
        if self.download:
            steps.append([*pip, "download", "--no-deps", "--only-binary=:all:", "-d",
                          str(venv / "wheels"), *self.download])
        if not (venv / "bin" / "python").exists():
            steps.insert(0, [sys.executable, "-m", "venv", str(venv)])
        for step in steps:
            shown = " ".join(step[:6])
            try:
                done = subprocess.run(step, capture_output=True, text=True, timeout=self.timeout,
                                      stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired:
                return f"{shown} ... took longer than {self.timeout}s"
            if done.returncode != 0:
                tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
                return f"{shown} ... failed (exit {done.returncode}):\n{tail}"
        if not self.probe(venv):
            return "the tool does not work after the install"
        return None


def _runs(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str] | None:
    if not Path(argv[0]).exists():
        return None
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=PROBE_TIMEOUT,
                              env=env, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired):
        return None


def osc_env() -> dict[str, str]:
    """No OS_* variables and no clouds.yaml from the environment: only the flags count."""
    return {**clean_env("OS_"), "OS_CLIENT_CONFIG_FILE": os.devnull}


def _osc_works(venv: Path) -> bool:
    done = _runs([str(venv / "bin" / "openstack"), "resource", "provider", "list", "--help"],
                 osc_env())
    return done is not None and done.returncode == 0


OSC = ToolVenv("python-openstackclient and osc-placement from PyPI", "CORRAL_OSC_VENV",
               "osc-venv", ("python-openstackclient==10.5.0", "osc-placement==4.9.1"),
               _osc_works)


def nova_env() -> dict[str, str]:
    """No OS_* variables: nova reads only the configuration file the driver writes."""
    return clean_env("OS_", "PYTHON")


NOVA_VERSION = "34.0.0"


def _nova_works(venv: Path) -> bool:
    """The pinned nova is installed (importing it takes seconds: the driver does that)."""
    done = _runs([str(venv / "bin" / "python"), "-c",
                  "import importlib.metadata as m; print(m.version('nova'))"], nova_env())
    return done is not None and done.returncode == 0 and done.stdout.strip() == NOVA_VERSION


NOVA = ToolVenv("nova from PyPI", "CORRAL_NOVA_VENV", "nova-venv", (f"nova=={NOVA_VERSION}",),
                _nova_works, timeout=900)


def placement_wheel(venv: Path) -> Path | None:
    found = sorted((venv / "wheels").glob("openstack_placement-*.whl"))
    return found[0] if found else None


def _gabbi_works(venv: Path) -> bool:
    if placement_wheel(venv) is None:
        return False
    done = _runs([str(venv / "bin" / "python"), "-c", "import gabbi.suitemaker"])
    return done is not None and done.returncode == 0


#: gabbi, and Placement's wheel downloaded without dependencies: nothing of Placement is
#: imported, only its YAML files are read.
GABBI = ToolVenv("gabbi and openstack-placement==16.0.0 from PyPI", "CORRAL_GABBI_VENV",
                 "gabbi-venv", ("gabbi==4.2.3",), _gabbi_works,
                 download=("openstack-placement==16.0.0",))

def _keystone_works(venv: Path) -> bool:
    """The pinned keystone imports its WSGI module's package and gunicorn is there."""
    done = _runs([str(venv / "bin" / "python"), "-c",
                  "import importlib.metadata as m; print(m.version('keystone'))"])
    return (done is not None and done.returncode == 0
            and done.stdout.strip() == KEYSTONE_VERSION and (venv / "bin" / "gunicorn").exists())


KEYSTONE_VERSION = "30.0.0"

#: Keystone served by gunicorn on SQLite (tests/integration/keystone.py starts it).
KEYSTONE = ToolVenv("keystone from PyPI", "CORRAL_KEYSTONE_VENV", "keystone-venv",
                    (f"keystone=={KEYSTONE_VERSION}", "gunicorn==27.0.1"), _keystone_works)

ALL = (OSC, NOVA, GABBI, KEYSTONE)


def main() -> int:
    with ThreadPoolExecutor(len(ALL)) as pool:
        results = list(pool.map(ToolVenv.build, ALL))
    for tool, (venv, problem) in zip(ALL, results, strict=True):
        print(f"{tool.label}: {problem or f'ready in {venv}'}", flush=True)
    return 1 if any(problem for _venv, problem in results) else 0


if __name__ == "__main__":
    sys.exit(main())
