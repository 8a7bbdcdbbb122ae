"""How ``corral explain`` and a refused boot print a decision: the summary, the request,
the funnel of filters, the weighed hosts and why no host could take it, fitted to the
terminal's width (tables say which columns they left out)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TextIO

from rich import box
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from corral.cli import output


def console_for(stream: TextIO) -> Console:
    """A console on ``stream``: the terminal's width (or COLUMNS); piped, wide enough that
    a message stays whole."""
    # The terminal's width (or COLUMNS); piped, wide enough that a message stays whole.
    return Console(file=stream, highlight=False, soft_wrap=False,
                   width=output.width_of(stream, 200))


def render(parts: Sequence[RenderableType], console: Console) -> None:
    for part in parts:
        console.print(part)


class _Fitted:
    """A table laid out when the width is known (see output.fitted)."""

    def __init__(self, columns: Sequence[str], narrow: Sequence[str] = ()) -> None:
        self.columns = tuple(columns)
        self.narrow = tuple(narrow)
        self.rows: list[list[str]] = []

    def add_row(self, *cells: Any) -> None:
        self.rows.append([_words(c) for c in cells])

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield from output.fitted(self.columns, self.rows, options.max_width, narrow=self.narrow,
                                 hint="-f json shows all")


def _heading(text: str) -> Text:
    return Text(f"\n{text}", style="bold")


def _words(value: Any) -> str:
    """A value as words a line may break between: lists and mappings with ', '."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_words(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_words(v) for v in value)
    return output.human(value)


def _fields(pairs: Sequence[tuple[str, Any]]) -> Table:
    """Field/value lines, values as words (lists and mappings with ', ')."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="dim", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in pairs:
        if value in (None, [], {}, ""):
            continue
        grid.add_row(key, Text(_words(value)))
    return grid


def _score(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, int | float) else str(value)


def funnel_table(funnel: Sequence[Mapping[str, Any]]) -> Table:
    table = Table(box=box.SQUARE, header_style="bold", highlight=False)
    for column in ("step", "hosts left", "removed"):
        table.add_column(column, no_wrap=column != "step")
    for step in funnel:
        removed = step.get("removed")
        table.add_row(Text(str(step["step"])), Text(str(step["hosts"])),
                      Text("" if removed is None else str(removed),
                           style="red" if removed else ""))
    return table


def named_hosts(names: Sequence[str], count: int) -> Text:
    """The hosts a bucket names, and how many it does not (the record keeps the first
    few of a large bucket)."""
    text = Text(", ".join(names))
    if count > len(names):
        text.append(f" (the first {len(names)} of {count} hosts; the record names no more)",
                    style="dim")
    return text


def bucket_view(bucket: Mapping[str, Any]) -> RenderableType:
    """One bucket of removed hosts: the count and reason, the message, the hosts named."""
    by = " ".join(str(bucket[k]) for k in ("filter", "resource_class", "constraint")
                  if bucket.get(k))
    head = Text(f"{bucket.get('hosts', '?')} hosts", style="bold")
    head.append(f"  {bucket.get('code', '')}")
    if by:
        head.append(f" ({by})")
    body: list[RenderableType] = [Text(str(bucket.get("message", bucket.get("summary", ""))))]
    names = bucket.get("host_names") or []
    if names:
        body.append(named_hosts(names, int(bucket.get("hosts", len(names)))))
    return Group(head, Padding(Group(*body), (0, 0, 0, 2), expand=False))


def explanation_view(explanation: Mapping[str, Any]) -> list[RenderableType]:
    """Why no valid host: the reason, whether retrying helps, the funnel, the buckets of
    hosts removed (operator messages) and the hosts that came closest."""
    code = explanation.get("code", "?")
    what = [f"{k} {explanation[k]}" for k in ("filter", "constraint", "resource_class")
            if explanation.get(k)]
    head = Text("No valid host: ", style="bold red")
    head.append(code, style="bold")
    if what:
        head.append(f" ({', '.join(what)})")
    parts: list[RenderableType] = [head]
    if explanation.get("retry_can_help"):
        parts.append(Text(f"{explanation.get('kind', 'transient')}: retrying will help once "
                          "usage, host liveness or a racing claim changes"))
    else:
        parts.append(Text(f"{explanation.get('kind', 'structural')}: retrying won't help "
                          "until the fleet or the request changes"))
    if explanation.get("placed_before_refusal"):
        parts.append(Text(f"{explanation['placed_before_refusal']} instance(s) fitted before "
                          "the one that did not; none was claimed"))
    if explanation.get("funnel"):
        parts += [_heading("Funnel"), funnel_table(explanation["funnel"])]
    buckets = explanation.get("buckets") or []
    if buckets:
        parts += [_heading("Hosts removed"), *(bucket_view(b) for b in buckets)]
    misses = explanation.get("nearest_misses") or []
    if misses:
        table = _Fitted(("host", "lacks"))
        for m in misses:
            table.add_row(m.get("host", ""), m.get("message", ""))
        parts += [_heading("Nearest misses"), table]
    return parts


def decision_view(decision: Mapping[str, Any]) -> list[RenderableType]:
    """Every part of a recorded decision, as ``corral explain`` prints it."""
    record: Mapping[str, Any] = decision.get("record") or {}
    parts = _summary(decision)
    request: Mapping[str, Any] = record.get("request") or {}
    if request:
        parts += [_heading("Request"), _request_fields(request)]
    configuration: Mapping[str, Any] = record.get("configuration") or {}
    if configuration:
        parts += [_heading("Configuration"), _fields(list(configuration.items()))]
    explanation = record.get("explanation")
    if record.get("funnel") and not explanation:
        parts += [_heading("Funnel"), funnel_table(record["funnel"])]
    parts += _outcome_tables(record)
    if explanation:
        parts += [_heading("Why no valid host"), *explanation_view(explanation)]
    return parts


def _summary(decision: Mapping[str, Any]) -> list[RenderableType]:
    outcome = decision.get("outcome")
    head = Text(f"Decision {decision['id']}", style="bold")
    head.append(f"  {decision.get('kind')}: ")
    head.append(str(outcome), style="green" if outcome in ("scheduled", "dry_run") else "red")
    if decision.get("host"):
        head.append(f" on {decision['host']}")
    return [head, _fields([
        ("created", decision.get("created_at")),
        ("took", None if decision.get("elapsed_ms") is None
         else f"{decision['elapsed_ms']:.1f} ms"),
        ("project", decision.get("project_id")), ("instance", decision.get("instance_id")),
        ("reason", decision.get("reason"))])]


def _request_fields(request: Mapping[str, Any]) -> Table:
    flavor = request.get("flavor") or {}
    hints = {k: v for k, v in (request.get("hints") or {}).items() if v}
    return _fields([
        ("flavor", f"{flavor.get('name')} ({flavor.get('id')})" if flavor else None),
        ("resources", request.get("resources")),
        ("required traits", request.get("required_traits")),
        ("forbidden traits", request.get("forbidden_traits")),
        ("aggregate specs", request.get("aggregate_specs")),
        ("availability zone", request.get("availability_zone")),
        ("server group", request.get("server_group")), ("hints", hints),
        ("only host", request.get("host")), ("excluded", request.get("exclude_hosts")),
        ("count", request.get("count")), ("project", request.get("project_id")),
        ("user", request.get("user_id"))])


def _outcome_tables(record: Mapping[str, Any]) -> list[RenderableType]:
    """The weighed hosts, the placements chosen, the attempts and the lost races."""
    parts: list[RenderableType] = []
    weighed = record.get("weighed") or []
    if weighed:
        weighers = sorted({w for h in weighed for w in h.get("components", {})})
        table = _Fitted(("#", "host", "score", *weighers, "aggregates"),
                        narrow=("aggregates", *reversed(weighers)))
        for rank, h in enumerate(weighed, 1):
            components = h.get("components", {})
            table.add_row(str(rank), h.get("host"), _score(h.get("score")),
                          *(_score(components.get(w, "")) for w in weighers),
                          h.get("aggregates", []))
        parts += [_heading("Weighed hosts (best first)"), table]
    placements = record.get("placements") or []
    if placements:
        table = _Fitted(("instance", "host", "alternates", "allocations"),
                        narrow=("allocations", "alternates"))
        for p in placements:
            table.add_row(p.get("instance"), p.get("host"), p.get("alternates", []),
                          output.multiline(p.get("allocations", {})))
        parts += [_heading("Chosen"), table]
    attempts = record.get("attempts") or []
    if attempts:
        table = _Fitted(("at", "instance", "host", "result", "message"),
                        narrow=("at", "instance"))
        for a in attempts:
            table.add_row(*(a.get(k) for k in ("at", "instance", "host", "result", "message")))
        parts += [_heading("Attempts"), table]
    conflicts = record.get("conflicts") or []
    if conflicts:
        table = _Fitted(("hosts", "reason", "message"))
        for c in conflicts:
            table.add_row(c.get("hosts", []), c.get("reason"), c.get("message"))
        parts += [_heading("Claims lost to a race (retried)"), table]
    return parts
