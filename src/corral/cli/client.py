"""The CLI's HTTP client: where corral is, who the caller is, and what went wrong.

Every command except ``serve``, ``db`` and ``demo`` talks to a corral endpoint over
HTTP through :func:`connect`. The endpoint and the credentials come, first match wins:

1. Keystone (``--os-cloud``/``OS_CLOUD`` with a ``clouds.yaml``, or ``OS_AUTH_URL``
   and the other ``OS_*`` variables): a keystoneauth1 session gets a token, and the
   endpoint is ``CORRAL_URL`` when set, else the catalog's ``placement`` service.
2. ``CORRAL_URL`` (default ``http://127.0.0.1:8778``, what ``make run`` serves) and
   ``CORRAL_TOKEN`` (a static or stored token; ``admin`` in noauth2 mode).

Failures are :class:`ClientError` with a one-line message and an exit code of its
own (docs/cli.md): 1 the server refused the request (its own message), 4 nothing
answers at the endpoint, 5 TLS failed, 6 the credentials were refused (401),
7 the service is unavailable (503). Bodies are JSON both ways.
"""

from __future__ import annotations

import contextlib
import os
import ssl
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml  # type: ignore[import-untyped]

DEFAULT_URL = "http://127.0.0.1:8778"
TIMEOUT_S = 60.0
#: Exit codes of the transport's failures (1 and 2 are the refusals and bad input).
REFUSED, UNREACHABLE, TLS_FAILED, UNAUTHENTICATED, UNAVAILABLE = 1, 4, 5, 6, 7
CLOUDS_YAML = ("clouds.yaml", "~/.config/openstack/clouds.yaml", "/etc/openstack/clouds.yaml")


class ClientError(Exception):
    """A request that did not succeed: ``message`` for the user, ``exit_code``."""

    def __init__(self, message: str, exit_code: int = REFUSED, status: int | None = None,
                 body: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.status = status
        self.body = body


@dataclass(frozen=True)
class Endpoint:
    """Where corral answers (its root, without ``/v1``) and the token to send."""

    url: str
    token: str | None
    verify: bool | str = True
    headers: dict[str, str] = field(default_factory=dict)


def _verify(env: dict[str, str], cloud: dict[str, Any] | None = None,
            cacert: str | None = None) -> bool | str:
    """What verifies the servers' certificates, first match wins: ``--os-cacert``,
    the cloud's ``verify: false`` or ``cacert``, ``OS_INSECURE``, ``CORRAL_CACERT`` or
    ``OS_CACERT``, the system's CAs."""
    if cacert:
        return cacert
    if cloud is not None and cloud.get("verify") is False:
        return False
    if cloud is not None and cloud.get("cacert"):
        return str(cloud["cacert"])
    if env.get("OS_INSECURE", "").lower() in ("1", "true", "yes"):
        return False
    return env.get("CORRAL_CACERT") or env.get("OS_CACERT") or True


def _clouds_file(env: dict[str, str]) -> Path | None:
    for name in (env.get("OS_CLIENT_CONFIG_FILE"), *CLOUDS_YAML):
        if name and Path(name).expanduser().is_file():
            return Path(name).expanduser()
    return None


def _cloud(name: str, env: dict[str, str]) -> dict[str, Any]:
    """The entry ``name`` of the first ``clouds.yaml`` found."""
    path = _clouds_file(env)
    if path is None:
        raise ClientError(f"--os-cloud {name}: no clouds.yaml found (looked in "
                          f"{', '.join(CLOUDS_YAML)} and OS_CLIENT_CONFIG_FILE)", 2)
    try:
        clouds = (yaml.safe_load(path.read_text()) or {}).get("clouds") or {}
    except (OSError, yaml.YAMLError, AttributeError) as exc:
        raise ClientError(f"cannot read {path}: {exc}", 2) from exc
    if name not in clouds:
        raise ClientError(f"--os-cloud {name}: no such cloud in {path} "
                          f"(it names {', '.join(sorted(clouds)) or 'none'})", 2)
    return dict(clouds[name])


def _env_cloud(env: dict[str, str]) -> dict[str, Any]:
    """A clouds.yaml-shaped entry from the ``OS_*`` variables."""
    auth = {key[3:].lower(): value for key, value in env.items()
            if key.startswith("OS_") and value and key not in (
                "OS_CLOUD", "OS_CACERT", "OS_INSECURE", "OS_INTERFACE", "OS_REGION_NAME",
                "OS_AUTH_TYPE", "OS_CLIENT_CONFIG_FILE", "OS_IDENTITY_API_VERSION",
                "OS_PLACEMENT_API_VERSION", "OS_ENDPOINT_OVERRIDE")}
    cloud: dict[str, Any] = {"auth": auth, "auth_type": env.get("OS_AUTH_TYPE")}
    for key in ("interface", "region_name"):
        if env.get("OS_" + key.upper()):
            cloud[key] = env["OS_" + key.upper()]
    return cloud


def _keystone(cloud: dict[str, Any], env: dict[str, str], cacert: str | None = None
              ) -> Endpoint:
    """A token and the corral endpoint from Keystone (keystoneauth1)."""
    from keystoneauth1 import exceptions as ks_exc
    from keystoneauth1 import loading, session

    auth_type = cloud.get("auth_type") or ("v3applicationcredential"
                                            if "application_credential_id" in cloud["auth"]
                                            or "application_credential_secret" in cloud["auth"]
                                            else "password")
    if auth_type in ("password", "v3password"):
        missing = [name for name in ("auth_url", "password") if not cloud["auth"].get(name)]
        if not (cloud["auth"].get("username") or cloud["auth"].get("user_id")):
            missing.append("username")
        if missing:
            raise ClientError("Keystone credentials incomplete: set "
                              + ", ".join("OS_" + m.upper() for m in missing), 2)
    verify = _verify(env, cloud, cacert)
    try:
        loader: Any = loading.get_plugin_loader(auth_type)
        auth = loader.load_from_options(**cloud["auth"])
        sess = session.Session(auth=auth, verify=verify, timeout=TIMEOUT_S)
        token = sess.get_token()
        url = env.get("CORRAL_URL") or env.get("OS_ENDPOINT_OVERRIDE") or sess.get_endpoint(
            service_type="placement", interface=cloud.get("interface", "public"),
            region_name=cloud.get("region_name"))
    except ks_exc.NoMatchingPlugin as exc:
        raise ClientError(f"unknown auth type {auth_type!r}", 2) from exc
    except ks_exc.MissingRequiredOptions as exc:
        names = ", ".join("OS_" + o.dest.upper() for o in exc.options)
        raise ClientError(f"Keystone credentials incomplete: set {names}", 2) from exc
    except ks_exc.SSLError as exc:
        raise ClientError(f"TLS failed talking to Keystone: {_first(exc)}", TLS_FAILED) from exc
    except ks_exc.ConnectFailure as exc:
        raise ClientError(f"cannot reach Keystone at {cloud['auth'].get('auth_url')}: "
                          f"{_first(exc)}", UNREACHABLE) from exc
    except ks_exc.Unauthorized as exc:
        raise ClientError("Keystone refused the credentials (401)", UNAUTHENTICATED) from exc
    except ks_exc.ClientException as exc:
        raise ClientError(f"Keystone: {_first(exc)}", REFUSED) from exc
    if not url:
        raise ClientError("Keystone's catalog has no placement endpoint: set CORRAL_URL "
                          "to corral's URL", UNREACHABLE)
    # The catalog may name corral's Placement mount; /v1 lives at the root.
    root = str(url).rstrip("/").removesuffix("/placement")
    return Endpoint(root, token, verify)


def resolve(os_cloud: str | None, env: dict[str, str] | None = None,
            cacert: str | None = None) -> Endpoint:
    """Where corral is and the token to send, from the options and the environment
    (``cacert``: the CA bundle of ``--os-cacert``)."""
    env = dict(os.environ if env is None else env)
    cloud_name = os_cloud or env.get("OS_CLOUD")
    if cloud_name:
        return _keystone(_cloud(cloud_name, env), env, cacert)
    if env.get("OS_AUTH_URL"):
        return _keystone(_env_cloud(env), env, cacert)
    url = (env.get("CORRAL_URL") or DEFAULT_URL).rstrip("/")
    return Endpoint(url, env.get("CORRAL_TOKEN") or None, _verify(env, cacert=cacert))


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def server_message(response: httpx.Response) -> str:
    """The user-facing message of an error answer, on one line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = None
    if isinstance(body, dict):
        if isinstance(body.get("error"), dict):
            message = body["error"].get("message")
        elif isinstance(body.get("errors"), list) and body["errors"]:
            message = body["errors"][0].get("detail")
    if not message:
        message = f"{response.status_code} {response.reason_phrase}".strip()
    return " ".join(str(message).split())


def _tls_context(verify: bool | str) -> bool | ssl.SSLContext:
    """What httpx verifies with: a CA bundle's path becomes a context trusting it alone."""
    if not isinstance(verify, str):
        return verify
    try:
        return ssl.create_default_context(cafile=verify)
    except (OSError, ssl.SSLError) as exc:
        raise ClientError(f"cannot use the CA bundle {verify}: {_first(exc)}", 2) from exc


class Client:
    """JSON over HTTP to one corral endpoint; every failure is a :class:`ClientError`."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        headers = {"accept": "application/json", **endpoint.headers}
        if endpoint.token:
            headers["x-auth-token"] = endpoint.token
        self._http = httpx.Client(base_url=endpoint.url, headers=headers,
                                  verify=_tls_context(endpoint.verify), timeout=TIMEOUT_S)

    def close(self) -> None:
        self._http.close()

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None,
                json: Any = None, headers: dict[str, str] | None = None) -> Any:
        """Send one request; the decoded JSON body (None when empty)."""
        query = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=query, json=json,
                                          headers=headers)
        except httpx.ConnectError as exc:
            if "SSL" in str(exc) or "CERTIFICATE" in str(exc).upper():
                raise ClientError(f"TLS failed talking to {self.endpoint.url}: {_first(exc)}",
                                  TLS_FAILED) from exc
            raise ClientError(f"cannot reach corral at {self.endpoint.url}: {_first(exc)} "
                              "(is 'corral serve' running? set CORRAL_URL)",
                              UNREACHABLE) from exc
        except httpx.TimeoutException as exc:
            raise ClientError(f"corral at {self.endpoint.url} did not answer within "
                              f"{TIMEOUT_S:.0f} s", UNREACHABLE) from exc
        except httpx.HTTPError as exc:
            raise ClientError(f"talking to {self.endpoint.url}: {_first(exc)}",
                              UNREACHABLE) from exc
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> Any:
        status = response.status_code
        if status < 400:
            return response.json() if response.content else None
        body: Any = None
        with contextlib.suppress(ValueError):
            body = response.json()
        message = server_message(response)
        if status == 401:
            hint = "" if self.endpoint.token else " (set CORRAL_TOKEN, or OS_* for Keystone)"
            raise ClientError(f"not authenticated: {message}{hint}", UNAUTHENTICATED,
                              status, body)
        if status == 503:
            raise ClientError(f"service unavailable: {message}", UNAVAILABLE, status, body)
        raise ClientError(message, REFUSED, status, body)

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, json: Any = None, **params: Any) -> Any:
        return self.request("POST", path, json=json, params=params)

    def put(self, path: str, json: Any = None) -> Any:
        return self.request("PUT", path, json=json)

    def patch(self, path: str, json: Any = None) -> Any:
        return self.request("PATCH", path, json=json)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)


def quote(segment: str) -> str:
    """``segment`` as one path segment of a URL (a name may hold ``/`` or spaces)."""
    return urllib.parse.quote(segment, safe="")
