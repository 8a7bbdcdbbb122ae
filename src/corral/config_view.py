"""Every option's value and where it came from, secrets hidden: what ``GET /v1/config``
answers for the server and ``corral config show --local`` prints for this machine.

Origins are those of :func:`corral.config.setting_origins` (the file and section,
``CORRAL_X``, ``--x``), the fleet's (``corral serve`` takes fleet defaults from the
database below explicit configuration) or :data:`BUILT_IN`. ``corral serve`` hands its
workers the settings through the environment, and the origins with them
(:data:`ORIGINS_ENV`), so a worker says where a value came from, not "the environment".

Secrets never leave: the options of :data:`corral.config.SECRET_OPTIONS` and any option
whose name says it holds one show :data:`HIDDEN` when set; URLs (the database's, the
brokers') keep everything but their passwords.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Mapping
from typing import Any

from corral.config import FLEET_POLICY, OPTIONS, SECRET_OPTIONS, Settings

#: The origin of a value nobody configured.
BUILT_IN = "built-in default"
#: What a set secret shows.
HIDDEN = "<hidden>"
#: The environment variable ``corral serve`` passes its options' origins in (JSON). Two
#: underscores: no option's variable can be named so.
ORIGINS_ENV = "CORRAL__ORIGINS"
#: Options whose values are URLs that may carry a password.
URL_OPTIONS = frozenset({"database_url", "broker_urls"})
#: Names that say an option holds a secret, whatever SECRET_OPTIONS says.
_SECRET_NAME = re.compile(r"password|secret|session_key")
_QUERY_SECRET = re.compile(r"(?i)((?:password|secret|token)=)[^&]*")


def is_secret(name: str) -> bool:
    return name in SECRET_OPTIONS or bool(_SECRET_NAME.search(name))


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``password=`` in its query) as ``***``."""
    url = url.strip()
    parts = urllib.parse.urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:  # rebuilt only then: urlunsplit drops sqlite:////'s empty host
        netloc = f"{userinfo.split(':', 1)[0]}:***@{hostport}"
        url = urllib.parse.urlunsplit(parts._replace(netloc=netloc))
    return _QUERY_SECRET.sub(r"\1***", url)


def shown(name: str, value: object) -> object:
    """``value`` as it may be shown: a URL without its password, a secret hidden."""
    if name in URL_OPTIONS and isinstance(value, str):
        return ",".join(redact_url(u) for u in value.split(",")) if value else value
    if is_secret(name) and value not in ("", None):
        return HIDDEN
    return value


def describe(settings: Settings, origins: Mapping[str, str]) -> list[dict[str, Any]]:
    """Every option in ``corral config sample``'s order: its section, value (secrets
    hidden), origin, and whether it is part of the fleet policy."""
    return [{"option": opt.name, "section": opt.section,
             "value": shown(opt.name, getattr(settings, opt.name)),
             "origin": origins.get(opt.name, BUILT_IN),
             "fleet_policy": opt.name in FLEET_POLICY} for opt in OPTIONS]


#: The origin of a value an application embedding corral passed to create_app.
EMBEDDED = "the settings passed to create_app"


def embedded_origins(settings: Settings) -> dict[str, str]:
    """Origins when nobody said: a value other than the default came from the caller."""
    defaults = Settings()
    return {opt.name: EMBEDDED for opt in OPTIONS
            if getattr(settings, opt.name) != getattr(defaults, opt.name)}


def origins_for_workers(origins: Mapping[str, str]) -> str:
    return json.dumps(dict(origins), sort_keys=True)


def origins_from_environment() -> dict[str, str] | None:
    """The origins ``corral serve`` passed, or None when it did not start this process."""
    raw = os.environ.get(ORIGINS_ENV)
    if not raw:
        return None
    try:
        found = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(found, dict):
        return None
    return {str(k): str(v) for k, v in found.items()}
