"""Output of every listing and showing command: ``-f/--format`` and ``-c/--column``.

The formats behave like OpenStackClient's, so scripts written for ``openstack`` keep
working: ``table`` (rich, for people), ``json`` and ``yaml`` (a list of objects, or one
object for a show), ``csv`` (a header row, non-numeric fields quoted) and ``value``
(values separated by spaces, one row per line, no header). ``-c`` picks columns, in
the order given, and may be repeated. Nested values (traits, inventories) stay
structured in json and yaml; elsewhere they are flattened to text.

Commands build an :class:`Output` before they touch the database, so a bad ``-c``
fails fast with exit code 2, then hand it their rows.

Values are shown per format: in a table None is ``-`` and a boolean ``yes``/``no``; in
csv and value None is empty and a boolean ``true``/``false``; json and yaml keep null
and true/false. A table fits the terminal (or ``COLUMNS``; piped without it, a table
keeps its natural width so that a script never gets a cut UUID): names are never
broken mid-word. When the columns do not fit, the command's least useful ones are left
out, and a line under the table says which; when even that is not enough (or the user
picked the columns with ``-c``), rows are printed one field a line. A long list in a
listing's cell shows its first items and says how many more there are.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, TextIO

import typer
import yaml  # type: ignore[import-untyped]
from rich import box
from rich.cells import cell_len
from rich.console import Console, RenderableType
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
    """Where a command's rows go, in the format and columns the user chose.

    Args:
        narrow: columns a table may leave out when it does not fit the terminal, least
            useful first (default: from the right, never the first column). Columns
            picked with ``-c`` are never left out.
    """

    def __init__(self, fmt: Format, wanted: Sequence[str] | None, available: Sequence[str],
                 stream: TextIO | None = None, *, narrow: Sequence[str] | None = None) -> None:
        self.format = fmt
        self.available = tuple(available)
        self.columns = select_columns(self.available, wanted)
        self.picked = bool(wanted)
        self.narrow = tuple(narrow) if narrow is not None else tuple(reversed(self.available[1:]))
        self._stream = stream

    @property
    def stream(self) -> TextIO:
        # Looked up when used, not when built: test runners swap sys.stdout.
        return self._stream or sys.stdout

    def list(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Print rows (mappings holding at least every available column) as a listing."""
        picked = [[row[c] for c in self.columns] for row in rows]
        emit_list(self.format, self.columns, picked, self.stream,
                  narrow=() if self.picked else self.narrow)

    def show(self, record: Mapping[str, Any]) -> None:
        """Print one record as field/value pairs."""
        emit_show(self.format, [(c, record[c]) for c in self.columns], self.stream)

    def done(self, message: str) -> None:
        """Say what a command did, in one line, for people (table format only: the
        other formats print nothing but data)."""
        if self.format is Format.table:
            said(message, self.stream)


def said(message: str, stream: TextIO | None = None) -> None:
    """Print one line saying what a command did (wrapped at words, never cut)."""
    stream = stream or sys.stdout
    console = Console(file=stream, highlight=False, soft_wrap=False, width=width_of(stream, 200))
    console.print(Text(message))


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
    return scalar(value)


def scalar(value: Any) -> str:
    """A single value for csv and value: None is empty, booleans are true/false."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def human(value: Any) -> str:
    """A single value for a table: None is '-', booleans are yes/no."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


#: A list in a listing's cell longer than this shows LIST_HEAD items and how many more.
LIST_MAX = 8
LIST_HEAD = 6


def multiline(value: Any, *, limit: int | None = None) -> str:
    """Text for a table cell: one line per list item or mapping key.

    Args:
        limit: a longer list shows its first items and a last line saying how many
            more there are (listings; a show prints every item).
    """
    if isinstance(value, Mapping):
        lines: list[str] = []
        for key, inner in value.items():
            if isinstance(inner, Mapping):
                lines.append(f"{key}: " + ", ".join(f"{f}={human(v)}" for f, v in inner.items()))
            else:
                lines.append(f"{key}={human(inner)}")
        return "\n".join(lines)
    if isinstance(value, list | tuple):
        items = [flat(v) if isinstance(v, Mapping | list | tuple) else human(v) for v in value]
        if limit is not None and len(items) > limit:
            head = min(LIST_HEAD, limit)
            items = [*items[:head], f"(+{len(items) - head} more)"]
        return "\n".join(items) if items else "-"
    return human(value)


def _plain(value: Any) -> Any:
    """The value as JSON/YAML data (tuples become lists, mappings dicts)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _csv_cell(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return scalar(value)
    if isinstance(value, int | float):
        return value  # left unquoted by QUOTE_NONNUMERIC
    return flat(value)


# -- formats -------------------------------------------------------------------------------

def emit_list(fmt: Format, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              stream: TextIO, *, narrow: Sequence[str] = ()) -> None:
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
        cells = [[multiline(v, limit=LIST_MAX) for v in row] for row in rows]
        _print(fitted(columns, cells, width_of(stream), narrow=narrow), stream)


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
        table = Table(box=box.SQUARE, header_style="bold", highlight=False)
        table.add_column("Field", no_wrap=True)
        table.add_column("Value", overflow="fold")
        for k, v in pairs:
            table.add_row(Text(k), Text(multiline(v)))
        _print([table], stream)


# -- tables that fit -------------------------------------------------------------------------

def width_of(stream: TextIO, piped: int | None = None) -> int | None:
    """The width to print at: ``COLUMNS`` when set, else the terminal's; ``piped`` (None:
    a table's natural width) when the output is neither."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    console = Console(file=stream)
    return console.width if console.is_terminal else piped


def table_of(columns: Sequence[str], rows: Sequence[Sequence[str]],
             widths: Sequence[int] | None = None) -> Table:
    table = Table(box=box.SQUARE, header_style="bold", highlight=False)
    for n, column in enumerate(columns):
        table.add_column(column, overflow="fold", width=widths[n] if widths else None)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    return table


def _extent(column: str, cells: Iterable[str]) -> tuple[int, int]:
    """(longest word, longest line) of a column, header included."""
    lines = [column, *(line for cell in cells for line in cell.splitlines())]
    words = [w for line in lines for w in line.split()]
    return (max((cell_len(w) for w in words), default=1),
            max((cell_len(line) for line in lines), default=1))


#: What a table adds to its cells' widths: a border per column and one more, and a
#: space either side of every cell.
def _frame(count: int) -> int:
    return 3 * count + 1


def _widths(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int
            ) -> list[int] | None:
    """Widths of the columns so that the table fits ``width`` and no word is broken
    (None: it cannot). The widest columns give way first, never below their longest
    word."""
    extents = [_extent(c, (row[n] for row in rows)) for n, c in enumerate(columns)]
    room = width - _frame(len(columns))
    if sum(low for low, _ in extents) > room:
        return None
    widths = [high for _, high in extents]
    excess = sum(widths) - room
    while excess > 0:
        n = max((k for k in range(len(widths)) if widths[k] > extents[k][0]),
                key=lambda k: widths[k])
        widths[n] -= 1
        excess -= 1
    return widths


def fitted(columns: Sequence[str], rows: Sequence[Sequence[str]], width: int | None, *,
           narrow: Sequence[str] = (),
           hint: str = "-c picks columns, -f json shows all") -> list[RenderableType]:
    """A table of ``rows`` (text cells) that fits ``width`` without breaking a word.

    Columns in ``narrow`` are left out, in that order, until the table fits, and a line
    says which. When it still does not fit, each row is printed as ``column: value``
    lines. ``width`` None: the natural width.
    """
    if width is None:
        return [table_of(columns, rows)]
    keep, kept_rows = list(columns), [list(r) for r in rows]
    dropped: list[str] = []
    for column in (None, *narrow):
        if column is not None:
            if column not in keep or len(keep) == 1:
                continue
            index = keep.index(column)
            keep.pop(index)
            kept_rows = [[*row[:index], *row[index + 1:]] for row in kept_rows]
            dropped.append(column)
        widths = _widths(keep, kept_rows, width)
        if widths is not None:
            parts: list[RenderableType] = [table_of(keep, kept_rows, widths)]
            if dropped:
                parts.append(Text(f"left out at {width} columns: {', '.join(dropped)} "
                                  f"({hint})", style="dim"))
            return parts
    # Vertically, every column has the whole width again: show them all.
    return vertical(columns, rows)


def vertical(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[RenderableType]:
    """Rows too wide for a table: each as ``column: value`` lines, a blank line between."""
    parts: list[RenderableType] = []
    for n, row in enumerate(rows):
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="bold", no_wrap=True)
        grid.add_column(overflow="fold")
        for column, cell in zip(columns, row, strict=True):
            grid.add_row(column + ":", Text(cell))
        if n:
            parts.append(Text(""))
        parts.append(grid)
    if not rows:
        parts.append(Text("(none)"))
    return parts


def _print(parts: Sequence[RenderableType], stream: TextIO) -> None:
    width = width_of(stream)
    if width is None:
        # Piped or captured without COLUMNS: print at the natural width, never wrapped,
        # so a UUID is never cut in two.
        console = Console(width=100_000)
        width = max([console.measure(p).maximum for p in parts] + [20])
    console = Console(file=stream, highlight=False, soft_wrap=False, width=width)
    for part in parts:
        console.print(part)
