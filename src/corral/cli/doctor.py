"""``corral doctor rabbit``: what operators chase by hand in a RabbitMQ cluster.

Reads the cluster through its management HTTP API (cli/rabbit_api.py) and corral's
own relay lag through corral's API (``GET /v1/events/pending``; the CLI never opens
the database), and reports each finding (cli/rabbit_checks.py) with its severity and
a one-line fix. Exit codes (docs/cli.md): 0 healthy (nothing, or only ``info``);
3 the worst finding is a warning; 8 one is critical; 4, 5, 6, 7 and 1 as every command
when the management API cannot be read (unreachable, TLS, credentials, unavailable,
refused); 2 bad input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli import output
from corral.cli import rabbit_checks as checks
from corral.cli.client import Client, ClientError, resolve
from corral.cli.context import bad_input, fail, settings, state
from corral.cli.rabbit_api import Management, ManagementError, Snapshot, credentials

#: Exit codes of a report (the transport's failures keep cli/client.py's).
FOUND_WARNING, FOUND_CRITICAL = 3, 8
COLUMNS = ("severity", "check", "object", "detail", "hint")

doctor_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Health checks of what corral depends on.")

Urls = Annotated[str | None, typer.Option(
    "--management-urls", metavar="URLS",
    help="RabbitMQ management API roots, comma-separated (default: "
         "rabbit_management_urls; the password comes from the configuration or "
         "CORRAL_RABBIT_MANAGEMENT_PASSWORD, never the command line).")]
User = Annotated[str | None, typer.Option(
    "--user", help="Management API user (default: rabbit_management_user).")]
CaCert = Annotated[str | None, typer.Option(
    "--cacert", help="CA bundle verifying the management API (default: "
                     "rabbit_management_cacert).")]
Vhost = Annotated[str | None, typer.Option(
    "--vhost", help="Check only this virtual host's queues and policies.")]
MaxReady = Annotated[int, typer.Option(
    min=1, help="Ready messages in a consumed queue from which it is a backlog.")]
MaxUnacked = Annotated[int, typer.Option(
    min=1, help="Unacknowledged messages in a queue from which they are a pile.")]
MaxHeartbeat = Annotated[int, typer.Option(
    min=1, help="Longest heartbeat (seconds) that is not a finding.")]
MaxRelayLag = Annotated[float, typer.Option(
    min=0, help="Age (seconds) of corral's oldest unsent event from which the relay lags "
                "(critical past ten times it).")]
SkipRelay = Annotated[bool, typer.Option(
    "--skip-relay", help="Do not ask corral's API for the relay's lag.")]
Timeout = Annotated[float, typer.Option(
    min=0.1, max=300, help="Seconds each request to the management API may take.")]


def _management_urls(given: str | None) -> str | None:
    if given is None:
        return None
    for i, url in enumerate(u.strip() for u in given.split(",") if u.strip()):
        if not url.startswith(("http://", "https://")):
            bad_input("--management-urls", f"URL {i + 1} is not http:// or https://")
    return given


def _read(urls: str | None, user: str | None, cacert: str | None,
          timeout: float) -> Snapshot:
    conf = settings(rabbit_management_urls=_management_urls(urls),
                    rabbit_management_user=user, rabbit_management_cacert=cacert)
    name, password = credentials(conf.rabbit_management_user,
                                 conf.rabbit_management_password, conf.brokers)
    try:
        api = Management(conf.management_urls, user=name, password=password,
                         verify=conf.rabbit_management_cacert or True, timeout_s=timeout)
    except ManagementError as exc:
        fail(exc.message, exc.exit_code)
    try:
        return api.snapshot()
    except ManagementError as exc:
        fail(exc.message, exc.exit_code)
    finally:
        api.close()


def _relay(limits: checks.Limits) -> list[checks.Finding]:
    """corral's relay lag, from corral's API; unknown (a warning) when it cannot say."""
    client: Client | None = None
    try:
        client = Client(resolve(state.os_cloud))
        return checks.relay(client.get("/v1/events/pending"), limits)
    except ClientError as exc:
        return [checks.relay_unknown(exc.message)]
    finally:
        if client is not None:
            client.close()


def _in_vhost(items: list[dict[str, object]], vhost: str | None) -> list[dict[str, object]]:
    return items if vhost is None else [i for i in items if i.get("vhost") == vhost]


def examine(snap: Snapshot, limits: checks.Limits, vhost: str | None) -> list[checks.Finding]:
    """Every finding of a snapshot (the relay's aside)."""
    down = frozenset(str(n.get("name")) for n in snap.nodes if not n.get("running", False))
    unread = [] if snap.policies is not None else [checks.Finding(
        "info", "policies_unread", f"user {snap.user}",
        "may not list policies: mirroring policies are seen only on the queues they apply to",
        "give the user access to every vhost (rabbitmqctl set_permissions -p VHOST USER "
        "'' '' '')")]
    return [*unread, *checks.nodes(snap.nodes),
            *checks.policies(_in_vhost(snap.policies or [], vhost)),
            *checks.queues(_in_vhost(snap.queues, vhost), limits, down),
            *checks.connections(snap.connections, limits)]


@doctor_app.command("rabbit")
def doctor_rabbit(
    management_urls: Urls = None,
    user: User = None,
    cacert: CaCert = None,
    vhost: Vhost = None,
    max_ready: MaxReady = 1000,
    max_unacked: MaxUnacked = 1000,
    max_heartbeat: MaxHeartbeat = 60,
    max_relay_lag: MaxRelayLag = 60.0,
    skip_relay: SkipRelay = False,
    timeout: Timeout = 10.0,
    fmt: output.FormatOption = output.Format.table,
    column: output.ColumnOption = None,
) -> None:
    """Check a RabbitMQ cluster through its management API: nodes down, partitions,
    alarms, classic mirrored queues, orphaned queues, piles of unacked messages,
    connections without heartbeats, quorum queues without a leader, and corral's own
    relay lag. Exit 0 healthy, 3 warnings, 8 critical (docs/cli.md)."""
    out = output.Output(fmt, column, COLUMNS, narrow=("hint", "detail"))
    limits = checks.Limits(max_ready, max_unacked, max_heartbeat, max_relay_lag)
    snap = _read(management_urls, user, cacert, timeout)
    try:
        found = examine(snap, limits, vhost) + ([] if skip_relay else _relay(limits))
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        if state.debug:
            raise
        # An answer of another shape than RabbitMQ 3.x/4.x's: say so in one line.
        fail(f"unexpected answer from {snap.source}: {type(exc).__name__}: {exc} "
             "(run with --debug for details)")
    findings = checks.ordered(found)
    out.list(f.row() for f in findings)
    worst = checks.worst(findings)
    counts = ", ".join(f"{sum(f.severity == s for f in findings)} {s}"
                       for s in checks.SEVERITIES)
    cluster = snap.overview.get("cluster_name", "?")
    version = snap.overview.get("rabbitmq_version") or snap.overview.get("management_version")
    out.done(f"cluster {cluster} (RabbitMQ {version}, asked {snap.source}): "
             f"{len(snap.nodes)} nodes, {len(snap.queues)} queues, "
             f"{len(snap.connections)} connections: {counts}; "
             + ("healthy" if worst in (None, "info") else f"worst is {worst}"))
    if worst == "critical":
        raise typer.Exit(FOUND_CRITICAL)
    if worst == "warning":
        raise typer.Exit(FOUND_WARNING)
