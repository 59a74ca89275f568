"""A real PostgreSQL server for the store tests, from Debian's ``postgresql`` package.

One server per test session: ``initdb`` into a temp folder as the ``postgres``
user (initdb refuses to run as root), listening only on a Unix socket in that
folder (``listen_addresses=''``: nothing on the network), fsync off (a test
database need not survive a power cut).  Each test gets its own database
(``PostgresServer.database()``), dropped afterwards.

Not installed: the postgres-backed tests fail under CI (``CI=true``: CI must
test what it claims) and are skipped with the reason elsewhere.
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator

import pytest

INSTALL_HINT = "apt-get update && apt-get install -y postgresql"


def find_bindir() -> Path | None:
    """The newest installed PostgreSQL's bin folder (Debian keeps them versioned)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """A running throwaway server; ``url(name)`` is what ``Store.open`` takes."""

    _names = itertools.count(1)

    def __init__(self, bindir: Path, *, durable: bool = False) -> None:
        self.bindir = bindir
        self.durable = durable  # fsync as in production (benchmarks); tests need not
        # Not tmp_path: pytest's folders are root-only and the server runs as postgres.
        # Short path: a Unix socket path must fit in 107 bytes.
        self.root = Path(tempfile.mkdtemp(prefix="plc-pg-"))
        self.data, self.socket, self.log = self.root / "data", self.root / "run", self.root / "log"
        self.socket.mkdir()
        self.port = 5432  # only names the socket file, which is in our own folder

    def _as_postgres(self, *args: str, timeout: float = 120) -> None:
        cmd = list(args)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if proc.returncode:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}): "
                               f"{proc.stderr[-2000:]}{proc.stdout[-500:]}\n{log}")

    def start(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
            shutil.chown(self.socket, "postgres", "postgres")
        self._as_postgres(str(self.bindir / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "-A", "trust", "-E", "UTF8", "--no-sync")
        options = f"-k {self.socket} -p {self.port} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-o", options, "-w", "-t", "60", "start")

    def stop(self) -> None:
        try:
            self._as_postgres(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m",
                              "immediate", "-w", "stop", timeout=60)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def url(self, name: str) -> str:
        return (f"postgresql+psycopg://postgres@/{name}?host={self.socket}&port={self.port}")

    def _admin(self, statement: str) -> None:
        import psycopg
        with psycopg.connect(host=str(self.socket), port=self.port, user="postgres",
                             dbname="postgres", autocommit=True) as conn:
            conn.execute(statement)

    def database(self) -> str:
        """A new empty database; returns its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop(self, url: str) -> None:
        name = url.split("/")[3].split("?")[0]
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def unavailable(reason: str) -> None:
    """Fail under CI, skip elsewhere: a green CI run must have tested PostgreSQL."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"PostgreSQL tests cannot run in CI: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL not available ({reason}); install it with: {INSTALL_HINT}")


_server: PostgresServer | None = None
_broken: str | None = None


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """Started on first use, once per session; skip/fail (see ``unavailable``) if it cannot be."""
    global _server, _broken
    if _broken is not None:
        unavailable(_broken)
    bindir = find_bindir()
    if bindir is None:
        _broken = "no initdb under /usr/lib/postgresql/*/bin or on PATH"
        unavailable(_broken)
    server = PostgresServer(bindir)
    try:
        server.start()
    except (RuntimeError, OSError, KeyError, subprocess.TimeoutExpired) as exc:
        shutil.rmtree(server.root, ignore_errors=True)
        _broken = f"the server did not start: {exc}"
        unavailable(_broken)
    _server = server
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server, dropped after the test."""
    url = postgres_server.database()
    yield url
    postgres_server.drop(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str | Path:
    """Where a test's store lives: an SQLite file, or a fresh PostgreSQL database.

    Store tests take this instead of a path so each runs against both backends.
    """
    if request.param == "sqlite":
        return tmp_path / "plc-integrity.db"
    return request.getfixturevalue("postgres_url")


@pytest.fixture(params=["sqlite", "postgresql"])
def store_backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """For tests of a whole site (CLI, daemon): with "postgresql", the site's store is a
    fresh PostgreSQL database through $PLC_INTEGRITY_STORE_URL.  Use it before ``site``
    (``pytestmark = pytest.mark.usefixtures("store_backend")``) so init already uses it."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    url = request.getfixturevalue("postgres_url")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLC_INTEGRITY_STORE_URL", url)
        yield url
