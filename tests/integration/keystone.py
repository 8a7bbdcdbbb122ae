"""A real Keystone for the tests: keystone from PyPI on SQLite, served by gunicorn.

The ``keystone`` session fixture (tests/integration/conftest.py) builds the
virtualenv (tests/integration/venvs.py: ``KEYSTONE``; ``.ci/run`` builds it in the
background), initialises a fresh Keystone in a temporary directory (``db_sync``,
fernet and credential keys, ``bootstrap``: one keystone import, a fork per step) and
serves it on 127.0.0.1 with gunicorn, one worker, one thread (SQLite). Without the
virtualenv the tests skip, saying why (``CORRAL_REQUIRE_SERVICES=1``: they fail).

:class:`Keystone` can be stopped and started again on the same port and database
(Keystone down, then back), and makes what the tests need with the bootstrap admin:
domains, projects, users with a role on a scope, tokens, application credentials.
Every wait is bounded; gunicorn is killed at teardown. Its access log counts what
Keystone was asked (:meth:`Keystone.validations`).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
import urllib.request
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

START_TIMEOUT = 60.0
ADMIN_PASSWORD = "s3cret-admin"

KEYSTONE_CONF = """
[DEFAULT]
log_file = {d}/keystone.log
[database]
connection = sqlite:///{d}/keystone.db
[token]
provider = fernet
[fernet_tokens]
key_repository = {d}/fernet-keys
[fernet_receipts]
key_repository = {d}/fernet-receipts
[credential]
key_repository = {d}/credential-keys
[identity]
password_hash_rounds = 4
[cache]
enabled = true
backend = dogpile.cache.memory
"""

# gunicorn takes no argument (keystone parses sys.argv): its settings are this file.
GUNICORN_CONF = """
wsgi_app = "keystone.wsgi.api:application"
bind = "127.0.0.1:{port}"
workers = 1
threads = 1
pidfile = "{d}/gunicorn.pid"
errorlog = "{d}/gunicorn.log"
accesslog = "{d}/access.log"
control_socket_disable = True
raw_env = ["OS_KEYSTONE_CONFIG_FILES={d}/keystone.conf"]
"""

# keystone-manage db_sync, fernet_setup, credential_setup and bootstrap, importing
# keystone once and forking per command (each gets a fresh oslo.config).
SETUP = r"""
import grp, os, pwd, sys, warnings
warnings.filterwarnings("ignore")
from keystone.cmd import cli
conf, port, password = sys.argv[1:4]
url = f"http://127.0.0.1:{port}/v3"
owner = ["--keystone-user", pwd.getpwuid(os.getuid()).pw_name,
         "--keystone-group", grp.getgrgid(os.getgid()).gr_name]
for args in (["db_sync"], ["fernet_setup", *owner], ["credential_setup", *owner],
             ["bootstrap", "--bootstrap-password", password, "--bootstrap-region-id",
              "RegionOne", "--bootstrap-admin-url", url, "--bootstrap-public-url", url,
              "--bootstrap-internal-url", url]):
    pid = os.fork()
    if pid == 0:
        try:
            cli.main(argv=["keystone-manage", "--config-file", conf, *args]); code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:
            import traceback; traceback.print_exc(); code = 1
        os._exit(code)
    if os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) != 0:
        sys.exit(f"keystone-manage {args[0]} failed")
"""


@dataclass
class User:
    """A Keystone user the tests made, with its password and domain."""

    id: str
    name: str
    password: str
    domain_id: str


@dataclass
class Keystone:
    """A running Keystone (see the module docstring)."""

    venv: Path
    directory: Path
    port: int
    process: subprocess.Popen[bytes] | None = None
    roles: dict[str, str] = field(default_factory=dict)
    _admin_token: str | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v3"

    def env(self) -> dict[str, str]:
        return {**os.environ, "PYTHONWARNINGS": "ignore"}

    def initialise(self) -> None:
        d = self.directory
        (d / "keystone.conf").write_text(KEYSTONE_CONF.format(d=d))
        (d / "gunicorn.conf.py").write_text(GUNICORN_CONF.format(d=d, port=self.port))
        done = subprocess.run([str(self.venv / "bin" / "python"), "-c", SETUP,
                               str(d / "keystone.conf"), str(self.port), ADMIN_PASSWORD],
                              env=self.env(), capture_output=True, text=True, timeout=180,
                              stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise RuntimeError(f"keystone setup failed:\n{done.stdout}\n{done.stderr}")

    def start(self) -> None:
        """Serve, and wait until ``GET /v3`` answers (bounded)."""
        with open(self.directory / "gunicorn.out", "ab") as out:
            self.process = subprocess.Popen([str(self.venv / "bin" / "gunicorn")],
                                            cwd=self.directory, env=self.env(),
                                            stdin=subprocess.DEVNULL, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                urllib.request.urlopen(self.url, timeout=2).close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"keystone did not start: see {self.directory}/"
                                       "gunicorn.log, gunicorn.out and keystone.log") from None
                time.sleep(0.1)

    def stop(self) -> None:
        """Stop gunicorn and its worker (SIGTERM, then SIGKILL), bounded."""
        if self.process is None:
            return
        process, self.process = self.process, None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, 9)  # a worker that outlived its master

    # -- the identity API, as the bootstrap admin -------------------------------------------

    def token(self, user: str, password: str, domain_id: str = "default",
              **scope: Any) -> str:
        """A token for ``user``: ``project=ID``, ``domain=ID``, ``system=True`` or none."""
        auth: dict[str, Any] = {"identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": domain_id}, "password": password}}}}
        if "project" in scope:
            auth["scope"] = {"project": {"id": scope["project"]}}
        elif "project_name" in scope:
            auth["scope"] = {"project": {"name": scope["project_name"],
                                         "domain": {"id": domain_id}}}
        elif "domain" in scope:
            auth["scope"] = {"domain": {"id": scope["domain"]}}
        elif scope.get("system"):
            auth["scope"] = {"system": {"all": True}}
        r = httpx.post(self.url + "/auth/tokens?nocatalog", json={"auth": auth}, timeout=30)
        assert r.status_code == 201, r.text
        return r.headers["x-subject-token"]

    def app_credential_token(self, credential_id: str, secret: str) -> str:
        r = httpx.post(self.url + "/auth/tokens?nocatalog", timeout=30, json={"auth": {
            "identity": {"methods": ["application_credential"], "application_credential": {
                "id": credential_id, "secret": secret}}}})
        assert r.status_code == 201, r.text
        return r.headers["x-subject-token"]

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = self.token("admin", ADMIN_PASSWORD, project_name="admin")
        return self._admin_token

    def call(self, method: str, path: str, token: str | None = None,
             **kw: Any) -> dict[str, Any]:
        headers = {"x-auth-token": token or self.admin_token(), **kw.pop("headers", {})}
        r = httpx.request(method, self.url + path, headers=headers, timeout=30, **kw)
        assert r.status_code < 300, f"{method} {path}: {r.status_code} {r.text}"
        return r.json() if r.content else {}

    def role_id(self, name: str) -> str:
        if not self.roles:
            self.roles = {r["name"]: r["id"] for r in self.call("GET", "/roles")["roles"]}
        return self.roles[name]

    def domain(self, name: str | None = None) -> str:
        body = {"domain": {"name": name or f"dom-{uuid.uuid4().hex[:8]}"}}
        return str(self.call("POST", "/domains", json=body)["domain"]["id"])

    def project(self, domain_id: str, parent_id: str | None = None) -> str:
        body: dict[str, Any] = {"name": f"p-{uuid.uuid4().hex[:8]}", "domain_id": domain_id}
        if parent_id is not None:
            body["parent_id"] = parent_id
        return str(self.call("POST", "/projects", json={"project": body})["project"]["id"])

    def user(self, domain_id: str = "default") -> User:
        name = f"u-{uuid.uuid4().hex[:8]}"
        password = uuid.uuid4().hex
        body = {"user": {"name": name, "domain_id": domain_id, "password": password}}
        found = self.call("POST", "/users", json=body)["user"]
        return User(found["id"], name, password, domain_id)

    def grant(self, user: User, role: str, *, project: str | None = None,
              domain: str | None = None, system: bool = False) -> None:
        rid = self.role_id(role)
        if project is not None:
            self.call("PUT", f"/projects/{project}/users/{user.id}/roles/{rid}")
        elif domain is not None:
            self.call("PUT", f"/domains/{domain}/users/{user.id}/roles/{rid}")
        elif system:
            self.call("PUT", f"/system/users/{user.id}/roles/{rid}")

    def revoke_token(self, token: str) -> None:
        self.call("DELETE", "/auth/tokens", headers={"x-subject-token": token})

    def expiring_token(self, user: User, project: str, seconds: float = 4.0
                       ) -> tuple[str, datetime]:
        """A project token of ``user`` that expires within ``seconds`` (and its expiry):
        made from an application credential that expires then (Keystone caps the token's
        life at the credential's). At least half of ``seconds`` is left when it returns,
        or the lifetime is doubled and it tries again (a slow machine), at most 4 times."""
        own = self.token(user.name, user.password, project=project)
        for _attempt in range(4):
            until = datetime.now(UTC) + timedelta(seconds=seconds)
            body = self.call("POST", f"/users/{user.id}/application_credentials", token=own,
                             json={"application_credential": {
                                 "name": uuid.uuid4().hex,
                                 "expires_at": until.strftime("%Y-%m-%dT%H:%M:%S.%f")}})
            cred = body["application_credential"]
            r = httpx.post(self.url + "/auth/tokens?nocatalog", timeout=30, json={"auth": {
                "identity": {"methods": ["application_credential"],
                             "application_credential": {"id": cred["id"],
                                                        "secret": cred["secret"]}}}})
            if r.status_code == 201:
                expires = datetime.fromisoformat(
                    r.json()["token"]["expires_at"].replace("Z", "+00:00"))
                if (expires - datetime.now(UTC)).total_seconds() >= seconds / 2:
                    return r.headers["x-subject-token"], expires
            seconds *= 2
        raise AssertionError("Keystone issued no short-lived token in time")

    def validations(self) -> int:
        """How many token validations (``GET /v3/auth/tokens``) Keystone has answered.

        Read from its access log once a request of this method's own is in it: one
        worker with one thread answers in order and logs each answer before taking the
        next request, so every earlier answer is counted.
        """
        marker = uuid.uuid4().hex
        httpx.get(f"{self.url}?mark={marker}", timeout=30)
        deadline = time.monotonic() + 10
        log = self.directory / "access.log"
        while True:
            lines = log.read_text(errors="replace").splitlines() if log.exists() else []
            if any(marker in line for line in lines):
                return sum('"GET /v3/auth/tokens' in line for line in lines)
            if time.monotonic() > deadline:
                raise AssertionError(f"{marker} never reached {log}")
            time.sleep(0.05)
