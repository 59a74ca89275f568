"""Suite-wide checks.

Rule 1 of the project: the checker only ever reads.  Every simulator records
each request it receives in ``simulators.base.LEDGER``; attacker connections
opened by tests are marked.  At the end of the session every other request must
have been a read, or the run fails.
"""

from __future__ import annotations

import logging
import os
import tempfile

import pytest

from simulators.base import LEDGER, checker_violations, is_attacker

# Shared fixtures (site, inventory, run, peers...) for every test folder.
pytest_plugins = ["support.fixtures", "support.postgres"]


def pytest_configure(config: pytest.Config) -> None:
    for name in ("pymodbus", "snap7", "pycomm3"):
        logging.getLogger(name).setLevel(logging.CRITICAL)
    # The checker's per-host memory and checkpoint keys (baselines/localstate.py)
    # never land in the real home, not even from session-wide fixtures.
    os.environ["PLC_INTEGRITY_STATE_DIR"] = tempfile.mkdtemp(prefix="plc-integrity-host-")


@pytest.fixture(autouse=True)
def _host_state(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test its own host memory: one test's checkpoint versions never
    make another's site look rolled back."""
    monkeypatch.setenv("PLC_INTEGRITY_STATE_DIR", str(tmp_path_factory.mktemp("host-state")))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if checker_violations():
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    bad = checker_violations()
    by_protocol: dict[str, set[str]] = {}
    for req in (r for r in list(LEDGER) if not is_attacker(r.peer)):
        by_protocol.setdefault(req.protocol, set()).add(req.operation)
    terminalreporter.section("read-only ledger")
    terminalreporter.write_line(f"{len(LEDGER)} requests recorded by the simulators; "
                                f"{len(bad)} non-read request(s) not from a marked attacker")
    for proto, ops in sorted(by_protocol.items()):
        terminalreporter.write_line(f"  {proto}: operations the checker sent: {', '.join(sorted(ops))}")
    for req in bad[:20]:
        terminalreporter.write_line(f"  VIOLATION {req}", red=True)
