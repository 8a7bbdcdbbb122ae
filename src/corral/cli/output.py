"""Output of every listing and showing command: ``-f/--format`` and ``-c/--column``.

The formats behave like OpenStackClient's, so scripts written for ``openstack`` keep
working: ``table`` (rich, for people), ``json`` and ``yaml`` (a list of objects, or one
object for a show), ``csv`` (a header row, non-numeric fields quoted) and ``value``
(values separated by spaces, one row per line, no header). ``-c`` picks columns, in
the order given, and may be repeated. Nested values (traits, inventories) stay
structured in json and yaml; elsewhere they are flattened to text.

Commands build an :class:`Output` before they touch the database, so a bad ``-c``
fails fast with exit code 2, then hand it their rows.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer
import yaml  # type: ignore[import-untyped]
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"
    csv = "csv"
    value = "value"


FormatOption = Annotated[Format, typer.Option(
    "-f", "--format", case_sensitive=False,
    help="Output format: table (for people), json, yaml, csv or value (for scripts).")]
ColumnOption = Annotated[list[str] | None, typer.Option(
    "-c", "--column", metavar="COLUMN",
    help="Show only this column; repeat to show several, in the order given.")]

#: What ``-c`` is called in error messages (click's own style).
COLUMN_HINT = "'-c' / '--column'"


class Output:
    """Where a command's rows go, in the format and columns the user chose."""

    def __init__(self, fmt: Format, wanted: Sequence[str] | None, available: Sequence[str],
                 stream: TextIO | None = None) -> None:
        self.format = fmt
        self.available = tuple(available)
        self.columns = select_columns(self.available, wanted)
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        # Looked up when used, not when built: test runners swap sys.stdout.
        return self._stream or sys.stdout

    def list(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Print rows (mappings holding at least every available column) as a listing."""
        picked = [[row[c] for c in self.columns] for row in rows]
        emit_list(self.format, self.columns, picked, self.stream)

    def show(self, record: Mapping[str, Any]) -> None:
        """Print one record as field/value pairs."""
        emit_show(self.format, [(c, record[c]) for c in self.columns], self.stream)


def select_columns(available: Sequence[str], wanted: Sequence[str] | None) -> tuple[str, ...]:
    """The columns to print: all of them, or those asked for, in the order asked.

    Raises:
        typer.BadParameter: a column that does not exist (exit code 2).
    """
    if not wanted:
        return tuple(available)
    unknown = [c for c in wanted if c not in available]
    if unknown:
        raise typer.BadParameter(
            f"no column {unknown[0]!r}; the columns are: {', '.join(available)}",
            param_hint=COLUMN_HINT)
    return tuple(dict.fromkeys(wanted))  # drop repeats, keep the order given


# -- rendering of single values ----------------------------------------------------------

def flat(value: Any) -> str:
    """One line of text for a value (csv, value, and a table's scalar cells).

    Lists are comma-separated; a mapping becomes ``key=value`` pairs, and a mapping of
    mappings (inventories) ``CLASS:FIELD=VALUE`` pairs, the syntax ``--resource`` takes.
    """
    if isinstance(value, Mapping):
        parts: list[str] = []
        for key, inner in value.items():
            if isinstance(inner, Mapping):
                parts.extend(f"{key}:{field}={flat(v)}" for field, v in inner.items())
            else:
                parts.append(f"{key}={flat(inner)}")
        return ",".join(parts)
    if isinstance(value, list | tuple):
        return ",".join(flat(v) for v in value)
    return str(value)


def multiline(value: Any) -> str:
    """Text for a table cell: one line per list item or mapping key."""
    if isinstance(value, Mapping):
        lines: list[str] = []
        for key, inner in value.items():
            if isinstance(inner, Mapping):
                lines.append(f"{key}: " + ", ".join(f"{f}={flat(v)}" for f, v in inner.items()))
            else:
                lines.append(f"{key}={flat(inner)}")
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        return "\n".join(flat(v) for v in value)
    return str(value)


def _plain(value: Any) -> Any:
    """The value as JSON/YAML data (tuples become lists, mappings dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return value  # left unquoted by QUOTE_NONNUMERIC
    return flat(value)


# -- formats -------------------------------------------------------------------------------

def emit_list(fmt: Format, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              stream: TextIO) -> None:
    if fmt is Format.json:
        data = [dict(zip(columns, map(_plain, row), strict=True)) for row in rows]
        stream.write(json.dumps(data, indent=2) + "\n")
    elif fmt is Format.yaml:
        data = [dict(zip(columns, map(_plain, row), strict=True)) for row in rows]
        if data:
            stream.write(yaml.safe_dump(data, sort_keys=False, default_flow_style=False))
        else:
            stream.write("[]\n")
    elif fmt is Format.csv:
        writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(v) for v in row] for row in rows)
    elif fmt is Format.value:
        for row in rows:
            stream.write(" ".join(flat(v) for v in row) + "\n")
    else:
        table = _table(columns)
        for row in rows:
            table.add_row(*(Text(multiline(v)) for v in row))
        _print_table(table, stream)


def emit_show(fmt: Format, pairs: Sequence[tuple[str, Any]], stream: TextIO) -> None:
    if fmt is Format.json:
        stream.write(json.dumps({k: _plain(v) for k, v in pairs}, indent=2) + "\n")
    elif fmt is Format.yaml:
        stream.write(yaml.safe_dump({k: _plain(v) for k, v in pairs}, sort_keys=False,
                                    default_flow_style=False))
    elif fmt is Format.csv:
        writer = csv.writer(stream, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n")
        writer.writerow([k for k, _ in pairs])
        writer.writerow([_csv_cell(v) for _, v in pairs])
    elif fmt is Format.value:
        for _, v in pairs:
            stream.write(flat(v) + "\n")
    else:
        table = _table(("Field", "Value"))
        for k, v in pairs:
            table.add_row(Text(k), Text(multiline(v)))
        _print_table(table, stream)


def _table(columns: Sequence[str]) -> Table:
    table = Table(box=box.SQUARE, header_style="bold", highlight=False, show_lines=False)
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def _print_table(table: Table, stream: TextIO) -> None:
    console = Console(file=stream, highlight=False, soft_wrap=False)
    if not console.is_terminal:
        # Piped or captured: print the table at its natural width, never wrapped at 80
        # columns, so a UUID is never cut in two.
        natural = Console(width=100_000).measure(table).maximum
        console = Console(file=stream, highlight=False, soft_wrap=False,
                          width=max(natural, 20))
    console.print(table)
