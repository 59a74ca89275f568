"""[[alerts]] tables from site.toml: the sinks they build and the errors they give."""

from __future__ import annotations

import tomllib

import pytest

from integrity.alerts import (EmailSink, JsonlSink, LogSink, SyslogSink, WebhookSink,
                              parse_alert_tables)
from integrity.errors import ConfigError

SITE = """
[[alerts]]
type = "log"

[[alerts]]
type = "jsonl"
path = "var/alerts.jsonl"

[[alerts]]
type = "syslog"
address = "127.0.0.1:6514"
protocol = "tcp"
format = "cef"
facility = "local4"
timeout = 2.5

[[alerts]]
type = "webhook"
url = "https://soc.example/hooks/plc?token=t0k"
secret_env = "HOOK_SECRET"
retries = 2

[[alerts]]
type = "email"
host = "smtp.example"
from = "plc-integrity@site.example"
to = ["ot-sec@site.example"]
starttls = true
username_env = "SMTP_USER"
password_env = "SMTP_PASSWORD"
"""
ENV = {"HOOK_SECRET": "hook-secret-value", "SMTP_USER": "u", "SMTP_PASSWORD": "smtp-pw-value"}


def test_a_full_site_builds_every_sink(tmp_path):
    (tmp_path / "var").mkdir()
    site = tmp_path / "site.toml"
    tables = tomllib.loads(SITE)["alerts"]
    sinks = parse_alert_tables(tables, file=str(site), environ=ENV)

    assert [type(s) for s in sinks] == [LogSink, JsonlSink, SyslogSink, WebhookSink, EmailSink]
    log, jsonl, syslog, webhook, email = sinks
    assert jsonl.path == tmp_path / "var" / "alerts.jsonl"  # relative to the site file
    assert (syslog.host, syslog.port, syslog.protocol, syslog.format, syslog.facility,
            syslog.timeout) == ("127.0.0.1", 6514, "tcp", "cef", 20, 2.5)
    assert (webhook.retries, webhook.timeout) == (2, 5.0)
    assert (email.port, email.starttls, email.to) == (587, True, ("ot-sec@site.example",))
    # Secrets never show in names or reprs (they end up in logs and failure reports).
    for sink in sinks:
        for text in (sink.name, repr(sink)):
            assert "hook-secret-value" not in text and "smtp-pw-value" not in text
    assert "t0k" not in webhook.name


def test_no_alerts_table_means_no_sinks():
    assert parse_alert_tables(None) == []


def one(text: str) -> list[dict]:
    return tomllib.loads("[[alerts]]\n" + text)["alerts"]


@pytest.mark.parametrize("table, field, message", [
    pytest.param('type = "pager"', "type", "unknown type 'pager'", id="unknown-type"),
    pytest.param('path = "x"', "type", "missing required field 'type'", id="no-type"),
    pytest.param('type = "jsonl"', "path", "missing required field 'path'", id="jsonl-no-path"),
    pytest.param('type = "jsonl"\npath = "nowhere/a.jsonl"', "path", "does not exist",
                 id="jsonl-missing-folder"),
    pytest.param('type = "log"\ncolour = "red"', "colour", "unknown field(s) colour",
                 id="unknown-field"),
    pytest.param('type = "syslog"\naddress = "siem"', "address", "bad address", id="no-port"),
    pytest.param('type = "syslog"\naddress = "siem:514"\nprotocol = "sctp"', "protocol",
                 "one of udp, tcp", id="bad-protocol"),
    pytest.param('type = "syslog"\naddress = "siem:514"\nformat = "leef"', "format",
                 "one of rfc5424, cef", id="bad-format"),
    pytest.param('type = "syslog"\naddress = "siem:514"\nfacility = "local9"', "facility",
                 "facility must be", id="bad-facility"),
    pytest.param('type = "syslog"\naddress = "siem:514"\ntimeout = 0', "timeout",
                 "timeout must be a number", id="zero-timeout"),
    pytest.param('type = "webhook"\nurl = "ftp://x/y"\nsecret_env = "HOOK_SECRET"', "url",
                 "must start with http", id="bad-url"),
    pytest.param('type = "webhook"\nurl = "https://x/y"', "secret_env",
                 "missing required field 'secret_env'", id="no-secret"),
    pytest.param('type = "webhook"\nurl = "https://x/y"\nsecret_env = "UNSET_VAR"', "secret_env",
                 "environment variable UNSET_VAR (named by secret_env) is not set", id="env-unset"),
    pytest.param('type = "webhook"\nurl = "https://x/y"\nsecret_env = "HOOK_SECRET"\nretries = -1',
                 "retries", "whole number from 0 to 10", id="bad-retries"),
    pytest.param('type = "email"\nhost = "m"\nfrom = "a@b"\nto = []', "to", "non-empty list",
                 id="no-recipients"),
    pytest.param('type = "email"\nhost = "m"\nfrom = "nobody"\nto = ["a@b"]', "from",
                 "e-mail address", id="bad-from"),
    pytest.param('type = "email"\nhost = "m"\nfrom = "a@b"\nto = ["a@b"]\nusername_env = "SMTP_USER"'
                 '\npassword_env = "SMTP_PASSWORD"', "starttls", "clear text",
                 id="auth-without-starttls"),
    pytest.param('type = "email"\nhost = "m"\nfrom = "a@b"\nto = ["a@b"]\nstarttls = true'
                 '\nusername_env = "SMTP_USER"', "password_env", "go together", id="user-no-password"),
    pytest.param('type = "email"\nhost = "m"\nfrom = "a@b"\nto = ["a@b"]\nstarttls = "yes"',
                 "starttls", "true or false", id="starttls-not-bool"),
])
def test_bad_tables_name_the_file_and_field(tmp_path, table, field, message):
    with pytest.raises(ConfigError) as info:
        parse_alert_tables(one(table), file=str(tmp_path / "site.toml"), environ=ENV)
    err = info.value
    assert err.field == field and err.file == str(tmp_path / "site.toml")
    assert message in str(err)
    assert "[[alerts]] #1" in str(err)


def test_not_a_list_and_duplicate_names(tmp_path):
    with pytest.raises(ConfigError, match="array of tables"):
        parse_alert_tables({"type": "log"}, file="site.toml")
    with pytest.raises(ConfigError, match="already configured") as info:
        parse_alert_tables([{"type": "log"}, {"type": "log"}], file="site.toml")
    assert "#2" in str(info.value)
    sinks = parse_alert_tables([{"type": "log"}, {"type": "log", "name": "second"}], file="s.toml")
    assert [s.name for s in sinks] == ["log integrity.alerts", "second"]
