"""Long-lived parents that fork a ``corral serve`` or a gabbi run per YAML file.

Placement's suite is 79 files, each wanting a fresh server on a fresh database. Starting
Python and importing corral (or gabbi) costs one to several seconds of CPU a process,
which made the suite take many minutes on a busy machine. So, as
``test_osc_client.py`` does for the client, each side has one parent that imports once
and forks a child per file:

- ``ServeForker`` runs in corral's interpreter and forks ``corral serve`` (the CLI's own
  ``main``, with its arguments and a clean environment): each child is a real server
  process in a session of its own, listening on 127.0.0.1;
- ``GabbiForker`` runs in the gabbi virtualenv and forks ``gabbi_runner.main`` for a file
  with the environment variables of its fixture.

Every wait is bounded; ``close`` ends the parents and ``ForkedServer.stop`` its group.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import answers, clean_env, free_port

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
REPLY_TIMEOUT = 300.0

# Reads one JSON request a line ({"argv", "env", "log"}), forks, and answers the child's
# pid. The child leads a new session (so its group can be signalled), writes its output
# to the log and runs corral's CLI. Children are reaped automatically (SIGCHLD ignored).
SERVE_PARENT = r"""
import json, os, signal, sys
import corral.cli.main, corral.api.asgi, corral.api.app, uvicorn  # the costly imports, once
signal.signal(signal.SIGCHLD, signal.SIG_IGN)
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.setsid()
        fd = os.open(job["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0); os.dup2(fd, 1); os.dup2(fd, 2)
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.environ.clear(); os.environ.update(job["env"])
        sys.argv = ["corral", *job["argv"]]
        code = 0
        try:
            corral.cli.main.main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            import traceback; traceback.print_exc(); code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    sys.stdout.write(json.dumps(pid) + "\n"); sys.stdout.flush()
"""

# The same shape for gabbi: {"args": [url, path, out], "env"} -> the child's exit code.
GABBI_PARENT = r"""
import json, os, sys
sys.path.insert(0, os.path.dirname(sys.argv[1]))
import gabbi_runner
for line in sys.stdin:
    job = json.loads(line)
    pid = os.fork()
    if pid == 0:
        os.environ.clear(); os.environ.update(job["env"])
        code = 0
        try:
            gabbi_runner.main(*job["args"])
        except BaseException:
            import traceback; traceback.print_exc(); code = 1
        sys.stdout.flush(); sys.stderr.flush()
        os._exit(code)
    _pid, status = os.waitpid(pid, 0)
    sys.stdout.write(json.dumps(os.waitstatus_to_exitcode(status)) + "\n"); sys.stdout.flush()
"""


class _Parent:
    """A child Python reading JSON lines and answering one JSON line each."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in close())
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                        stderr=self.errors, text=True, env=env)

    def ask(self, job: object, timeout: float = REPLY_TIMEOUT) -> object:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(job) + "\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + timeout
        # A bounded read: the parents answer promptly (a fork, or one gabbi file).
        with selectors.DefaultSelector() as sel:
            sel.register(self.process.stdout, selectors.EVENT_READ)
            if not sel.select(max(0.0, deadline - time.monotonic())):
                self.close()
                pytest.fail(f"no answer in {timeout}s from {self.process.args!r:.80}")
        line = self.process.stdout.readline()
        if not line:
            self.errors.seek(0)
            pytest.fail(f"the forking parent died (exit {self.process.poll()}):\n"
                        + self.errors.read().decode(errors="replace")[-3000:])
        return json.loads(line)

    def stderr_tail(self) -> str:
        self.errors.seek(0)
        return self.errors.read().decode(errors="replace")[-3000:]

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(STOP_TIMEOUT)
        self.errors.close()


@dataclass
class ForkedServer:
    url: str
    pid: int
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        return True

    def stop(self) -> None:
        """SIGTERM the server's group, then SIGKILL what is left after the timeout."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, sig)
            deadline = time.monotonic() + STOP_TIMEOUT
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.02)
            if not self.alive():
                return


class ServeForker:
    """Forks ``corral serve`` processes from one parent that imported corral once."""

    def __init__(self) -> None:
        self.parent = _Parent([sys.executable, "-c", SERVE_PARENT])

    def start(self, database_url: str, directory: Path,
              options: dict[str, str] | None = None) -> ForkedServer:
        """A server on a free port of 127.0.0.1, answering ``GET /``; fails with its log."""
        directory.mkdir(parents=True, exist_ok=True)
        env = clean_env(directory / "data")
        env.update({f"CORRAL_{k.upper()}": v for k, v in (options or {}).items()})
        for attempt in range(3):
            port = free_port()
            log_path = directory / f"serve-{port}.log"
            pid = self.parent.ask({"argv": ["--database-url", database_url, "serve", "--host",
                                            "127.0.0.1", "--port", str(port)],
                                   "env": env, "log": str(log_path)})
            assert isinstance(pid, int)
            server = ForkedServer(f"http://127.0.0.1:{port}", pid, log_path)
            if answers(server.url + "/", server.alive, START_TIMEOUT):
                return server
            server.stop()
            text = server.log()
            if "address already in use" in text.lower() and attempt < 2:
                continue
            pytest.fail(f"corral serve did not answer GET / within {START_TIMEOUT}s; "
                        f"its output:\n{text}")
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.parent.close()


class GabbiForker:
    """Runs gabbi files in forks of one Python of the gabbi virtualenv."""

    def __init__(self, python: Path, runner: Path) -> None:
        self.parent = _Parent([str(python), "-c", GABBI_PARENT, str(runner)])

    def run(self, url: str, path: Path, out: Path, env: dict[str, str]) -> int:
        code = self.parent.ask({"args": [url, str(path), str(out)], "env": env})
        assert isinstance(code, int)
        return code

    def close(self) -> None:
        self.parent.close()
