"""Numbers on the command line past what storage and the engine hold: a usage error
(exit 2) naming the option and the range, no traceback, nothing written (issue 11)."""

from __future__ import annotations

import json

import pytest

from .conftest import Cli, assert_fails

HUGE = "9" * 5000


@pytest.mark.parametrize("value", ["99999999999999999999", str(2**53), HUGE, "\u0661"])
def test_limit_set_past_what_clients_read_is_a_usage_error(cli: Cli, value: str) -> None:
    cli.ok("project", "create", "org2")
    result = cli("limit", "set", "org2", f"cores={value}")
    assert_fails(result, 2, "RESOURCE=N")
    assert "OverflowError" not in result.output
    if value != HUGE and value != "\u0661":
        assert "from 0 to 9007199254740991" in " ".join(result.stderr.split())
    assert json.loads(cli.ok("limit", "list", "org2", "-f", "json").stdout) == []


@pytest.mark.parametrize(("args", "option"), [
    (["host", "set", "cn1", "--cpu-ratio", "1e400"], "--cpu-ratio"),
    (["host", "set", "cn1", "--ram-ratio", "nan"], "--ram-ratio"),
    (["host", "set", "cn1", "--disk-ratio", "-0.0"], "--disk-ratio"),
    (["host", "set", "cn1", "--reserved-memory-mb", str(2**31)], "--reserved-memory-mb"),
    (["provider", "list", "--resources", f"VCPU:{2**63}"], "--resources"),
    (["provider", "list", "--resources", f"VCPU:{HUGE}"], "--resources"),
    (["simulate", "--synthetic", "--load", "nan", "--out", "x"], "--load"),
    (["simulate", "--synthetic", "--seed", "-1", "--out", "x"], "--seed"),
    (["capacity", "--stranded", "--top", str(2**63)], "--top"),
])
def test_numbers_out_of_range_name_the_option(cli: Cli, args: list[str], option: str) -> None:
    assert_fails(cli(*args), 2, option)
