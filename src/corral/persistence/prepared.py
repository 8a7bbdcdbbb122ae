"""Hot statements run straight on the driver's cursor.

Running a statement through SQLAlchemy's ``Connection.execute`` costs about 25 us on
top of the driver even when its compiled form is cached (execution context, events,
result set-up); the driver itself takes 3-5 us for the short statements of a claim
(measured: docs/performance.md). A :class:`Prepared` statement is compiled by
SQLAlchemy once per dialect (and, for an INSERT, per set of columns), with its bind
processors, and then runs on the DBAPI cursor of the same connection, inside the same
transaction. Expanding ``IN`` parameters are rendered per call with one placeholder per
value. Results come back as the driver's tuples: only statements whose result columns
need no processing (integers, strings) should be read through it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

_POSTCOMPILE = re.compile(r"__\[POSTCOMPILE_(\w+)\]")


@dataclass(frozen=True, slots=True)
class _Form:
    sql: str
    positional: bool
    order: tuple[str, ...]  # parameter names in placeholder order (positional styles)
    processors: dict[str, Any]
    expanding: frozenset[str]
    plain: tuple[tuple[str, Any], ...]
    """Without expanding parameters: (name, bind processor or None) in placeholder
    order (positional styles) or in the statement's order (named styles)."""


class Prepared:
    """A Core statement compiled once per dialect, executed on the raw DBAPI cursor."""

    __slots__ = ("stmt", "_forms")

    def __init__(self, stmt: ClauseElement) -> None:
        self.stmt = stmt
        self._forms: dict[tuple[str, frozenset[str] | None], _Form] = {}

    def _form(self, dialect: Dialect, keys: frozenset[str] | None) -> _Form:
        form = self._forms.get((dialect.name, keys))
        if form is None:
            compiled = self.stmt.compile(dialect=dialect,
                                         column_keys=sorted(keys) if keys else None)
            assert isinstance(compiled, SQLCompiler)
            processors = {}
            expanding = set()
            for name, bind in compiled.binds.items():
                proc = bind.type._cached_bind_processor(dialect)  # noqa: SLF001
                if proc is not None:
                    processors[name] = proc
                if bind.expanding:
                    expanding.add(name)
            positional = bool(compiled.positional)
            order = tuple(compiled.positiontup or ()) if positional else ()
            names = order if positional else tuple(compiled.binds)
            plain = () if expanding else tuple((n, processors.get(n)) for n in names)
            form = _Form(compiled.string, positional, order, processors, frozenset(expanding),
                         plain)
            self._forms[(dialect.name, keys)] = form
        return form

    def _bind(self, form: _Form, params: Mapping[str, Any]) -> tuple[str, Any]:
        if form.plain:  # the common case, a statement without IN lists: one pass
            if form.positional:
                return form.sql, [params[n] if p is None else p(params[n])
                                  for n, p in form.plain]
            return form.sql, {n: params[n] if p is None else p(params[n])
                              for n, p in form.plain if n in params}
        procs = form.processors

        def value(name: str) -> Any:
            v = params[name]
            proc = procs.get(name)
            return proc(v) if proc is not None else v

        sql = form.sql
        if form.expanding:
            def render(match: re.Match[str]) -> str:
                name = match.group(1)
                n = len(params[name])
                if n == 0:
                    return "NULL"  # IN (NULL) matches nothing, as SQLAlchemy renders it
                if form.positional:
                    return ", ".join("?" * n)
                return ", ".join(f"%({name}_{i})s" for i in range(n))
            sql = _POSTCOMPILE.sub(render, sql)
        if form.positional:
            out: list[Any] = []
            for name in form.order:
                if name in form.expanding:
                    proc = procs.get(name)
                    out.extend(proc(v) if proc else v for v in params[name])
                else:
                    out.append(value(name))
            return sql, out
        named: dict[str, Any] = {}
        for name in params:
            if name in form.expanding:
                proc = procs.get(name)
                for i, v in enumerate(params[name]):
                    named[f"{name}_{i}"] = proc(v) if proc else v
            else:
                named[name] = value(name)
        return sql, named

    def execute(self, conn: Connection, params: Mapping[str, Any] | None = None,
                *, columns: Iterable[str] | None = None) -> Any:
        """Run once; returns the DBAPI cursor (fetch from it, or read ``rowcount``).

        ``columns``: for an INSERT, the columns given (compiled per set of columns).
        """
        params = params or {}
        keys = frozenset(columns) if columns is not None else None
        sql, bound = self._bind(self._form(conn.dialect, keys), params)
        cursor = conn.connection.cursor()
        cursor.execute(sql, bound)
        return cursor

    def execute_on(self, dialect: Dialect, dbapi_conn: Any,
                   params: Mapping[str, Any] | None = None) -> Any:
        """Run once on a bare DBAPI connection (no SQLAlchemy transaction around it)."""
        sql, bound = self._bind(self._form(dialect, None), params or {})
        cursor = dbapi_conn.cursor()
        cursor.execute(sql, bound)
        return cursor

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> Any:
        """Run once per row (an INSERT compiled for the first row's columns); returns
        the DBAPI cursor (``rowcount`` sums the rows on both drivers)."""
        if not rows:
            return None
        form = self._form(conn.dialect, frozenset(rows[0]))
        bound = [self._bind(form, r)[1] for r in rows]
        cursor = conn.connection.cursor()
        cursor.executemany(form.sql, bound)
        return cursor
