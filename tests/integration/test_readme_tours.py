"""The README's tours run as written, top to bottom, against a fresh ``make run``.

The convention (docs/testing.md): in README.md every fenced block whose language is
``sh`` is a step of the tours. The blocks are run in the order of the file, all in one
bash session (``set -Eeuo pipefail``), so a variable one block sets is there for the
next. Every other fence is illustration and is never run: ``console`` for commands
shown with their prompt and output (or meant for another machine), ``text`` for
synopses, ``ini`` for configuration. A command that is refused on purpose says so on
its line, ``|| true  # refused: why``; the test checks that it is (a success there
fails the tour). Every curl fails on an error answer (``--fail-with-body``, or ``-f``),
so an unexpected 4xx or 5xx stops the tour.

How it runs: the Makefile's own ``run`` recipe (database upgrade, demo fleet, serve,
with its environment), with this interpreter's ``bin/`` as the Makefile's ``BIN``, a
private ``CORRAL_DATA_DIR`` and a free port (``CORRAL_PORT``; the blocks'
``127.0.0.1:8778`` is rewritten to it). The tours' shell has that ``bin/`` first on
PATH, the same data directory (so ``corral`` reads the server's database) and nothing
else of corral's configuration, as a new user's shell; it runs in a scratch directory.
The first command that exits non-zero fails the test, naming the block, its README
line and the command, with the output so far. SQLite only: it is what ``make run``
serves, and every route the tours use is tested on PostgreSQL elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from conftest import require_service

from .conftest import Server, answers, clean_env, free_port

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
DEMO_URL = "127.0.0.1:8778"
START_TIMEOUT = 240.0  # make run upgrades the schema and seeds 40 hosts first
TOURS_TIMEOUT = 900.0  # every CLI call starts Python; two cores shared by a whole run
FENCE = re.compile(r"^```(\S*)\s*$")
# A curl that fails on an error answer: --fail, --fail-with-body, or -f among short flags.
FAILING_CURL = re.compile(r"(--fail\b|--fail-with-body\b|\s-[a-zA-Z]*f[a-zA-Z]*\b)")
# A command refused on purpose: ``|| true`` and a comment saying it is refused.
REFUSED = re.compile(r"\|\|\s*true(\s+#\s*refused\b.*)$")


@dataclass(frozen=True)
class Block:
    number: int  # 1-based, counting only the runnable blocks
    line: int  # README line of the block's first line (after the fence)
    text: str

    def readme_line(self, offset: int) -> int:
        return self.line + offset


def runnable_blocks(markdown: str) -> list[Block]:
    """The ``sh`` blocks of ``markdown``, in order."""
    blocks: list[Block] = []
    fence: str | None = None
    body: list[str] = []
    start = 0
    for number, line in enumerate(markdown.splitlines(), 1):
        found = FENCE.match(line)
        if found and fence is None:
            fence, body, start = found.group(1), [], number + 1
        elif line.rstrip() == "```" and fence is not None:
            if fence == "sh":
                blocks.append(Block(len(blocks) + 1, start, "\n".join(body) + "\n"))
            fence = None
        elif fence is not None:
            body.append(line)
    assert fence is None, "README.md ends inside a fenced block"
    return blocks


def commands(block: Block) -> Iterator[tuple[int, str]]:
    """(README line, command) for each command of a block, continuation lines joined."""
    lines = block.text.splitlines()
    i = 0
    while i < len(lines):
        first, command = i, lines[i]
        while not command.lstrip().startswith("#") and (
                _code(command).rstrip().endswith(("\\", "|")) or _code(command).count("'") % 2):
            i += 1
            if i >= len(lines):
                break
            command += "\n" + lines[i]
        yield block.readme_line(first), command
        i += 1


def _code(command: str) -> str:
    """``command`` without its trailing comments (``  # ...`` at the end of a line)."""
    return re.sub(r"\s#\s[^'\n]*$", "", command, flags=re.M)


def tours_script(blocks: list[Block], port: int) -> tuple[str, dict[int, tuple[Block, int]]]:
    """One bash script running every block in order, and what each of its lines was in
    README.md (script line -> (block, README line))."""
    lines = ["set -Eeuo pipefail",
             # The first failure names itself; errtrace repeats it from subshells.
             "trap 'status=$?; echo \"tour-failed script-line=$LINENO status=$status "
             "command=$BASH_COMMAND\" >&2; trap - ERR' ERR",
             # What ``|| true  # refused`` becomes: the command must not succeed.
             "tour_refusal_expected() { echo \"tour-failed script-line=${BASH_LINENO[0]} "
             "status=0 command=succeeded where README.md says it is refused\" >&2; exit 1; }"]
    origin: dict[int, tuple[Block, int]] = {}
    for block in blocks:
        lines.append(f"printf '\\n### block {block.number} (README.md line {block.line})\\n'")
        for offset, line in enumerate(block.text.splitlines()):
            line = REFUSED.sub(r"&& tour_refusal_expected || true\1", line)
            lines.append(line.replace(DEMO_URL, f"127.0.0.1:{port}"))
            origin[len(lines)] = (block, block.readme_line(offset))
    return "\n".join(lines) + "\n", origin


def test_the_runnable_blocks_hold_no_placeholder_and_fail_on_errors() -> None:
    """What can be seen without running them: no synopsis or placeholder, the demo's
    URL only, and no curl that would take a 4xx for a success."""
    blocks = runnable_blocks(README.read_text())
    assert len(blocks) >= 4, "README.md lost its tours (```sh blocks)"
    # Option arrays (H=(-sS --fail-with-body ...)) that make a curl fail on an error.
    failing = {m.group(1) for block in blocks
               for m in re.finditer(r"^(\w+)=\(([^)]*)\)", block.text, flags=re.M)
               if FAILING_CURL.search(" " + m.group(2))}
    problems = []
    for block in blocks:
        for line, command in commands(block):
            if command.lstrip().startswith("#"):
                continue
            code = _code(command)
            if re.search(r"\[--|\.\.\.|\bDECISION_ID\b|\bTOKEN_ID\b|\bID\b|<[a-z_-]+>", code):
                problems.append(f"README.md:{line}: a synopsis or placeholder: {command}")
            if re.search(r"https?://(?!127\.0\.0\.1:8778\b)", code):
                problems.append(f"README.md:{line}: not the demo's {DEMO_URL}: {command}")
            if re.search(r"(^|[;&|(]\s*|\$\()curl\s", code) and not (
                    FAILING_CURL.search(code) or any(f'"${{{name}[@]}}"' in code for name in failing)):
                problems.append(f"README.md:{line}: curl without --fail-with-body: {command}")
            for hidden in re.finditer(r"\|\|\s*(true|:)\b.*$", command, flags=re.M):
                if not REFUSED.search(hidden.group(0)):
                    problems.append(f"README.md:{line}: a failure ignored without saying it "
                                    f"is refused on purpose (|| true  # refused: why): {command}")
    assert not problems, "\n".join(problems)


def make_run(directory: Path, env: dict[str, str], port: int) -> Server:
    """``make run`` from the checkout, as a new user types it, on ``port``."""
    make = shutil.which("make")
    if make is None:
        require_service("make", "no make on PATH (apt-get install make)")
    assert make is not None
    bin_dir = Path(sys.executable).parent  # not resolved: the venv's bin/, not the base's
    if not (bin_dir / "corral").exists():
        pytest.fail(f"no corral console script next to {sys.executable}: pip install -e .")
    # A stamp newer than pyproject.toml: make runs the recipe and installs nothing.
    stamp = directory / "installed.stamp"
    stamp.touch()
    log_path = directory / "make-run.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            [make, "--no-print-directory", "-C", str(ROOT), "run", f"BIN={bin_dir}",
             f"STAMP={stamp}"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env={**env, "CORRAL_PORT": str(port)}, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    if answers(server.url + "/", lambda: process.poll() is None, START_TIMEOUT):
        return server
    server.stop()
    pytest.fail(f"make run did not answer GET / within {START_TIMEOUT}s "
                f"(exit code {process.returncode}); its output:\n{server.log()}")


def shell_env(data_dir: Path) -> dict[str, str]:
    """A new user's shell: no corral setting but the data directory (``make run``'s
    default is under the home directory), this interpreter's ``bin/`` first on PATH."""
    env = clean_env(data_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env["COLUMNS"] = "100"
    return env


@pytest.mark.slow
def test_the_readme_tours_run_as_written_on_a_fresh_make_run(tmp_path: Path) -> None:
    blocks = runnable_blocks(README.read_text())
    env = shell_env(tmp_path / "data")
    port = free_port()
    server = make_run(tmp_path, env, port)
    try:
        script, origin = tours_script(blocks, port)
        work = tmp_path / "work"
        work.mkdir()
        (tmp_path / "tours.sh").write_text(script)
        log = tmp_path / "tours.log"  # what the user would see, errors in their place
        started = time.monotonic()
        try:
            with open(log, "wb") as out:
                done = subprocess.run(["bash", str(tmp_path / "tours.sh")], cwd=work, env=env,
                                      stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, timeout=TOURS_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the tours did not finish within {TOURS_TIMEOUT}s; their output so "
                        f"far ({log}):\n{log.read_text(errors='replace')[-6000:]}")
        elapsed = time.monotonic() - started
        output = log.read_text(errors="replace")
        if done.returncode != 0:
            found = re.search(r"tour-failed script-line=(\d+) status=(\d+) command=(.*)", output)
            where = "somewhere (no trap fired)"
            if found:
                block, line = origin.get(int(found.group(1)), (None, 0))
                where = (f"block {block.number if block else '?'} at README.md:{line}, "
                         f"status {found.group(2)}: {found.group(3)}")
            pytest.fail(f"the README tours failed in {where}\n--- their output (tail; all of "
                        f"it in {log}) ---\n{output[-6000:]}\n"
                        f"--- server log (tail) ---\n{server.log()[-3000:]}")
        print(f"\n{len(blocks)} blocks ran in {elapsed:.1f}s")
        # Every block ran to its end, and the server is still serving.
        assert output.count("### block ") == len(blocks)
        assert httpx.get(server.url + "/healthz", timeout=5.0).json()["status"] == "ok"
    finally:
        server.stop()
