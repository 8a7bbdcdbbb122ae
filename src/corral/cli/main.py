"""``corral``: serve the API, manage the database, and operate on the fleet.

Commands follow the OpenStackClient grammar (``corral <object> <action>``). They
work on the database named by the configuration (the same one ``corral serve``
uses), through the same services as the API.
"""

from __future__ import annotations

import os
import shutil
import sys
from typing import Annotated

import typer

from corral import __version__
from corral.cli import (
    aggregates,
    capacity,
    demo,
    flavors,
    history,
    hosts,
    instances,
    output,
    providers,
    server_groups,
    serving,
)
from corral.cli.audit import audit_command
from corral.cli.context import err, fail, out, settings, state
from corral.cli.local import open_services
from corral.cli.policy import policy_app
from corral.cli.projects import limit_app, project_app, quota_app
from corral.cli.relay import relay_command
from corral.cli.simulate import simulate_command
from corral.cli.tokens import token_app
from corral.config import Settings, sample_config, setting_origins
from corral.logging import redact
from corral.services import system
from corral.services.audit_log import local_actor

# No locals in --debug tracebacks: they hold the database URL and its password.
# Markdown help: a docstring's single line breaks do not break the command listings.
app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown", add_completion=False,
                  pretty_exceptions_show_locals=False,
                  help="corral: compute capacity control plane (placement, scheduling, quotas).")
db_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                     help="Database schema: upgrade, current revision.")
config_app = typer.Typer(no_args_is_help=True, rich_markup_mode="markdown",
                         help="Configuration: a sample file; the fleet policy in use.")
app.add_typer(db_app, name="db")
app.add_typer(config_app, name="config")
app.add_typer(providers.provider_app, name="provider")
app.add_typer(providers.inventory_app, name="inventory")
app.add_typer(hosts.host_app, name="host")
app.add_typer(aggregates.aggregate_app, name="aggregate")
app.add_typer(flavors.flavor_app, name="flavor")
app.add_typer(server_groups.server_group_app, name="server-group")
app.command("demo")(demo.seed_demo)
app.add_typer(instances.instance_app, name="instance")
app.add_typer(instances.decision_app, name="decision")
app.command("explain")(instances.explain_decision)
app.add_typer(token_app, name="token")
app.add_typer(policy_app, name="policy")
app.add_typer(project_app, name="project")
app.add_typer(limit_app, name="limit")
quota_app.command("audit")(audit_command)
app.add_typer(quota_app, name="quota")
app.command("simulate")(simulate_command)
app.command("capacity")(capacity.capacity_command)
app.command("relay")(relay_command)
app.command("audit-log")(history.audit_log_command)
app.add_typer(history.event_app, name="event")

ConfigFile = Annotated[str | None, typer.Option("--config-file", envvar="CORRAL_CONFIG_FILE",
                                                help="INI configuration file.")]
OsCloud = Annotated[str | None, typer.Option(
    "--os-cloud", envvar="OS_CLOUD",
    help="The clouds.yaml entry to authenticate with (Keystone).")]
OsCacert = Annotated[str | None, typer.Option(
    "--os-cacert", metavar="FILE",
    help="CA bundle to verify corral's and Keystone's TLS certificates with (over "
         "clouds.yaml's cacert and OS_CACERT).")]
DatabaseUrl = Annotated[str | None, typer.Option("--database-url", help="Overrides database_url.")]


def _version(value: bool) -> None:
    if value:
        out.print(f"corral {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    config_file: ConfigFile = None,
    database_url: DatabaseUrl = None,
    os_cloud: OsCloud = None,
    os_cacert: OsCacert = None,
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
    debug: Annotated[bool, typer.Option(
        "--debug", help="Show the traceback of unexpected errors.")] = False,
) -> None:
    state.config_file = config_file
    state.database_url = database_url
    state.os_cloud = os_cloud
    state.os_cacert = os_cacert
    state.debug = debug
    state.noted = set()


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Create or upgrade the database schema to the newest revision."""
    with open_services(check_schema=False) as store:
        before = system.schema_state(store)
        after = system.upgrade_schema(store)
    out.print(f"database at revision {after.current} (was {before.current or 'empty'})")


@db_app.command("current")
def db_current() -> None:
    """Print the schema revision of the database and whether it is up to date."""
    with open_services(check_schema=False) as store:
        st = system.schema_state(store)
    status = ("up to date" if st.up_to_date
              else f"behind (newest is {st.head}): run 'corral db upgrade'")
    out.print(f"{st.current or 'empty'} ({status})")
    if not st.up_to_date:
        raise typer.Exit(1)


@config_app.command("sample")
def config_sample() -> None:
    """Print every option with its help text, as an INI file."""
    sys.stdout.write(sample_config() + "\n")


@config_app.command("show")
def config_show(fmt: output.FormatOption = output.Format.table,
                column: output.ColumnOption = None) -> None:
    """The fleet policy this database's commands use: each option, its value and where it
    came from (published by 'corral serve', a default of the fleet, this configuration)."""
    out_ = output.Output(fmt, column, ("option", "value", "origin"), narrow=())
    with open_services() as store:
        view = system.fleet_view(store, settings(), setting_origins(
            state.config_file, database_url=state.database_url))
    out_.list({"option": name, "value": entry["value"], "origin": entry["origin"]}
              for name, entry in system.fleet_configuration(view).items())


@app.command("serve")
def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (default 8778).")] = None,
    workers: Annotated[int | None, typer.Option(help="Server processes (default 1).")] = None,
    banner: Annotated[bool, typer.Option(help="Print what to try once it is up.")] = False,
    tls_cert_file: Annotated[str | None, typer.Option(
        help="PEM certificate chain: serve HTTPS (with --tls-key-file).")] = None,
    tls_key_file: Annotated[str | None, typer.Option(help="PEM key of the certificate.")] = None,
    tls_ca_file: Annotated[str | None, typer.Option(
        help="Require client certificates signed by these CAs (PEM).")] = None,
    trusted_proxies: Annotated[str | None, typer.Option(
        help="Addresses or networks whose X-Forwarded-Proto/-For are believed.")] = None,
    allow_noauth2_on_network: Annotated[bool | None, typer.Option(
        "--allow-noauth2-on-network", help="Serve noauth2 on an address other than "
        "loopback (anyone may then claim any identity).")] = None,
) -> None:
    """Serve the API (Placement-compatible at / and /placement)."""
    # The one import left in a function: a third-party server (about 40 ms and 40
    # modules) that only this command runs; nothing of corral hides behind it.
    import uvicorn

    overrides = {"host": host, "port": port, "workers": workers, "tls_cert_file": tls_cert_file,
                 "tls_key_file": tls_key_file, "tls_ca_file": tls_ca_file,
                 "trusted_proxies": trusted_proxies,
                 "allow_noauth2_on_network": allow_noauth2_on_network}
    conf = settings(service=True, **overrides)
    refused = serving.noauth2_refusal(conf)
    if refused is not None:
        fail(refused)
    store = system.open_store(conf)
    try:
        system.prepare(store, conf)
        # One fleet, one policy: run with the fleet's defaults below the explicit
        # configuration, and publish the result for the CLI (and any other reader).
        origins = setting_origins(state.config_file, database_url=state.database_url,
                                  **overrides)
        conf, fleet_origins = system.with_fleet_defaults(store, conf, origins)
        system.publish_fleet_policy(store, conf, fleet_origins,
                                    actor=local_actor("corral serve"))
    except system.SchemaBehind as exc:
        fail(str(exc))
    finally:
        store.dispose()
    if banner:
        _print_banner(conf)
    # Workers are separate processes: hand them the settings through the environment.
    for name, value in conf.model_dump().items():
        os.environ["CORRAL_" + name.upper()] = str(value)
    os.environ.pop("CORRAL_CONFIG_FILE", None)
    if conf.auth_strategy == "noauth2":
        err.print(f"[bold red]{serving.NOAUTH2_WARNING}[/bold red]", highlight=False)
    uvicorn.run("corral.api.asgi:app_from_environment", factory=True,
                **serving.server_options(conf))


def _print_banner(conf: Settings) -> None:
    base = f"{'https' if conf.tls_cert_file else 'http'}://{conf.host}:{conf.port}"
    # Show the command as the user can type it: 'corral' when it is on PATH, else the path.
    invoked = os.path.abspath(sys.argv[0])
    cli = "corral" if shutil.which("corral") == invoked else os.path.relpath(invoked)
    out.print(f"[bold]corral {__version__}[/bold] on {base}  (database: "
              f"{redact(conf.effective_database_url)})", highlight=False)
    out.print("Try:", highlight=False)
    headers = "-H 'x-auth-token: admin' -H 'openstack-api-version: placement latest'"
    for line in (
        f"curl -s {base}/",
        f"curl -s {headers} {base}/resource_providers",
        f"curl -s {headers} '{base}/allocation_candidates?resources=VCPU:4,MEMORY_MB:8192"
        f"&required=HW_CPU_X86_AVX2&limit=3'",
        f"export CORRAL_URL={base} CORRAL_TOKEN=admin   # where the {cli} CLI sends its "
        "requests",
        f"{cli} provider list",
        f"{cli} provider show compute-az1-19",
        f"{cli} inventory list compute-az1-01",
        f"curl -s -H 'x-auth-token: admin' -H 'content-type: application/json' {base}/v1/"
        "instances -d '{\"name\": \"web\", \"flavor\": \"ssd.large\", "
        "\"project_id\": \"demo\", \"count\": 2}'",
        f"{cli} instance boot big --flavor gpu.large --project demo --dry-run",
        f"{cli} instance list        {cli} explain DECISION_ID",
        f"{cli} capacity              {cli} quota show acme       {cli} quota audit",
        f"dashboard: {base}/ui (sign in with the token admin)",
        f"API docs: {base}/docs   metrics: {base}/metrics   health: {base}/healthz",
    ):
        out.print(f"  {line}", highlight=False, soft_wrap=True)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
