"""The PostgreSQL test server itself: a missing server skips the PostgreSQL tests
with the reason, except in CI, where it fails them (a green CI run must have
tested PostgreSQL); and the server it starts is real and reachable only by socket."""

from __future__ import annotations

import pytest
from support import postgres
from support.dbsql import one


def test_missing_postgres_fails_in_ci_and_skips_elsewhere(monkeypatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="cannot run in CI: no initdb"):
        postgres.unavailable("no initdb")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="apt-get install -y postgresql"):
        postgres.unavailable("no initdb")


def test_the_server_is_real_and_listens_on_no_network_address(postgres_url) -> None:
    assert one(postgres_url, "SELECT current_setting('listen_addresses')") == ""
    assert one(postgres_url, "SELECT version()").startswith("PostgreSQL ")
