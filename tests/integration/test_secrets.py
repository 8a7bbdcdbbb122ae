"""No secret anywhere a person or a machine may read it: a real ``corral serve --banner``
is given a database URL with a password, a static API token and stored token secrets,
then driven into every kind of error (401, 403, 404, 400, and 500s from a real fault:
tables renamed away under it, one of them the tokens' own, so the failing lookup holds
the secret). Every byte the process wrote, every response body, ``/metrics`` and the
CLI's errors (with and without ``--debug``) are searched for each secret.

PostgreSQL (the configured test server, which trusts local connections and so accepts
any password) is what lets the URL carry one.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import require_service  # tests/conftest.py (tests/ is on sys.path)
from sqlalchemy import text
from sqlalchemy.engine import make_url

from corral.persistence import Store

from .conftest import START_TIMEOUT, Server, clean_env, corral_command, free_port

pytestmark = pytest.mark.slow

PASSWORD = "pw-" + secrets.token_hex(12)
STATIC_TOKEN = "static-" + secrets.token_hex(12)
UNKNOWN_SECRET = "corral_" + secrets.token_urlsafe(32)


@pytest.fixture
def database_url(pg_store: Store | None) -> str:
    if pg_store is None:
        require_service("PostgreSQL", "CORRAL_TEST_POSTGRESQL_URL is not set")
    assert pg_store is not None
    url = make_url(pg_store.engine.url.render_as_string(hide_password=False))
    return url.set(password=PASSWORD).render_as_string(hide_password=False)


def _serve(directory: Path, config: Path) -> Server:
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    log_path = directory / "serve.log"
    with open(log_path, "wb") as out:
        process = subprocess.Popen(
            corral_command("--config-file", str(config), "serve", "--host", "127.0.0.1",
                           "--port", str(port), "--banner"),
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=clean_env(directory / "data"), start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(server.url + "/", timeout=1.0).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.1)
    server.stop()
    pytest.fail(f"corral serve did not start: {server.log()}")


class Renamed:
    """Tables renamed away (a real fault under a running server), restored on exit."""

    def __init__(self, store: Store, *tables: str) -> None:
        self.store = store
        self.tables = tables

    def __enter__(self) -> None:
        with self.store.engine.begin() as conn:
            for table in self.tables:
                conn.execute(text(f"ALTER TABLE {table} RENAME TO {table}_gone"))

    def __exit__(self, *_exc: object) -> None:
        with self.store.engine.begin() as conn:
            for table in self.tables:
                conn.execute(text(f"ALTER TABLE {table}_gone RENAME TO {table}"))


@pytest.fixture
def scene(database_url: str, pg_store: Store, tmp_path: Path,
          request: pytest.FixtureRequest) -> Iterator[tuple[Server, Path]]:
    fmt = request.param
    config = tmp_path / "corral.ini"
    config.write_text(f"[database]\ndatabase_url = {database_url}\n"
                      f"[api]\napi_tokens = {STATIC_TOKEN}=ops:ops:admin\n"
                      f"[logging]\nlog_format = {fmt}\n")
    with pg_store.engine.begin() as conn:  # a clean slate for this server
        conn.execute(text("DELETE FROM api_tokens"))
    server = _serve(tmp_path / "server", config)
    try:
        yield server, config
    finally:
        server.stop()


@pytest.mark.parametrize("scene", ["console", "json"], indirect=True)
def test_no_secret_is_ever_written(scene: tuple[Server, Path], pg_store: Store,
                                   tmp_path: Path, database_url: str) -> None:
    server, config = scene
    bodies: list[str] = []
    planted = [PASSWORD, STATIC_TOKEN, UNKNOWN_SECRET]

    # A connection per request: what is searched here must not depend on keep-alive
    # (tests/integration/test_faults.py checks that a 500 keeps the connection).
    with httpx.Client(base_url=server.url, timeout=30.0,
                      headers={"connection": "close"}) as client:
        def call(method: str, path: str, token: str, expect: int, **kw: Any) -> None:
            headers = {"x-auth-token": token, "x-service-token": STATIC_TOKEN,
                       "openstack-api-version": "placement latest", **kw.pop("headers", {})}
            r = client.request(method, path, headers=headers, **kw)
            assert r.status_code == expect, (method, path, r.status_code, r.text)
            bodies.append(r.text)

        project = client.post("/v1/projects", headers={"x-auth-token": STATIC_TOKEN},
                              json={"id": "demo"})
        assert project.status_code in (201, 409), project.text  # 409: the other format's run
        created = client.post("/v1/tokens", headers={"x-auth-token": STATIC_TOKEN},
                              json={"role": "reader", "project_id": "demo"})
        assert created.status_code == 201, created.text
        reader = created.json()["secret"]  # shown once, by design: not searched here
        planted.append(reader)
        # 401: unknown secrets, on both APIs
        call("GET", "/v1/hosts", UNKNOWN_SECRET, 401)
        call("GET", "/resource_providers", UNKNOWN_SECRET, 401)
        # 403: a reader doing an admin's work
        call("POST", "/v1/aggregates", reader, 403, json={"name": "x"})
        call("GET", "/resource_providers", reader, 403)
        # 404 and 400
        call("GET", "/v1/hosts/nowhere", STATIC_TOKEN, 404)
        call("GET", "/resource_providers/" + "0" * 32, STATIC_TOKEN, 404)
        call("POST", "/v1/aggregates", STATIC_TOKEN, 400, content=b"{oops",
             headers={"content-type": "application/json"})
        call("POST", "/resource_providers", STATIC_TOKEN, 400, content=b"{oops",
             headers={"content-type": "application/json"})
        # 500s: the tokens' table gone while a secret is looked up; hosts and providers too
        fresh = client.post("/v1/tokens", headers={"x-auth-token": STATIC_TOKEN},
                            json={"role": "admin"}).json()["secret"]
        planted.append(fresh)
        # fleet_policy too: what 'corral demo' (a command that opens the database) reads.
        with Renamed(pg_store, "api_tokens", "hosts", "resource_providers", "fleet_policy"):
            call("GET", "/v1/hosts", fresh, 500)
            call("GET", "/resource_providers", fresh, 500)
            call("GET", "/v1/hosts", STATIC_TOKEN, 500)
            # inside a Placement handler: its frames hold the request's headers
            call("GET", "/resource_providers", STATIC_TOKEN, 500)
            bodies.append(client.get("/metrics", headers={"x-auth-token": STATIC_TOKEN}).text)
            cli_debug = subprocess.run(
                corral_command("--config-file", str(config), "--debug", "demo"),
                capture_output=True, text=True, timeout=120, check=False,
                env=clean_env(tmp_path / "cli"))
            cli_plain = subprocess.run(
                corral_command("--config-file", str(config), "demo"),
                capture_output=True, text=True, timeout=120, check=False,
                env=clean_env(tmp_path / "cli"))
        assert cli_debug.returncode != 0 and "Traceback" in cli_debug.stderr + cli_debug.stdout
        assert cli_plain.returncode != 0
        unreachable = make_url(pg_store.engine.url).set(password=PASSWORD, port=1)
        cli_down = subprocess.run(
            corral_command("--database-url", unreachable.render_as_string(hide_password=False),
                           "demo"),
            capture_output=True, text=True, timeout=120, check=False,
            env=clean_env(tmp_path / "cli"))
        assert cli_down.returncode != 0
        # The settings, as the server shows them (GET /v1/config) and as this machine's
        # configuration file gives them (config show --local): every secret hidden.
        cli_show = subprocess.run(
            corral_command("config", "show", "-f", "json"), capture_output=True, text=True,
            timeout=120, check=False,
            env={**clean_env(tmp_path / "cli"), "CORRAL_URL": server.url,
                 "CORRAL_TOKEN": STATIC_TOKEN})
        assert cli_show.returncode == 0, cli_show.stderr
        rows = {r["option"]: r for r in json.loads(cli_show.stdout)}
        # Where each came from, as 'corral serve' read it (not "the environment" its
        # worker was handed): the file, a flag of serve, the built-in default.
        assert rows["database_url"]["origin"] == f"{config} [database] database_url"
        assert rows["database_url"]["value"].endswith("***@" + database_url.split("@", 1)[1])
        assert rows["api_tokens"] == {"option": "api_tokens", "value": "<hidden>",
                                      "origin": f"{config} [api] api_tokens"}
        assert rows["port"]["origin"] == "--port" and rows["host"]["origin"] == "--host"
        assert rows["max_attempts"]["origin"] == "built-in default"
        bodies.append(cli_show.stdout + cli_show.stderr)
        cli_local = subprocess.run(
            corral_command("--config-file", str(config), "config", "show", "--local"),
            capture_output=True, text=True, timeout=120, check=False,
            env=clean_env(tmp_path / "cli"))
        assert cli_local.returncode == 0 and "database_url" in cli_local.stdout, cli_local.stderr
        bodies.append(cli_local.stdout + cli_local.stderr)
        bodies.append(client.get("/metrics", headers={"x-auth-token": STATIC_TOKEN}).text)

    time.sleep(0.3)  # let the last log lines reach the file
    server.stop()
    log = server.log()
    assert "Traceback" in log, log  # the 500s were logged
    assert f"{server.url.rsplit(':', 1)[1]}" in log  # the banner was printed
    written = {"server output": log, "response bodies": "\n".join(bodies),
               "cli --debug": cli_debug.stdout + cli_debug.stderr,
               "cli": cli_plain.stdout + cli_plain.stderr,
               "cli, database down": cli_down.stdout + cli_down.stderr}
    for where, content in written.items():
        for secret in planted:
            assert secret not in content, f"a secret ({secret[:8]}...) is in the {where}"
