"""The RabbitMQ management HTTP API, read by ``corral doctor rabbit``.

One snapshot of a cluster: its overview, nodes, policies, queues and connections, read
from the first management root of a list that answers (any node's API sees the whole
cluster; a list, so that the doctor still answers with a node down). httpx carries the
requests, with basic authentication and a timeout on each.

Failures are :class:`ManagementError` with a one-line message and the exit code
docs/cli.md gives it, as the corral client's (cli/client.py): 4 no node answered, 5 TLS
failed, 6 the credentials were refused (401) or may not read the API (403), 7 the API
answered 503, 1 anything else it refused.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from corral.cli.client import REFUSED, TLS_FAILED, UNAUTHENTICATED, UNAVAILABLE, UNREACHABLE

#: The queue fields the checks read (a cluster of many queues answers less).
QUEUE_COLUMNS = ("name", "vhost", "type", "durable", "auto_delete", "exclusive", "consumers",
                 "messages_ready", "messages_unacknowledged", "policy",
                 "effective_policy_definition", "slave_nodes", "leader", "members", "online",
                 "node", "state")
CONNECTION_COLUMNS = ("name", "user", "vhost", "node", "timeout", "peer_host", "peer_port",
                      "client_properties")
PAGE_SIZE = 500


class ManagementError(Exception):
    """The management API could not be read: ``message`` for the user, ``exit_code``."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


class _Unreachable(Exception):
    """This node did not answer: the next one of the list is asked."""


@dataclass(frozen=True)
class Snapshot:
    """What the management API said, and which root said it."""

    source: str
    overview: dict[str, Any]
    nodes: list[dict[str, Any]]
    #: None: the user may not read them (a monitoring user; policymaker may).
    policies: list[dict[str, Any]] | None
    queues: list[dict[str, Any]]
    connections: list[dict[str, Any]]
    user: str = ""


def credentials(user: str, password: str, broker_urls: Sequence[str]) -> tuple[str, str]:
    """The management user and password: as configured, else those of the first broker
    URL (the relay's own user; it needs the monitoring tag)."""
    if broker_urls and not (user and password):
        parsed = urllib.parse.urlsplit(broker_urls[0])
        user = user or urllib.parse.unquote(parsed.username or "")
        password = password or urllib.parse.unquote(parsed.password or "")
    return user, password


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class Management:
    """Reads :class:`Snapshot`s from the first root of ``urls`` that answers."""

    def __init__(self, urls: Sequence[str], *, user: str, password: str,
                 verify: bool | str = True, timeout_s: float = 10.0) -> None:
        if not urls:
            raise ManagementError("no RabbitMQ management URL: set rabbit_management_urls "
                                  "([events]), CORRAL_RABBIT_MANAGEMENT_URLS or "
                                  "--management-urls", 2)
        if isinstance(verify, str) and not Path(verify).is_file():
            raise ManagementError(f"rabbit_management_cacert {verify}: no such file", 2)
        self.urls = [u.rstrip("/") + "/" for u in urls]
        self.user = user
        self._http = httpx.Client(auth=(user, password), verify=verify, timeout=timeout_s,
                                  headers={"accept": "application/json"})

    def close(self) -> None:
        self._http.close()

    def snapshot(self) -> Snapshot:
        """The cluster as the first node that answers tells it.

        Raises:
            ManagementError: no node answered, or one refused (credentials, TLS).
        """
        missed: list[str] = []
        for root in self.urls:
            try:
                return self._read(root)
            except _Unreachable as exc:
                missed.append(f"{root} ({exc})")
        raise ManagementError("cannot reach the RabbitMQ management API at "
                              + "; ".join(missed), UNREACHABLE)

    def _read(self, root: str) -> Snapshot:
        overview = self._get(root, "api/overview")
        nodes = self._get(root, "api/nodes")
        try:
            policies: list[dict[str, Any]] | None = self._get(root, "api/policies")
        except ManagementError as exc:
            if exc.exit_code != UNAUTHENTICATED:
                raise
            policies = None  # the credentials passed above: this user may not see them
        queues = self._pages(root, "api/queues", QUEUE_COLUMNS)
        connections = self._pages(root, "api/connections", CONNECTION_COLUMNS)
        return Snapshot(root, overview, nodes, policies, queues, connections, self.user)

    def _pages(self, root: str, path: str, columns: Sequence[str]) -> list[dict[str, Any]]:
        """Every item of a paginated listing, ``PAGE_SIZE`` at a time."""
        items: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self._get(root, path, page=page, page_size=PAGE_SIZE,
                               columns=",".join(columns))
            items.extend(answer.get("items") or [])
            if page >= int(answer.get("page_count") or 1):
                return items
            page += 1

    def _get(self, root: str, path: str, **params: Any) -> Any:
        try:
            response = self._http.get(root + path, params=params)
        except httpx.ConnectError as exc:
            if "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper():
                raise ManagementError(f"TLS failed talking to {root}: {_first_line(exc)} "
                                      "(set rabbit_management_cacert)", TLS_FAILED) from exc
            raise _Unreachable(_first_line(exc)) from exc
        except httpx.TimeoutException as exc:
            raise _Unreachable("no answer in time") from exc
        except httpx.HTTPError as exc:
            raise _Unreachable(_first_line(exc)) from exc
        return self._decode(root, path, response)

    def _decode(self, root: str, path: str, response: httpx.Response) -> Any:
        status = response.status_code
        if status == 401:
            raise ManagementError(f"RabbitMQ at {root} refused the credentials of user "
                                  f"{self.user!r} (401): set rabbit_management_user and "
                                  "rabbit_management_password", UNAUTHENTICATED)
        if status == 403:
            raise ManagementError(f"user {self.user!r} may not read RabbitMQ's management "
                                  f"API at {root} (403): give it the monitoring tag "
                                  "(rabbitmqctl set_user_tags USER monitoring)",
                                  UNAUTHENTICATED)
        if status == 503:
            raise ManagementError(f"RabbitMQ at {root} is unavailable (503)", UNAVAILABLE)
        if status >= 400:
            raise ManagementError(f"RabbitMQ at {root} answered {status} to GET {path}: "
                                  f"{' '.join(response.text.split())[:200]}", REFUSED)
        try:
            return response.json()
        except ValueError as exc:
            raise ManagementError(f"{root}{path} did not answer JSON: is it RabbitMQ's "
                                  "management API?", REFUSED) from exc
