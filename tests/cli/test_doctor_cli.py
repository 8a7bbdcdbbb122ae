"""corral doctor rabbit's failures that need no RabbitMQ: each one ``error: ...`` line
with its exit code (docs/cli.md). The findings themselves are provoked on a real
cluster in tests/integration/test_doctor_rabbit.py."""

from __future__ import annotations

from pathlib import Path

from .conftest import Cli, assert_fails, free_port


def test_no_management_url_or_a_bad_one_is_exit_2(cli: Cli, tmp_path: Path) -> None:
    assert_fails(cli("doctor", "rabbit"), 2, "no RabbitMQ management URL",
                 "CORRAL_RABBIT_MANAGEMENT_URLS")
    assert_fails(cli("doctor", "rabbit", "--management-urls", "amqp://127.0.0.1:5672/"), 2,
                 "--management-urls", "URL 1 is not http:// or https://")
    bad = Cli(cli.url, cli.endpoint, env={"CORRAL_RABBIT_MANAGEMENT_URLS": "mq1:15672"})
    assert_fails(bad("doctor", "rabbit"), 2, "CORRAL_RABBIT_MANAGEMENT_URLS",
                 "URL 1 is not http:// or https://")
    assert_fails(cli("doctor", "rabbit", "--management-urls", "https://127.0.0.1:1/",
                     "--cacert", str(tmp_path / "none.pem")), 2, "no such file")


def test_nothing_answering_is_exit_4_naming_every_url(cli: Cli) -> None:
    urls = [f"http://127.0.0.1:{free_port()}/", f"http://127.0.0.1:{free_port()}/"]
    result = cli("doctor", "rabbit", "--management-urls", ",".join(urls))
    assert_fails(result, 4, "cannot reach the RabbitMQ management API at", *urls)
    assert len(result.stderr.strip().splitlines()) == 1


def test_tls_to_plain_http_is_exit_5_and_a_401_exit_6(cli: Cli) -> None:
    assert cli.endpoint is not None
    tls = cli("doctor", "rabbit", "--management-urls", cli.endpoint.replace("http", "https"))
    assert_fails(tls, 5, "TLS failed")
    # corral's own server refuses basic authentication as RabbitMQ refuses a bad password.
    other = cli("doctor", "rabbit", "--management-urls", cli.endpoint, "--user", "nobody")
    assert_fails(other, 6, "refused the credentials of user 'nobody' (401)",
                 "rabbit_management_password")
