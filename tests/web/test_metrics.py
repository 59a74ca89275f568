"""The daemon's /metrics (run --metrics-bind): its own exporter thread, read
durations per protocol, sweep results and sink failures, parsed by
prometheus-client's own parser."""

from __future__ import annotations

from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families

from integrity.cli import cli
from support.site import add_to_site_toml
from support.web import get


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def test_run_exporter_counts_reads_and_sweeps(site, inventory, closed_port):
    from integrity import check
    from integrity.cli._common import open_store, trust_store
    from integrity.inventory import load_site
    from integrity.metrics import start_metrics_server
    from integrity.sweep import run_sweep

    inventory.write({"name": "vfd-gone", "protocol": "modbus", "host": "127.0.0.1",
                     "port": closed_port, "unit": 1, "holding": ["0-9"], "timeout": 0.5,
                     "retries": 0})
    s = load_site(site.root)
    server, metrics = start_metrics_server(s, "127.0.0.1:0", open_store=open_store,
                                           trust=trust_store(s, live=True))
    try:
        with open_store(s) as store:
            report = run_sweep(s.devices, store, trust_store(s))
        metrics.observe_report(report)
        status, headers, body = get(f"http://127.0.0.1:{server.port}/metrics")
        assert status == 200
        got = families(body)
        hist = got["plc_integrity_check_duration_seconds"]
        counts = [x for x in hist.samples if x.name.endswith("_count")]
        assert [(x.labels["protocol"], x.labels["ok"], x.value) for x in counts] == [
            ("modbus", "false", 1.0)]
        results = {(x.labels["status"], x.labels["mode"]): x.value
                   for x in got["plc_integrity_sweep_results"].samples
                   if x.name.endswith("_total")}
        [result] = report.results  # not OK, whichever of NO_BASELINE/UNREACHABLE comes first
        assert results == {(result.status.value, "deep"): 1.0}
        devices = {x.labels["state"]: x.value for x in got["plc_integrity_devices"].samples}
        assert devices[result.status.value] == 1 and devices["OK"] == 0
        assert "plc_integrity_sink_failures" in got
        # the exporter serves only /metrics and /healthz
        assert get(f"http://127.0.0.1:{server.port}/")[0] == 404
        assert get(f"http://127.0.0.1:{server.port}/healthz")[0] == 200
    finally:
        server.stop()
        check.READ_OBSERVERS.remove(metrics.observe_read)


def test_run_metrics_off_loopback_without_token_refuses(site, inventory, closed_port):
    inventory.write({"name": "vfd-gone", "protocol": "modbus", "host": "127.0.0.1",
                     "port": closed_port, "unit": 1, "holding": ["0-9"]})
    add_to_site_toml(site.root, '[[schedules]]\ndevices = ["*"]\nquick = "15m"\n')
    r = CliRunner().invoke(cli, ["--site", str(site.root), "run", "--once",
                                 "--metrics-bind", "0.0.0.0:0"],
                           env={"PLC_INTEGRITY_TOKEN": ""}, catch_exceptions=False)
    assert r.exit_code == 2 and "--metrics-bind" in r.stderr and "refusing" in r.stderr
