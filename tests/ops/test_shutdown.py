"""SIGTERM to `plc-integrity run` in a real subprocess: it exits 0, and the store's
events say it started, stopped, and whether an in-flight sweep finished or was
abandoned.  Waits are on events (a line printed, a connection accepted), never on
sleeps; the only time bound is a generous ceiling on process exit."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

EXIT_CEILING = 30.0  # seconds; the process should exit far sooner


def start_daemon(site_root: Path, *args: str) -> subprocess.Popen:
    code = "from integrity.cli import cli; cli()"
    return subprocess.Popen([sys.executable, "-c", code, "--site", str(site_root), "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})


def wait_ready(proc: subprocess.Popen) -> None:
    line = proc.stdout.readline()
    assert "ready" in line, line + proc.stderr.read()


def stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=EXIT_CEILING)
    return proc.returncode, out, err


def events(site_root: Path) -> list[tuple[str, str]]:
    from baselines.store import Store
    from integrity.inventory import load_site

    site = load_site(site_root)
    with Store.open(site.store_url, heads_path=site.heads_path) as store:
        return [(e["kind"], e["detail"]) for e in reversed(store.events())]


@pytest.fixture
def proc_guard():
    procs: list[subprocess.Popen] = []
    yield procs.append
    for p in procs:  # only if a test failed half-way: never leave our own child running
        if p.poll() is None:
            p.kill()
            p.communicate()


def test_sigterm_while_idle_exits_0_and_records_start_and_stop(site, helpers, drive, proc_guard):
    helpers.write_inventory(site.root, helpers.device_table(drive))
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-hoist"]\n'
                                        'deep = "0 0 1 1 *"\n')  # not due for months
    proc = start_daemon(site.root)
    proc_guard(proc)
    wait_ready(proc)

    code, out, err = stop(proc)

    assert code == 0, err
    assert out.strip().endswith("scheduler stopped")
    kinds = [k for k, _ in events(site.root)]
    assert kinds == ["start", "stop"]
    assert events(site.root)[-1][1] == "stopped by signal"
    assert drive.requests == []  # nothing was due, so nothing was read


def test_sigterm_during_a_sweep_lets_it_finish_within_the_grace(site, helpers, silent_listener,
                                                                run, proc_guard):
    # A device that accepts and never answers: the check ends at its 1.5 s timeout.
    helpers.write_inventory(site.root, {"name": "vfd-mute", "protocol": "modbus",
                                        "host": "127.0.0.1", "port": silent_listener.port,
                                        "holding": ["0-9"], "timeout": 1.5, "retries": 0})
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-mute"]\nquick = "1h"\n')
    proc = start_daemon(site.root, "--grace", "20")
    proc_guard(proc)
    wait_ready(proc)
    assert silent_listener.accepted.wait(EXIT_CEILING)  # the sweep is in flight now

    code, out, err = stop(proc)

    assert code == 0, err
    kinds = [k for k, _ in events(site.root)]
    assert kinds == ["start", "shutdown-completed", "stop"], events(site.root)
    assert "vfd-mute" in events(site.root)[1][1]
    r = run("status", "--json")
    import json

    [row] = json.loads(r.stdout)["devices"]
    # Could not check outranks "no baseline yet" (exit 3, not 4); the check was recorded.
    assert row["last_status"] == "UNREACHABLE" and row["last_check"]
    assert json.loads(r.stdout)["scheduler"] == "stopped"


def test_sigterm_abandons_a_sweep_that_outlasts_the_grace(site, helpers, silent_listener, run,
                                                          proc_guard):
    # Two silent devices with a long timeout: the reads run in a thread pool that
    # would hold the process open for a minute if abandonment did not end it.
    tables = [{"name": name, "protocol": "modbus", "host": "127.0.0.1",
               "port": silent_listener.port, "holding": ["0-9"], "timeout": 60.0, "retries": 0}
              for name in ("vfd-mute-1", "vfd-mute-2")]
    helpers.write_inventory(site.root, *tables)
    helpers.add_to_site_toml(site.root, '[[schedules]]\ndevices = ["vfd-mute-*"]\nquick = "1h"\n')
    proc = start_daemon(site.root, "--grace", "0.2")
    proc_guard(proc)
    wait_ready(proc)
    assert silent_listener.accepted.wait(EXIT_CEILING)

    code, out, err = stop(proc)

    assert code == 0, err
    assert "in-flight checks abandoned" in out
    ev = events(site.root)
    assert [k for k, _ in ev] == ["start", "shutdown-abandoned", "stop"], ev
    assert "vfd-mute-1, vfd-mute-2" in ev[1][1] and "stay due" in ev[1][1]
    # Nothing was recorded as checked, and the jobs are still due: the next start runs them.
    from baselines.store import Store
    from integrity.inventory import load_site

    loaded = load_site(site.root)
    with Store.open(loaded.store_url, heads_path=loaded.heads_path) as store:
        assert store.checks("vfd-mute-1", limit=5) == []
        [(due, last_run)] = [v for k, v in store.schedule_rows().items() if k == "vfd-mute-1/quick"]
        assert last_run is None
