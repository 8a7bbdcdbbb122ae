"""Workloads for ``corral simulate``: a CSV trace (here), or a synthetic generator
(domain/synthetic.py).

A :class:`Workload` is a time-ordered list of events (an instance created with a shape
and a project, or an instance deleted), held as parallel lists so a million events stay
small. Shapes are :class:`~corral.domain.flavors.Flavor` values: a trace names a flavor
or gives ``vcpus``/``ram_mb``/``disk_gb``; the generator makes its own.

Pure: no I/O (the caller reads the file and passes its text).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from corral.domain import errors
from corral.domain.flavors import Flavor

CREATE = "create"
DELETE = "delete"
#: The trace's columns; ``time``, ``event`` and ``instance`` are required, a create
#: needs ``flavor`` or ``vcpus`` and ``ram_mb`` (``disk_gb`` defaults to 0).
COLUMNS = ("time", "event", "instance", "flavor", "vcpus", "ram_mb", "disk_gb", "project")
REQUIRED_COLUMNS = ("time", "event", "instance")
DEFAULT_PROJECT = "default"


class TraceError(errors.InvalidInput):
    """A trace line the parser refuses; names the line (1 is the header) and column."""

    def __init__(self, line: int, column: str | None, message: str) -> None:
        where = f"line {line}" + (f", column {column!r}" if column else "")
        super().__init__(f"trace {where}: {message}", field=column)
        self.line = line
        self.column = column


@dataclass
class Workload:
    """Events in time order, as parallel lists.

    ``create[i]`` True is a boot of instance ``instance[i]`` with ``shapes[shape[i]]``
    in ``projects[project[i]]``; False deletes it (``shape`` and ``project`` then
    repeat the create's). Instances are numbered; ``names`` keeps a trace's ids.
    """

    time: list[float] = field(default_factory=list)
    create: list[bool] = field(default_factory=list)
    instance: list[int] = field(default_factory=list)
    shape: list[int] = field(default_factory=list)
    project: list[int] = field(default_factory=list)
    shapes: list[Flavor] = field(default_factory=list)
    projects: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.time)

    @property
    def creates(self) -> int:
        return sum(self.create)


def shape_of(vcpus: int, ram_mb: int, disk_gb: int) -> Flavor:
    """An anonymous flavor for a trace line that gives sizes rather than a name."""
    return Flavor(id=f"{vcpus}c-{ram_mb}m-{disk_gb}g", name=f"{vcpus}c-{ram_mb}m-{disk_gb}g",
                  vcpus=vcpus, ram_mb=ram_mb, disk_gb=disk_gb)


# -- the CSV trace ---------------------------------------------------------------------------


def _int(value: str, line: int, column: str, low: int) -> int:
    try:
        n = int(value)
    except ValueError:
        raise TraceError(line, column, f"{value!r} is not a whole number") from None
    if n < low:
        raise TraceError(line, column, f"{n} is below {low}")
    return n


def parse_trace(text: str, flavors: Mapping[str, Flavor] | None = None) -> Workload:
    """Parse a CSV trace (header line first; columns in any order, see :data:`COLUMNS`).

    Times are seconds (any origin), non-decreasing. A create names a flavor of
    ``flavors`` (by name or id) or gives its sizes; a delete names a created instance.

    Raises:
        TraceError: naming the line and column of the first problem.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise TraceError(1, None, "the trace is empty (a header line is required)")
    trace = _Trace([h.strip() for h in header], flavors or {})
    for line, row in enumerate(reader, start=2):
        if row and not all(not c.strip() for c in row):
            trace.add(line, row)
    return trace.out


def _check_header(names: list[str]) -> None:
    unknown = [h for h in names if h not in COLUMNS]
    if unknown:
        raise TraceError(1, unknown[0], f"unknown column; columns are {', '.join(COLUMNS)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise TraceError(1, missing[0], "required column missing")
    if "flavor" not in names and not {"vcpus", "ram_mb"} <= set(names):
        raise TraceError(1, None, "a 'flavor' column or 'vcpus' and 'ram_mb' columns are required")


class _Trace:
    """The workload a trace builds line by line, and what it checks across lines (time
    order, instances alive)."""

    def __init__(self, names: list[str], flavors: Mapping[str, Flavor]) -> None:
        _check_header(names)
        self.width = len(names)
        self.col = {n: i for i, n in enumerate(names)}
        self.flavors = flavors
        self.out = Workload()
        self.shape_index: dict[str, int] = {}  # by flavor id
        self.project_index: dict[str, int] = {}
        self.numbers: dict[str, int] = {}
        self.live: dict[int, tuple[int, int]] = {}
        self.last = -math.inf

    def add(self, line: int, row: list[str]) -> None:
        if len(row) != self.width:
            raise TraceError(line, None, f"{len(row)} fields, the header has {self.width}")

        def cell(name: str) -> str:
            return row[self.col[name]].strip() if name in self.col else ""

        when = self._time(line, cell("time"))
        kind = cell("event").lower()
        ident = cell("instance")
        if not ident:
            raise TraceError(line, "instance", "an instance id is required")
        if kind == CREATE:
            number = self._create(line, ident, cell)
        elif kind == DELETE:
            number = self.numbers.get(ident, -1)
            if number not in self.live:
                raise TraceError(line, "instance", f"{ident!r} is deleted but not alive")
        else:
            raise TraceError(line, "event", f"{kind!r} is not 'create' or 'delete'")
        s_i, p_i = self.live[number] if kind == CREATE else self.live.pop(number)
        out = self.out
        out.time.append(when)
        out.create.append(kind == CREATE)
        out.instance.append(number)
        out.shape.append(s_i)
        out.project.append(p_i)

    def _time(self, line: int, text: str) -> float:
        try:
            when = float(text)
        except ValueError:
            raise TraceError(line, "time", f"{text!r} is not a number") from None
        if not math.isfinite(when):
            raise TraceError(line, "time", "must be finite")
        if when < self.last:
            raise TraceError(line, "time", f"{when:g} is before the previous line's "
                             f"{self.last:g} (the trace must be in time order)")
        self.last = when
        return when

    def _create(self, line: int, ident: str, cell: Callable[[str], str]) -> int:
        out = self.out
        number = len(out.names)
        if ident in self.numbers and self.numbers[ident] in self.live:
            raise TraceError(line, "instance", f"{ident!r} is created twice")
        self.numbers[ident] = number
        out.names.append(ident)
        shape = self._shape(line, cell)
        s_i = self.shape_index.setdefault(shape.id, len(out.shapes))
        if s_i == len(out.shapes):
            out.shapes.append(shape)
        project = cell("project") or DEFAULT_PROJECT
        p_i = self.project_index.setdefault(project, len(out.projects))
        if p_i == len(out.projects):
            out.projects.append(project)
        self.live[number] = (s_i, p_i)
        return number

    def _shape(self, line: int, cell: Callable[[str], str]) -> Flavor:
        flavor_name = cell("flavor")
        if flavor_name:
            found = self.flavors.get(flavor_name)
            if found is None:
                raise TraceError(line, "flavor", f"unknown flavor {flavor_name!r}")
            return found
        if not cell("vcpus") or not cell("ram_mb"):
            raise TraceError(line, "flavor" if "flavor" in self.col else "vcpus",
                             "a create needs a flavor or vcpus and ram_mb")
        return shape_of(_int(cell("vcpus"), line, "vcpus", 1),
                        _int(cell("ram_mb"), line, "ram_mb", 1),
                        _int(cell("disk_gb") or "0", line, "disk_gb", 0))


def format_trace(workload: Workload) -> str:
    """The workload as a CSV trace (sizes, not flavor names), as parse_trace reads it."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(("time", "event", "instance", "vcpus", "ram_mb", "disk_gb", "project"))
    for t, c, i, s, p in zip(workload.time, workload.create, workload.instance, workload.shape,
                             workload.project, strict=True):
        f = workload.shapes[s]
        name = workload.names[i] if workload.names else f"vm{i}"
        w.writerow((repr(t), CREATE if c else DELETE, name, f.vcpus, f.ram_mb, f.disk_gb,
                    workload.projects[p]))
    return buf.getvalue()


# -- the synthetic generator -------------------------------------------------------------------

def flavors_by_key(flavors: Iterable[Flavor]) -> dict[str, Flavor]:
    """{name: flavor, id: flavor} for resolving a trace's flavor column."""
    out: dict[str, Flavor] = {}
    for f in flavors:
        out[f.id] = f
        out[f.name] = f
    return out
