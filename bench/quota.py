"""What hierarchical quotas cost a boot: no quotas, a flat project, a project at depth 8.

The scheduler benchmark's in-process section (``bench/scheduler.py``), three times: a
fleet of ``--hosts`` compute hosts (default 1,000) is seeded in bulk with its ``seed()``,
then ``instances.boot`` is called ``--boots`` times per configuration, each on its own
copy of the seeded database:

- **none**: no limits anywhere (the project is created by its first boot, as a root);
  the ledger still moves (own and subtree usage of the project, in the claim's
  transaction), nothing is compared with a limit;
- **flat**: a root project with limits on ``instances``, ``cores``, ``ram`` and
  ``disk``, high enough never to refuse;
- **depth 8**: a chain of 8 projects, the boots into the deepest, with those limits at
  every level (so every claim checks and moves 8 ledger rows per resource).

The three run interleaved (blocks of ``--block`` boots, in rotation) so that whatever
else the machine does falls on all of them alike. Per boot: the whole ``instances.boot``
(p50, p99, boots/s), the claim transaction, the SQL statements sent (BEGIN included,
COMMIT not; an ``executemany`` counts one per row), and the quota part alone:
``services.ledger.charge`` (read the chains with limits and usage, lock, check, move),
wrapped with a timer.

The same on PostgreSQL (a throwaway database per configuration on the server named by
``--postgresql-url`` / ``CORRAL_BENCH_POSTGRESQL_URL`` / ``CORRAL_TEST_POSTGRESQL_URL``,
dropped at exit) unless ``--skip-pg`` or the server does not answer.

    .venv/bin/python bench/quota.py                 # SQLite and PostgreSQL (~30 s)
    .venv/bin/python bench/quota.py --skip-pg --boots 5000
"""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import common
import scheduler as sched
from common import say, table
from sqlalchemy import create_engine, event, text

from corral.config import Settings
from corral.logging import configure_logging
from corral.persistence import Store, make_store
from corral.services import instances, ledger, projects, quota_audit
from corral.services.audit_log import local_actor
from corral.services.candidates import CandidateFinder
from corral.services.scheduler import Scheduler

LOCAL = local_actor("bench")

DEPTH = 8
#: Never refuses in a run (2 cores, 4096 MB and 40 GB a boot).
LIMITS = {"instances": 1_000_000, "cores": 10_000_000, "ram": 1_000_000_000,
          "disk": 100_000_000}


@dataclass(frozen=True)
class Config:
    name: str
    depth: int  # 0: no limits anywhere
    project: str


CONFIGS = [Config("none", 0, "bench-none"),
           Config("flat", 1, "bench-flat"),
           Config(f"depth {DEPTH}", DEPTH, f"bench-d{DEPTH}")]


def make_tree(store: Store, config: Config, settings: Settings) -> None:
    """The configuration's projects with their limits (none: nothing, the first boot
    creates the project as a root)."""
    parent: str | None = None
    for level in range(1, config.depth + 1):
        pid = config.project if level == config.depth else f"{config.project}-l{level}"
        projects.create_project(store, pid, model=settings.quota_model, parent_id=parent,
                                limits=LIMITS, actor=LOCAL)
        parent = pid


# -- the quota part, timed -------------------------------------------------------------------

_charge = ledger.charge
_current: list[Run] = []  # the run booting now


def _timed_charge(*args: Any, **kwargs: Any) -> None:
    run = _current[0]
    before = run.parts.statements
    started = time.perf_counter()
    try:
        _charge(*args, **kwargs)
    finally:
        run.charge.append(time.perf_counter() - started)
        run.charge_statements += run.parts.statements - before


# ``allocations.write_in`` calls ``ledger.charge`` through the module: this is what it runs.
ledger.charge = _timed_charge


# -- counting statements ----------------------------------------------------------------------


def count_statements(store: Store, add: Callable[[int], None]) -> None:
    """Count every statement the driver runs on ``store``'s connections (the hot ones
    run on the raw cursor, past SQLAlchemy's events), BEGIN included, COMMIT not."""
    if store.backend == "sqlite":
        def trace(sql: str) -> None:
            if sql != "COMMIT":
                add(1)

        event.listen(store.engine, "connect",
                     lambda dbapi_conn, _record: dbapi_conn.set_trace_callback(trace))
        return

    def counting(base: type) -> type:
        class Counting(base):  # type: ignore[misc]
            def execute(self, query: Any, *args: Any, **kwargs: Any) -> Any:
                if str(query).strip().upper() != "COMMIT":
                    add(1)
                return super().execute(query, *args, **kwargs)

            def executemany(self, query: Any, params_seq: Any, *args: Any,
                            **kwargs: Any) -> Any:
                params_seq = list(params_seq)
                add(len(params_seq))
                return super().executemany(query, params_seq, *args, **kwargs)

        return Counting

    # psycopg sends BEGIN itself, not through a cursor: counted once per transaction.
    event.listen(store.engine, "connect", lambda dbapi_conn, _record: setattr(
        dbapi_conn, "cursor_factory", counting(dbapi_conn.cursor_factory)))
    event.listen(store.engine, "begin", lambda _conn: add(1))


# -- one configuration --------------------------------------------------------------------------


@dataclass
class Run:
    backend: str
    config: Config
    store: Store
    scheduler: Scheduler
    parts: sched.Parts = field(default_factory=sched.Parts)
    charge: list[float] = field(default_factory=list)
    charge_statements: int = 0
    seconds: float = 0.0
    counting: bool = False
    next_k: int = 0

    def add(self, n: int) -> None:
        if self.counting:
            self.parts.statements += n

    def one(self) -> None:
        req = instances.BootRequest(name=f"vm-{self.next_k}", flavor="bench-flavor",
                                    project_id=self.config.project, user_id="bench-user")
        self.next_k += 1
        started = time.perf_counter()
        instances.boot(self.store, self.scheduler, req)
        self.parts.boot.append(time.perf_counter() - started)

    def block(self, n: int) -> None:
        _current[:] = [self]
        self.counting = True
        started = time.perf_counter()
        for _ in range(n):
            self.one()
        self.seconds += time.perf_counter() - started
        self.counting = False

    def reset(self) -> None:
        for lst in (self.parts.read, self.parts.decision, self.parts.claim,
                    self.parts.schedule, self.parts.boot, self.charge):
            lst.clear()
        self.parts.statements = self.charge_statements = 0
        self.seconds = 0.0


def open_run(backend: str, config: Config, url: str, workdir: Path) -> Run:
    settings = Settings(database_url=url, host_down_after_s=sched.DAY_S, data_dir=str(workdir))
    store = make_store(settings.effective_database_url)
    parts = sched.Parts()
    scheduler = Scheduler(sched.TimedStore(store, parts), settings,  # type: ignore[arg-type]
                          CandidateFinder(store))
    sched.instrument(scheduler, parts)
    run = Run(backend, config, store, scheduler, parts)
    count_statements(store, run.add)  # before any connection is opened
    make_tree(store, config, settings)
    return run


def measure(runs: list[Run], boots: int, block: int) -> None:
    """Warm every run up (the first boot loads the engine), then ``boots`` each, in
    blocks of ``block`` taken in rotation."""
    for run in runs:
        _current[:] = [run]
        for _ in range(21):
            run.one()
        run.reset()
    gc.collect()
    done = 0
    while done < boots:
        n = min(block, boots - done)
        for run in runs:
            run.block(n)
        done += n


def ledger_check(run: Run) -> str:
    """The audit after the run: must be clean (and the limits untouched)."""
    report = quota_audit.audit(run.store)
    return "clean" if report.clean else f"{len(report.drifts)} drifts, {len(report.orphans)} orphans"


# -- report ----------------------------------------------------------------------------------


def p50(samples: list[float]) -> float:
    return sched.pct(samples, 50)


def report(runs: list[Run], title: str) -> None:
    say(f"\n### {title}\n")
    table(["config", "levels with limits", "boot p50", "boot p99", "boots/s", "claim p50",
           "charge p50", "charge p99", "SQL statements/boot", "of which in charge", "audit"],
          [(r.config.name, r.config.depth, p50(r.parts.boot), sched.pct(r.parts.boot, 99),
            len(r.parts.boot) / r.seconds, p50(r.parts.claim), p50(r.charge),
            sched.pct(r.charge, 99), r.parts.statements / len(r.parts.boot),
            r.charge_statements / len(r.parts.boot), ledger_check(r))
           for r in runs])
    none, flat, deep = runs
    say(f"\nboot p50: flat / none {p50(flat.parts.boot) / p50(none.parts.boot):.2f}x, "
        f"depth {DEPTH} / flat {p50(deep.parts.boot) / p50(flat.parts.boot):.2f}x "
        f"(the bar: at most 1.50x); charge p50: flat / none "
        f"{p50(flat.charge) / p50(none.charge):.2f}x, depth {DEPTH} / flat "
        f"{p50(deep.charge) / p50(flat.charge):.2f}x; depth {DEPTH} adds "
        f"{p50(deep.parts.boot) - p50(flat.parts.boot):.3f} ms to the boot p50, "
        f"{p50(deep.charge) - p50(flat.charge):.3f} ms to the charge p50")


def pg_reachable(url: str) -> bool:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # noqa: BLE001 (any failure: skip the section, say why)
        say(f"PostgreSQL at {url} not reachable ({type(exc).__name__}): section skipped")
        return False
    finally:
        engine.dispose()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--hosts", type=int, default=1000, help="Fleet size (default %(default)s).")
    p.add_argument("--boots", type=int, default=2000,
                   help="Measured boots per configuration (default %(default)s).")
    p.add_argument("--block", type=int, default=100,
                   help="Boots per configuration before the next one's turn "
                   "(default %(default)s).")
    p.add_argument("--skip-pg", action="store_true")
    p.add_argument("--log-level", default="warning")
    p.add_argument("--postgresql-url", default=os.environ.get(
        "CORRAL_BENCH_POSTGRESQL_URL", os.environ.get("CORRAL_TEST_POSTGRESQL_URL",
                                                      common.DEFAULT_PG)))
    args = p.parse_args()
    configure_logging(level=args.log_level)
    workdir = Path(tempfile.mkdtemp(prefix="corral-bench-quota-"))
    atexit.register(shutil.rmtree, workdir, True)
    settings = Settings(host_down_after_s=sched.DAY_S, data_dir=str(workdir))
    say(f"bench/quota.py on {common.machine_facts()}")
    say(f"flavor {sched.FLAVOR}; {args.hosts} hosts; limits {LIMITS} at every level "
        f"({settings.quota_model} model); {args.boots} boots per configuration after 21 "
        f"of warm-up, interleaved in blocks of {args.block}")

    template = workdir / f"fleet-{args.hosts}.sqlite"
    took = sched.seed(sched.sqlite_url(template), args.hosts, settings)
    say(f"seeded {args.hosts} hosts into SQLite in {took:.1f} s")
    runs = []
    for config in CONFIGS:
        db = workdir / f"quota-{config.depth}.sqlite"
        shutil.copy(template, db)
        runs.append(open_run("sqlite", config, sched.sqlite_url(db), workdir))
    measure(runs, args.boots, args.block)
    report(runs, f"SQLite file, in process, {args.hosts} hosts (ms)")
    for run in runs:
        run.store.dispose()

    if args.skip_pg or not pg_reachable(args.postgresql_url):
        return
    dbs = common.Databases(args.postgresql_url)
    runs = []
    for config in CONFIGS:
        url = dbs.create("corral_bench_quota")
        took = sched.seed(url, args.hosts, settings)
        say(f"seeded {args.hosts} hosts into PostgreSQL in {took:.1f} s ({config.name})")
        runs.append(open_run("postgresql", config, url, workdir))
    measure(runs, args.boots, args.block)
    report(runs, f"PostgreSQL, in process, {args.hosts} hosts (ms)")
    for run in runs:
        run.store.dispose()


if __name__ == "__main__":
    main()
