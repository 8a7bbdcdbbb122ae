"""Settings: every option corral reads, with its help text, type and default.

Values come from, in increasing precedence: the defaults below, an INI file (the
format OpenStack deployment tools write; ``--config-file`` or ``CORRAL_CONFIG_FILE``),
then ``CORRAL_<OPTION>`` environment variables. Everything is validated at once, and
every bad value is reported with where it came from, before anything starts.
``corral config sample`` prints the options as a commented INI file.
"""

from __future__ import annotations

import configparser
import os
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ConfigDict, Field, ValidationError, create_model, field_validator

from corral import config_events, config_serving
from corral.config_keystone import KEYSTONE_HELP, KEYSTONE_SECTION, KeystoneSettings
from corral.domain import bounds
from corral.domain.tokens import parse_api_tokens
from corral.scheduler import filters as scheduler_filters
from corral.scheduler import plugin
from corral.scheduler import weighers as scheduler_weighers

_INT32 = bounds.INT32_MAX
_RATIO = bounds.HOST_RATIO.high


def _default_data_dir() -> str:
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "corral")


@dataclass(frozen=True)
class Option:
    section: str
    name: str
    help: str


# (INI section, option name, help). The model below holds types, defaults and checks.
OPTIONS: list[Option] = [
    Option("DEFAULT", "data_dir", "Directory for the embedded SQLite database and other state."),
    Option("database", "database_url",
           "SQLAlchemy URL of the database. Empty: an SQLite file 'corral.sqlite' under "
           "data_dir. PostgreSQL: postgresql+psycopg://user:password@host/dbname."),
    Option("database", "auto_migrate",
           "Upgrade the schema at start-up instead of refusing to start when it is behind."),
    Option("database", "sqlite_busy_timeout_ms",
           "How long an SQLite writer waits for the lock before failing, in milliseconds."),
    Option("database", "pool_size", "Connections kept open per process (PostgreSQL)."),
    Option("api", "host", "Address 'corral serve' listens on."),
    Option("api", "port", "Port 'corral serve' listens on (8778 is Placement's)."),
    Option("api", "workers", "Number of server processes."),
    Option("api", "auth_strategy",
           "'noauth2': Placement's no-auth mode (token 'admin', or 'user:project' with "
           "roles in x-roles) plus api_tokens; 'tokens': only the api_tokens below; "
           "'keystone': X-Auth-Token validated by Keystone ([keystone_authtoken]). "
           "Tokens made with 'corral token create' work in all three."),
    Option("api", "api_tokens",
           "Static API tokens, comma-separated, each TOKEN=USER:PROJECT:ROLE[+ROLE...], "
           "for example 's3cret=nova:service:service+admin'."),
    Option("placement", "enforce_new_defaults",
           "Use Placement's new default policies (admin or service for writes, project "
           "readers for usages). False: the legacy admin-only rules."),
    Option("placement", "max_allocation_candidates",
           "Most allocation requests one GET /allocation_candidates returns; -1 for no cap."),
    Option("placement", "randomize_allocation_candidates",
           "When candidates are capped, pick them at random instead of taking the first."),
    # Policy files (docs/access.md, "Policy files") and the dashboard session (docs/dashboard.md).
    Option("oslo_policy", "policy_file",
           "Path of a policy.yaml overriding any rule ('corral policy list' names them, "
           "with their defaults). Empty: the built-in defaults. A file that cannot be "
           "read, an unknown rule name or a check string that does not parse stops the "
           "start with a message naming it."),
    Option("ui", "ui_session_key",
           "Key signing the dashboard's sign-in sessions (any long random string; the "
           "same for every server behind one address). Empty: a key kept in "
           "data_dir/ui_session.key, made at first start."),
    Option("ui", "ui_session_hours",
           "How long a dashboard sign-in lasts before the token must be given again."),
    Option("scheduler", "cpu_allocation_ratio",
           "vCPU overcommit of a host when neither the host nor its aggregates set one."),
    Option("scheduler", "ram_allocation_ratio",
           "Memory overcommit default (1.0: none, as operators run it)."),
    Option("scheduler", "disk_allocation_ratio", "Disk overcommit default."),
    Option("scheduler", "reserved_host_memory_mb",
           "Memory kept for the hypervisor on each host, unless the host sets its own."),
    Option("scheduler", "host_down_after_s",
           "A host whose last heartbeat is older than this many seconds is down and not "
           "scheduled to."),
    Option("scheduler", "strategy",
           "'spread' (prefer the emptiest hosts) or 'pack' (fill hosts up first); "
           "an aggregate's scheduler_strategy metadata overrides it for its hosts."),
    Option("scheduler", "enabled_filters",
           "Filters every decision runs, comma-separated, in this order (default: all of "
           "them). See docs/scheduler.md for each."),
    Option("scheduler", "max_attempts",
           "Hosts one boot may be tried on: the chosen one plus max_attempts-1 alternates "
           "that take over when a build fails."),
    Option("scheduler", "host_subset_size",
           "Pick at random among this many best-weighed hosts (1: always the best), so "
           "that parallel schedulers do not all pile onto the same host."),
    Option("scheduler", "score_sample_percent",
           "Sampling mode, off at 100: when more than score_sample_minimum hosts pass "
           "the filters, weigh only this percentage of them (at least the minimum), an "
           "evenly spread sample from a random start. Faster on very large fleets, but "
           "the best host of the sample is not always the best host (docs/configuration.md)."),
    Option("scheduler", "score_sample_minimum",
           "Sampling mode: with this many hosts passing the filters or fewer, every one "
           "is weighed."),
    # the filters' own settings (scheduler/filters/<name>.py)
    *(Option("scheduler", o.name, o.help) for o in scheduler_filters.OPTIONS),
    Option("scheduler", "allow_resize_to_same_host",
           "A resize may stay on its host (a migration always moves)."),
    # the weighers' multipliers (scheduler/weighers/<name>.py)
    *(Option("scheduler", o.name, o.help) for o in scheduler_weighers.OPTIONS),
    Option("scheduler", "decision_retention_hours",
           "How long scheduling decisions are kept for GET /v1/decisions and 'corral "
           "explain' (older ones are pruned as new ones are written; 0 keeps them all)."),
    Option("scheduler", "idempotency_key_retention_hours",
           "How long the answer to a POST /v1/instances sent with an Idempotency-Key is "
           "kept for replay (a retry with the same key and body gets it instead of a second "
           "boot); older keys are forgotten and pruned as new ones are stored."),
    Option("quota", "quota_model",
           "'overbook': a child's limit may not exceed its parent's, but children's limits "
           "may add up to more; 'strict': children's limits may not add up to more than "
           "their parent's (docs/quotas.md)."),
    Option("quota", "audit_interval_s",
           "Seconds between background quota audits in 'corral serve' (they export "
           "corral_quota_drift); 0 turns them off."),
    *(Option(*o) for o in config_events.OPTIONS),
    Option("logging", "log_format", "'json' for machines, 'console' for people."),
    Option("logging", "log_level", "Lowest level logged: debug, info, warning, error."),
    # [keystone_authtoken]: in the file under their OpenStack names (without 'keystone_').
    *(Option(KEYSTONE_SECTION, name, text) for name, text in KEYSTONE_HELP),
    # the serving edge: TLS, trusted proxies, limits (config_serving.py)
    *(Option(section, name, text) for section, name, text in config_serving.OPTIONS),
]


#: Options whose values are never echoed in error messages.
SECRET_OPTIONS = frozenset({"api_tokens", "database_url", "broker_urls", "keystone_password",
                            "keystone_application_credential_secret", "ui_session_key",
                            "rabbit_management_password"})

#: The fleet policy: options that change what the fleet looks like or what a decision
#: on it is (liveness, overcommit defaults, every scheduler choice, the quota model).
#: ``corral serve`` publishes its values into the database and every CLI command reads
#: them from there, so the CLI, /v1, /ui, /metrics and Placement give one answer
#: (services/system.py). Options about one process only (listening, logging, pools,
#: the audit timer) are not in it.
FLEET_POLICY: tuple[str, ...] = (
    *(opt.name for opt in OPTIONS if opt.section == "scheduler"), "quota_model")


class _Settings(config_events.EventSettings, KeystoneSettings):
    """Validated settings; pass them explicitly, never read them from a global. The
    filters' and weighers' own settings are added from their registries (below)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    data_dir: str = Field(default_factory=_default_data_dir)
    database_url: str = ""
    auto_migrate: bool = False
    sqlite_busy_timeout_ms: int = Field(default=30000, ge=0, le=3_600_000)
    pool_size: int = Field(default=10, ge=1, le=1000)
    host: str = "127.0.0.1"
    port: int = Field(default=8778, ge=1, le=65535)
    workers: int = Field(default=1, ge=1, le=256)
    auth_strategy: Literal["noauth2", "tokens", "keystone"] = "noauth2"
    api_tokens: str = ""
    enforce_new_defaults: bool = True
    policy_file: str = ""
    ui_session_key: str = ""
    ui_session_hours: int = Field(default=8, ge=1, le=24 * 30)
    max_allocation_candidates: int = Field(default=-1, ge=-1, le=_INT32)
    randomize_allocation_candidates: bool = False
    cpu_allocation_ratio: float = Field(default=4.0, gt=0, le=_RATIO, allow_inf_nan=False)
    ram_allocation_ratio: float = Field(default=1.0, gt=0, le=_RATIO, allow_inf_nan=False)
    disk_allocation_ratio: float = Field(default=1.0, gt=0, le=_RATIO, allow_inf_nan=False)
    reserved_host_memory_mb: int = Field(default=512, ge=0, le=_INT32)
    host_down_after_s: int = Field(default=60, ge=1, le=bounds.SECONDS.high)
    strategy: Literal["spread", "pack"] = "spread"
    enabled_filters: str = ""
    max_attempts: int = Field(default=3, ge=1, le=20)
    host_subset_size: int = Field(default=1, ge=1, le=1000)
    score_sample_percent: int = Field(default=100, ge=1, le=100)
    score_sample_minimum: int = Field(default=100, ge=1, le=_INT32)
    allow_resize_to_same_host: bool = False
    decision_retention_hours: int = Field(default=168, ge=0, le=bounds.HOURS.high)
    idempotency_key_retention_hours: int = Field(default=24, ge=1, le=24 * 365)
    quota_model: Literal["overbook", "strict"] = "overbook"
    audit_interval_s: int = Field(default=300, ge=0, le=bounds.SECONDS.high)
    log_format: Literal["json", "console"] = "console"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        if value and not (value.startswith("sqlite") or value.startswith("postgresql")):
            raise ValueError("must be an sqlite:/// or postgresql+psycopg:// URL")
        return value

    @field_validator("enabled_filters")
    @classmethod
    def _check_filters(cls, value: str) -> str:
        unknown = [f for f in _split(value) if f not in scheduler_filters.FILTER_NAMES]
        if unknown:
            raise ValueError(f"unknown filter {unknown[0]!r}; filters are "
                             + ", ".join(scheduler_filters.FILTER_NAMES))
        return value

    @property
    def filters(self) -> tuple[str, ...]:
        """The enabled filters, in the order they run."""
        return tuple(_split(self.enabled_filters)) or scheduler_filters.FILTER_NAMES

    @field_validator("api_tokens")
    @classmethod
    def _check_tokens(cls, value: str) -> str:
        parse_api_tokens(value)
        return value

    @property
    def effective_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return "sqlite:///" + str(Path(self.data_dir) / "corral.sqlite")

    @property
    def tokens(self) -> dict[str, tuple[str, str, tuple[str, ...]]]:
        return parse_api_tokens(self.api_tokens)


def _plugin_field(option: plugin.Option) -> tuple[Any, Any]:
    """A filter's or weigher's setting as a field: its type, default and bounds."""
    if option.integer:
        return int, Field(default=int(option.default), ge=int(option.low), le=int(option.high))
    return float, Field(default=option.default, ge=option.low, le=option.high,
                        allow_inf_nan=False)


if TYPE_CHECKING:
    class Settings(_Settings):
        def __getattr__(self, name: str) -> Any: ...  # the plugins' settings
else:
    Settings = create_model(
        "Settings", __base__=_Settings, __module__=__name__, __doc__=_Settings.__doc__,
        **{o.name: _plugin_field(o)
           for o in (*scheduler_filters.OPTIONS, *scheduler_weighers.OPTIONS)},
        **config_serving.FIELDS)


def _split(value: str) -> list[str]:
    return [part.strip() for part in value.split(",") if part.strip()]


class ConfigError(Exception):
    """Bad configuration; the message lists every problem, one per line."""


def _keystone_name(key: str) -> str:
    """The setting a key of ``[keystone_authtoken]`` sets (``auth_url``: keystone_auth_url)."""
    return key if key.startswith("keystone_") else "keystone_" + key


def file_key(opt: Option) -> str:
    """An option's name in the configuration file."""
    if opt.section == KEYSTONE_SECTION:
        return opt.name.removeprefix("keystone_")
    return opt.name


def _env_name(name: str) -> str:
    return "CORRAL_" + name.upper()


def _gather(config_file: str | None, overrides: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, str], list[str]]:
    """(raw values, where each came from, problems) from the file, environment, overrides."""
    raw: dict[str, Any] = {}
    origin: dict[str, str] = {}
    config_file = config_file or os.environ.get("CORRAL_CONFIG_FILE") or None
    problems: list[str] = []
    known = {opt.name: opt for opt in OPTIONS}
    if config_file:
        parser = configparser.ConfigParser(interpolation=None)
        try:
            with open(config_file, encoding="utf-8") as handle:
                parser.read_file(handle)
        except (OSError, configparser.Error) as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from exc
        sections = [configparser.DEFAULTSECT, *parser.sections()]
        for section in sections:
            items = parser.defaults() if section == configparser.DEFAULTSECT else {
                k: v for k, v in parser.items(section) if k not in parser.defaults()
            }
            for key, value in items.items():
                opt = known.get(_keystone_name(key) if section == KEYSTONE_SECTION else key)
                if opt is None:
                    problems.append(f"{config_file} [{section}] {key}: unknown option")
                    continue
                raw[opt.name] = value
                origin[opt.name] = f"{config_file} [{section}] {key}"
    for name in known:
        env = _env_name(name)
        if env in os.environ:
            raw[name] = os.environ[env]
            origin[name] = env
    for name, value in overrides.items():
        if value is not None:
            raw[name] = value
            origin[name] = f"--{name.replace('_', '-')}"
    return raw, origin, problems


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults, an INI file, the environment and explicit overrides.

    Raises:
        ConfigError: naming every bad value and where it came from.
    """
    raw, origin, problems = _gather(config_file, overrides)
    try:
        settings = Settings(**raw)
    except ValidationError as exc:
        for err in exc.errors():
            name = str(err["loc"][0]) if err["loc"] else "?"
            where = origin.get(name, name)
            shown = "<hidden>" if name in SECRET_OPTIONS else _shown(raw.get(name))
            problems.append(f"{where}: {err['msg']}{_allowed(name)} (got {shown})")
        settings = None
    if settings is not None:
        problems += config_serving.check(settings.model_dump())
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    assert settings is not None
    return settings


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:30]}... ({len(text)} characters)"


def _allowed(name: str) -> str:
    """``; allowed: <range>`` for a bounded numeric option, else ''."""
    field = Settings.model_fields.get(name)
    if field is None or field.annotation not in (int, float):
        return ""
    low: float | None = None
    high: float | None = None
    for rule in field.metadata:
        low = getattr(rule, "ge", getattr(rule, "gt", low))
        high = getattr(rule, "le", high)
    if low is None or high is None:
        return ""
    if field.annotation is int:
        return f"; allowed: {bounds.IntRange(int(low), int(high)).describe()}"
    included = not any(hasattr(rule, "gt") for rule in field.metadata)
    return f"; allowed: {bounds.FloatRange(low, high, low_included=included).describe()}"


def setting_origins(config_file: str | None = None, **overrides: Any) -> dict[str, str]:
    """Where each explicitly configured option came from (``CORRAL_X``, the file and
    section, ``--x``); options left at their defaults are absent."""
    return _gather(config_file, overrides)[1]


def sample_config() -> str:
    """Every option as a commented INI file, defaults shown."""
    defaults = Settings()
    lines = ["# corral configuration. Every option may also be set as CORRAL_<OPTION>.", ""]
    by_section: dict[str, list[Option]] = {}
    for opt in OPTIONS:
        by_section.setdefault(opt.section, []).append(opt)
    for section, opts in by_section.items():
        lines.append(f"[{section}]")
        for opt in opts:
            value = getattr(defaults, opt.name)
            if opt.name == "data_dir":
                value = "$XDG_DATA_HOME/corral (default ~/.local/share/corral)"
            if isinstance(value, bool):
                value = str(value).lower()
            lines.extend(textwrap.wrap(opt.help, 78, initial_indent="# ",
                                       subsequent_indent="# ", break_long_words=False,
                                       break_on_hyphens=False))
            lines.append(f"# env: {_env_name(opt.name)}")
            lines.append(f"#{file_key(opt)} = {value}")
            lines.append("")
    return "\n".join(lines)
