"""The CLI as a client of the API: where it connects, and what each failure says.

Every failure is one ``error: ...`` line on stderr with its own exit code
(docs/cli.md): 4 nothing answers, 5 TLS failed, 6 credentials refused, 1 the
server's own refusal, 2 an unusable clouds.yaml or OS_* set.
"""

from __future__ import annotations

from pathlib import Path

from corral.config import Settings
from corral.persistence import Store

from .conftest import Cli, assert_fails, free_port, running_server, url_of


def one_line(result: object) -> None:
    lines = result.stderr.strip().splitlines()  # type: ignore[attr-defined]
    assert len(lines) == 1 and lines[0].startswith("error: "), lines


def test_nothing_listening_is_exit_4_naming_the_endpoint(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = Cli(cli.url, url)("flavor", "list")
    assert_fails(result, 4, f"cannot reach corral at {url}", "CORRAL_URL")
    one_line(result)


def test_tls_to_a_plain_http_server_is_exit_5(cli: Cli) -> None:
    assert cli.endpoint is not None
    result = Cli(cli.url, cli.endpoint.replace("http://", "https://"))("flavor", "list")
    assert_fails(result, 5, "TLS failed")
    one_line(result)


def test_a_refused_token_is_exit_6(sqlite_store: Store, tmp_path: Path) -> None:
    settings = Settings(data_dir=str(tmp_path / "s"), auth_strategy="tokens")
    with running_server(sqlite_store, settings) as url:
        result = Cli(url_of(sqlite_store), url, token="corral_not-a-real-secret")(
            "host", "list")
        assert_fails(result, 6, "not authenticated")
        one_line(result)
        result = Cli(url_of(sqlite_store), url, token=None)("host", "list")
        assert_fails(result, 6, "set CORRAL_TOKEN")


def test_the_servers_refusal_is_its_own_message_exit_1(cli: Cli) -> None:
    member = Cli(cli.url, cli.endpoint, token="alice:p1", env={})
    result = member("host", "list")  # noauth2: alice has no role
    assert_fails(result, 1, "Policy does not allow this action")
    one_line(result)
    assert result.stdout == ""


def test_clouds_yaml_is_read_and_keystone_unreachable_is_exit_4(
        cli: Cli, tmp_path: Path) -> None:
    port = free_port()
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(
        "clouds:\n  lab:\n    auth:\n"
        f"      auth_url: http://127.0.0.1:{port}/v3\n      username: admin\n"
        "      password: secret\n      project_name: admin\n"
        "      user_domain_name: Default\n      project_domain_name: Default\n")
    env = {"OS_CLIENT_CONFIG_FILE": str(clouds)}
    result = Cli(cli.url, cli.endpoint, env=env)("--os-cloud", "lab", "flavor", "list")
    assert_fails(result, 4, f"cannot reach Keystone at http://127.0.0.1:{port}/v3")
    one_line(result)
    result = Cli(cli.url, cli.endpoint, env=env)("--os-cloud", "nope", "flavor", "list")
    assert_fails(result, 2, "no such cloud", "lab")
    # The OS_* variables alone: an incomplete set names what is missing.
    result = Cli(cli.url, cli.endpoint, env={"OS_AUTH_URL": f"http://127.0.0.1:{port}/v3"})(
        "flavor", "list")
    assert result.exit_code in (2, 4), result.output
    one_line(result)


def test_an_unusable_ca_bundle_is_exit_2_naming_it(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-ca.pem"
    for args, env in ((("--os-cacert", str(missing)), {}), ((), {"OS_CACERT": str(missing)})):
        result = Cli(cli.url, cli.endpoint, env=env)(*args, "flavor", "list")
        assert_fails(result, 2, f"cannot use the CA bundle {missing}")
        one_line(result)
