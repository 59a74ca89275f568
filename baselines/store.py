"""The baseline store: SQLAlchemy, SQLite by default, schema by Alembic.

What it keeps (see ``tables.py``): write-once, content-addressed artifact
contents; one row per signed manifest, as its exact signed bytes; the check
history.  Every read of a baseline verifies it (``verify.py``): signature over
the stored bytes with a key from trust/, row columns against the manifest, the
device's hash chain, the signed checkpoint against rollback (``checkpoint.py``),
and, under a site policy, the approvals of each device's current baseline.

Errors: the database cannot be opened or written → StoreError; no baseline →
NoBaselineError; anything that makes a stored baseline untrustworthy → a
BaselineInvalidError subclass whose message names device, sequence and what
failed.  SQLAlchemy and Alembic exceptions never leave the store's modules
(this one opens the database and runs transactions; the parts are mixed in).
"""

from __future__ import annotations

import os
import re
import time
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (ArgumentError, IntegrityError, NoSuchModuleError, OperationalError,
                            SQLAlchemyError)

from integrity.errors import StoreError

from baselines.checks import CheckHistoryMixin
from baselines.claims import ClaimsMixin
from baselines.contents import ContentsMixin
from baselines.anchor import AnchorMixin
from baselines.checkpoint import Checkpoint
from baselines.heads import HeadFile
from baselines.history import BaselineHistoryMixin
from baselines.proposals import ProposalsMixin
from baselines.outbox import OutboxMixin
from baselines.prune import PruneMixin
from baselines.runtime import RuntimeStateMixin
from baselines.verify import HistoryEntry

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_FILENAME = "plc-integrity.db"
# How long one statement waits for another writer's lock (SQLite busy timeout),
# in seconds; PLC_INTEGRITY_STORE_LOCK_WAIT overrides it (tests, slow disks).
LOCK_WAIT = 30.0
WRITE_ATTEMPTS = 3  # a transient write failure is retried this often in all, with backoff
T = TypeVar("T")


_REVISION_LINE = re.compile(r'^(down_revision|revision) = (None|"([^"\\]+)")$', re.M)


def _alembic_config() -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def script_heads() -> set[str] | None:
    """The head revisions of MIGRATIONS/versions, read from each script's
    ``revision = "..."`` and ``down_revision = ...`` lines without importing
    Alembic (a test holds this equal to Alembic's own answer).  None when a
    script says anything else (a merge, a branch label): then Alembic decides."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        source = path.read_text("utf-8")
        lines = _REVISION_LINE.findall(source)
        found = {k: v for k, _, v in lines}
        if len(lines) != 2 or set(found) != {"revision", "down_revision"} \
                or not found["revision"] or "\nbranch_labels = None\n" not in source \
                or "\ndepends_on = None\n" not in source:
            return None
        revisions.add(found["revision"])
        if found["down_revision"]:
            parents.add(found["down_revision"])
    return (revisions - parents) or None


def lock_wait_default() -> float:
    try:
        return max(0.0, float(os.environ.get("PLC_INTEGRITY_STORE_LOCK_WAIT", LOCK_WAIT)))
    except ValueError:
        return LOCK_WAIT


def _sqlite_setup(engine: Engine, lock_wait: float) -> None:
    """Real transactions on SQLite.  The sqlite3 module's own transaction
    handling skips BEGIN before DDL and SELECT; we emit BEGIN ourselves so a
    migration or an append is all-or-nothing (the SQLAlchemy-documented recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA busy_timeout = {int(lock_wait * 1000)}")  # wait for another writer
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Writers take the write lock up front: two appenders can then not both
        # read the same newest baseline and deadlock on upgrading their locks.
        immediate = conn.get_execution_options().get("plc_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


# The key of the advisory lock every writing transaction takes on PostgreSQL
# (any fixed 64-bit number; this one spells "plcintg" in ASCII).
WRITE_LOCK = 0x706C63696E7467


def _postgres_setup(engine: Engine, lock_wait: float) -> None:
    """Writers one at a time on PostgreSQL too, as BEGIN IMMEDIATE does on SQLite.

    The store's writes are check-then-insert (the next sequence of a chain, a
    blob not yet stored, a row to update or insert): under READ COMMITTED two
    writers could both check and then collide.  A transaction-scoped advisory
    lock serialises exactly the writers; readers never wait.  Writes are short
    (one sweep's results, one baseline), so one lock costs little, and claims of
    due jobs (``claims.py``) take row locks instead of this one.
    """

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("plc_write", False)
        if write:
            # Wait for another writer as SQLite's busy_timeout does, then fail
            # (StoreError) rather than hang behind a stuck transaction.
            conn.exec_driver_sql(f"SET LOCAL lock_timeout = '{int(lock_wait * 1000)}ms'")
        if write is True:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITE_LOCK})")


class Store(BaselineHistoryMixin, ProposalsMixin, AnchorMixin, ContentsMixin, CheckHistoryMixin,
            RuntimeStateMixin, ClaimsMixin, OutboxMixin, PruneMixin):
    """Open with ``Store.open``; use as a context manager or call ``close``.

    One facade over what the store keeps, each part in its own module:
    baselines and their history (``history.py``), proposals and approvals
    (``proposals.py``), the rollback anchor (``anchor.py``: the signed
    checkpoint), artifact contents (``contents.py``), the check history
    (``checks.py``), operational state (``runtime.py``), the collectors'
    claims of due jobs (``claims.py``), the alert outbox (``outbox.py``) and
    retention (``prune.py``).  This module opens the database and runs
    transactions.
    """

    def __init__(self, engine: Engine, heads: HeadFile | None, where: str,
                 checkpoint: Checkpoint | None = None) -> None:
        self._engine = engine
        self._heads = heads
        self._checkpoint = checkpoint
        self.where = where  # for messages; passwords hidden

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url_or_path: str | Path, *, heads_path: Path | None = None,
             checkpoint: Checkpoint | None = None,
             lock_wait: float | None = None) -> "Store":
        """Open (creating or upgrading the schema) a store.

        ``url_or_path``: an SQLAlchemy URL (``postgresql://...``) or a file path
        for SQLite, whose folder must exist.  ``heads_path``: the rollback
        anchor (normally ``<site>/state/heads.json``); None disables rollback
        detection, and a path whose file does not exist yet is accepted as a
        fresh anchor (see ``heads.py`` for what this does and does not protect).
        ``checkpoint``: the site's signed checkpoint (``checkpoint.py``); once it
        exists it is the rollback anchor instead of the head file.
        ``lock_wait``: seconds a statement waits for another writer's lock
        (default LOCK_WAIT or $PLC_INTEGRITY_STORE_LOCK_WAIT).
        Raises StoreError: bad URL, unwritable path, not a database, a schema
        from a newer plc-integrity.
        """
        text = str(url_or_path)
        if isinstance(url_or_path, Path) or "://" not in text:
            path = Path(text).expanduser().absolute()
            if not path.parent.is_dir():
                raise StoreError(f"cannot open store {path}: folder {path.parent} does not exist")
            url, where = f"sqlite:///{path}", str(path)
        else:
            url = text
            try:
                where = make_url(url).render_as_string(hide_password=True)
            except ArgumentError as exc:
                raise StoreError(f"store URL {text!r} is not a valid SQLAlchemy URL") from exc
        try:
            engine = create_engine(url, **_engine_options(url))
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"cannot use store URL {where}: {exc}") from exc
        wait = lock_wait_default() if lock_wait is None else lock_wait
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine, wait)
        elif engine.dialect.name == "postgresql":
            _postgres_setup(engine, wait)
        store = cls(engine, HeadFile(heads_path) if heads_path is not None else None, where,
                    checkpoint)
        if store._heads is not None:
            store._heads.remove_stale_temp_files()
        try:
            store._migrate()
        except BaseException:
            engine.dispose()
            raise
        return store

    def _migrate(self) -> None:
        if self._schema_is_current():
            return  # no write lock needed: opening never waits for another writer
        # Alembic (and what it imports: mako, pygments) loads only to upgrade:
        # a read-only command such as status does not pay for it.
        from alembic import command
        from alembic.util.exc import CommandError

        config = _alembic_config()
        try:
            with self._engine.connect().execution_options(plc_write=True) as conn, conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(f"cannot upgrade store {self.where}: {exc} (written by a newer "
                             "plc-integrity?)") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {self.where}: {_why(exc)}") from exc

    def _schema_is_current(self) -> bool:
        heads = script_heads()
        try:
            with self._engine.connect() as conn:
                if heads is None:  # a revision graph the quick reading does not follow
                    from alembic.runtime.migration import MigrationContext
                    from alembic.script import ScriptDirectory

                    current = set(MigrationContext.configure(conn).get_current_heads())
                    return current == set(ScriptDirectory.from_config(_alembic_config())
                                          .get_heads())
                current = {r[0] for r in conn.execute(text(
                    "SELECT version_num FROM alembic_version"))}
        except SQLAlchemyError:
            return False  # no version table yet, or unreadable: the upgrade path reports it
        return current == heads

    def close(self) -> None:
        self._engine.dispose()

    @contextmanager
    def deferred_heads(self) -> Iterator[None]:
        """A block whose baselines update the rollback anchors once, at its end
        (HeadFile.deferred, Checkpoint.deferred: one rewrite and one signature):
        capturing N devices stays linear in N."""
        with ExitStack() as stack:
            if self._heads is not None:
                stack.enter_context(self._heads.deferred())
            if self._checkpoint is not None:
                stack.enter_context(self._checkpoint.deferred())
            yield

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _tx(self, action: str, *, write: bool | str = False) -> Iterator[Connection]:
        """One transaction; SQLAlchemy errors become StoreError naming ``action``.

        ``write``: True takes the write lock up front (SQLite: BEGIN IMMEDIATE;
        PostgreSQL: the advisory lock); "claim" (``claims.py``) takes SQLite's
        write lock but on PostgreSQL relies on the row locks it takes itself.
        """
        try:
            conn = self._engine.connect()
            if write:
                conn = conn.execution_options(plc_write=write)
            with conn, conn.begin():
                yield conn
        except IntegrityError as exc:
            raise StoreError(f"{action}: {_why(exc)} (another process wrote at the same time? "
                             "retry)") from exc
        except SQLAlchemyError as exc:
            error = StoreError(f"{action} in {self.where}: {_why(exc)}")
            # Locked, busy, or the connection lost (a failover): may pass.
            error.transient = isinstance(exc, OperationalError) or \
                bool(getattr(exc, "connection_invalidated", False))
            raise error from exc

    def _retrying(self, write: Callable[[], T], *, attempts: int = WRITE_ATTEMPTS,
                  backoff: float = 0.5) -> T:
        """Run a write transaction, again after a transient failure (bounded:
        ``attempts`` in all, each waiting at most the lock wait, with backoff
        between).  The last StoreError is raised when every attempt failed."""
        for attempt in range(attempts):
            try:
                return write()
            except StoreError as exc:
                if not exc.transient or attempt == attempts - 1:
                    raise
                time.sleep(backoff * 2 ** attempt)
        raise AssertionError("unreachable")


# Seconds to wait for a PostgreSQL server before saying the store cannot be
# opened, unless the URL says otherwise (?connect_timeout=N): an unreachable
# database host must not hang a sweep on the operating system's TCP timeout.
PG_CONNECT_TIMEOUT = 10


def _engine_options(url: str) -> dict[str, Any]:
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        return {}
    connect_args = {} if "connect_timeout" in parsed.query else {
        "connect_timeout": PG_CONNECT_TIMEOUT}
    # pre_ping: a pooled connection the server dropped (restart, failover) is
    # replaced before use instead of failing the next write.
    return {"pool_pre_ping": True, "connect_args": connect_args}


def _why(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]




__all__ = ["Store", "HistoryEntry", "DEFAULT_FILENAME"]
