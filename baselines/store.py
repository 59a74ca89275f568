"""The baseline store: SQLAlchemy, SQLite by default, schema by Alembic.

What it keeps (see ``tables.py``): write-once, content-addressed artifact
contents; one row per signed manifest, as its exact signed bytes; the check
history.  Every read of a baseline verifies it (``verify.py``): signature over
the stored bytes with a key from trust/, row columns against the manifest, the
device's hash chain, and the head file against rollback (``heads.py``).

Errors: the database cannot be opened or written → StoreError; no baseline →
NoBaselineError; anything that makes a stored baseline untrustworthy → a
BaselineInvalidError subclass whose message names device, sequence and what
failed.  SQLAlchemy and Alembic exceptions never leave this module.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, Iterator

from alembic import command
from alembic.config import Config
from alembic.util.exc import CommandError
from sqlalchemy import Connection, Engine, create_engine, event, func, insert, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, SQLAlchemyError

from integrity import canonical
from integrity.clock import as_utc, utcnow
from integrity.errors import (BaselineError, BaselineInvalidError, ChainBrokenError, ConfigError,
                              NoBaselineError, StoreError, StoreTamperedError)
from integrity.model import Artifact, Capture, CheckResult

from baselines import tables
from baselines.heads import Head, HeadFile
from baselines.manifest import REASON_MAX, Baseline, Manifest, format_time
from baselines.runtime import RuntimeStateMixin
from baselines.signing import SigningKey, TrustSnapshot, TrustStore, short_keyid
from baselines.verify import HistoryEntry, Row, verify_rows

MIGRATIONS = Path(__file__).with_name("migrations")
DEFAULT_FILENAME = "plc-integrity.db"
_IN_CHUNK = 500  # stay far below SQLite's bound-parameter limit


def _sqlite_setup(engine: Engine) -> None:
    """Real transactions on SQLite.  The sqlite3 module's own transaction
    handling skips BEGIN before DDL and SELECT; we emit BEGIN ourselves so a
    migration or an append is all-or-nothing (the SQLAlchemy-documented recipe)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")  # wait for another writer, not fail
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # Writers take the write lock up front: two appenders can then not both
        # read the same newest baseline and deadlock on upgrading their locks.
        immediate = conn.get_execution_options().get("plc_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store(RuntimeStateMixin):
    """Open with ``Store.open``; use as a context manager or call ``close``."""

    def __init__(self, engine: Engine, heads: HeadFile | None, where: str) -> None:
        self._engine = engine
        self._heads = heads
        self.where = where  # for messages; passwords hidden

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def open(cls, url_or_path: str | Path, *, heads_path: Path | None = None) -> "Store":
        """Open (creating or upgrading the schema) a store.

        ``url_or_path``: an SQLAlchemy URL (``postgresql://...``) or a file path
        for SQLite, whose folder must exist.  ``heads_path``: the rollback
        anchor (normally ``<site>/state/heads.json``); None disables rollback
        detection, and a path whose file does not exist yet is accepted as a
        fresh anchor (see ``heads.py`` for what this does and does not protect).
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
            engine = create_engine(url)
        except (ArgumentError, NoSuchModuleError, ImportError) as exc:
            raise StoreError(f"cannot use store URL {where}: {exc}") from exc
        if engine.dialect.name == "sqlite":
            _sqlite_setup(engine)
        store = cls(engine, HeadFile(heads_path) if heads_path is not None else None, where)
        try:
            store._migrate()
        except BaseException:
            engine.dispose()
            raise
        return store

    def _migrate(self) -> None:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        try:
            with self._engine.connect().execution_options(plc_write=True) as conn, conn.begin():
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        except CommandError as exc:
            raise StoreError(f"cannot upgrade store {self.where}: {exc} (written by a newer "
                             "plc-integrity?)") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot open store {self.where}: {_why(exc)}") from exc

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- plumbing ----------------------------------------------------------------------------

    @contextmanager
    def _tx(self, action: str, *, write: bool = False) -> Iterator[Connection]:
        """One transaction; SQLAlchemy errors become StoreError naming ``action``."""
        try:
            conn = self._engine.connect()
            if write:
                conn = conn.execution_options(plc_write=True)
            with conn, conn.begin():
                yield conn
        except IntegrityError as exc:
            raise StoreError(f"{action}: {_why(exc)} (another process wrote at the same time? "
                             "retry)") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"{action} in {self.where}: {_why(exc)}") from exc

    def _rows(self, conn: Connection, device: str) -> list[Row]:
        t = tables.baselines
        result = conn.execute(select(t.c.id, t.c.device, t.c.sequence, t.c.keyid, t.c.manifest,
                                     t.c.signature, t.c.created_at)
                              .where(t.c.device == device).order_by(t.c.sequence))
        return [Row.from_db(r) for r in result]

    def _head(self, device: str) -> Head | None:
        """Raises ChainBrokenError if the head file exists but is damaged."""
        if self._heads is None:
            return None
        heads = self._heads.read()
        return heads.get(device) if heads is not None else None

    def _verified(self, conn: Connection, device: str, trust: TrustStore | TrustSnapshot
                  ) -> list[Baseline]:
        """The device's whole history, verified, oldest first; raises the first problem."""
        snapshot = trust.snapshot() if isinstance(trust, TrustStore) else trust
        return self._verify_history(device, self._rows(conn, device), snapshot, self._head(device))

    def _verify_history(self, device: str, rows: list[Row], snapshot: TrustSnapshot,
                        head: Head | None) -> list[Baseline]:
        try:
            reports, extra = verify_rows(device, rows, snapshot, head)
        except BaselineInvalidError:
            raise
        except Exception as exc:  # noqa: BLE001 - fail closed on rows nobody expected
            # Rows are attacker-reachable input: whatever they do to the checks,
            # the answer is "this history cannot be trusted", never a crash.
            raise StoreTamperedError(f"baseline {device}: history could not be verified "
                                     f"({type(exc).__name__}: {str(exc)[:200]})") from exc
        # The newest bad row first: it is the one closest to what the caller is
        # about to trust (e.g. "the current baseline's signer is not trusted").
        for problem in [r.problem for r in reversed(reports) if r.problem is not None] + extra:
            raise problem
        return [Baseline(r.row.id, r.manifest, r.row.manifest, r.row.signature, r.row.keyid,
                         r.signer_name) for r in reports if r.manifest is not None]

    # -- baselines ---------------------------------------------------------------------------

    def append_baseline(self, capture: Capture, key: SigningKey, reason: str, *,
                        trust: TrustStore, now: datetime | None = None) -> Baseline:
        """Sign ``capture`` as the device's next baseline and store it, in one transaction.

        Refuses (UntrustedKeyError) a key whose public half is not in trust/:
        every later verify would reject what it signs.  Refuses an empty capture
        (ConfigError).  Refuses to extend a
        history that fails verification (the verification error is raised), so a
        broken chain is never papered over by a new link.  Raises ConfigError for
        an empty reason, StoreError if the database cannot be written, and
        StoreError after the commit if the head file cannot be updated.
        """
        if not isinstance(reason, str) or not reason.strip() or len(reason) > REASON_MAX:
            raise ConfigError(f"a reason is required (at most {REASON_MAX} characters)",
                              device=capture.device, field="reason")
        if not capture.artifacts:
            # A baseline of nothing would make every later check pass vacuously.
            raise ConfigError("the capture has no artifacts; refusing to sign an empty baseline",
                              device=capture.device)
        snapshot = trust.snapshot()
        try:
            public = snapshot.get(key.keyid)
        except BaselineInvalidError as exc:
            raise type(exc)(f"refusing to sign with key {short_keyid(key.keyid)}: its public key is "
                            f"not in {snapshot.folder}, so every verify would reject the baseline; "
                            "add the .pub to trust/ first") from exc
        signed_at = as_utc(utcnow(now))
        with self._tx(f"storing a baseline of {capture.device}", write=True) as conn:
            history = self._verified(conn, capture.device, snapshot)
            newest = history[-1] if history else None
            try:
                manifest = Manifest.from_capture(
                    capture, sequence=newest.sequence + 1 if newest else 1,
                    previous=newest.id if newest else None, signer=key.keyid, reason=reason,
                    signed_at=signed_at)
            except ValueError as exc:
                raise ConfigError(f"cannot make a baseline: {exc}", device=capture.device) from exc
            data = manifest.to_bytes()
            signature = key.sign(data)
            public.verify(signature, data)  # the trusted key must accept it, before storing
            self._put_blobs(conn, capture)
            ident = canonical.sha256(data)
            conn.execute(insert(tables.baselines).values(
                id=ident, device=manifest.device, sequence=manifest.sequence, keyid=key.keyid,
                manifest=data, signature=signature, created_at=format_time(signed_at)))
        if self._heads is not None:
            try:
                self._heads.advance(manifest.device, Head(manifest.sequence, ident))
            except (StoreError, ChainBrokenError) as exc:
                raise StoreError(f"baseline {manifest.device} #{manifest.sequence} was stored, but "
                                 f"the rollback anchor was not updated: {exc}") from exc
        return Baseline(ident, manifest, data, signature, key.keyid, snapshot.name_of(key.keyid))

    def _put_blobs(self, conn: Connection, capture: Capture) -> None:
        wanted = {a.digest: a for a in capture.artifacts}
        existing = self._fetch_blobs(conn, list(wanted))
        for digest, artifact in wanted.items():
            if digest in existing:
                continue  # write-once: identical content is stored once
            conn.execute(insert(tables.blobs).values(digest=digest, encoding=artifact.encoding.value,
                                                     size=artifact.size, content=artifact.content))

    def _fetch_blobs(self, conn: Connection, digests: list[str]) -> dict[str, bytes]:
        """Contents by digest, each re-hashed: StoreTamperedError on a mismatch."""
        found: dict[str, bytes] = {}
        t = tables.blobs
        for i in range(0, len(digests), _IN_CHUNK):
            chunk = digests[i:i + _IN_CHUNK]
            for digest, content in conn.execute(select(t.c.digest, t.c.content)
                                                .where(t.c.digest.in_(chunk))):
                content = bytes(content)
                if canonical.sha256(content) != digest:
                    raise StoreTamperedError(f"artifact content {digest[:16]} in the store does not "
                                             "hash to its digest (blob edited)")
                found[digest] = content
        return found

    def latest(self, device: str, trust: TrustStore) -> Baseline:
        """The device's newest baseline, verified with its whole history.

        Raises NoBaselineError if the device has none (and the head file does not
        say it had some), a BaselineInvalidError subclass if verification fails,
        StoreError if the database cannot be read.
        """
        with self._tx(f"reading baselines of {device}") as conn:
            history = self._verified(conn, device, trust)
        if not history:
            raise NoBaselineError(f"no baseline for {device}")
        return history[-1]

    def latest_many(self, devices: list[str], trust: TrustStore
                    ) -> dict[str, Baseline | BaselineError]:
        """``latest`` for many devices, read in one transaction (a sweep's worth).

        Each device is verified exactly as ``latest`` does; its value is the
        verified Baseline or the NoBaselineError / BaselineInvalidError that
        ``latest`` would raise.  StoreError if the database cannot be read.
        """
        snapshot = trust.snapshot()
        t = tables.baselines
        rows: dict[str, list[Row]] = {d: [] for d in devices}
        broken: dict[str, StoreTamperedError] = {}
        names = sorted(set(devices))
        with self._tx("reading baselines") as conn:
            for i in range(0, len(names), _IN_CHUNK):
                result = conn.execute(
                    select(t.c.id, t.c.device, t.c.sequence, t.c.keyid, t.c.manifest,
                           t.c.signature, t.c.created_at)
                    .where(t.c.device.in_(names[i:i + _IN_CHUNK]))
                    .order_by(t.c.device, t.c.sequence))
                for r in result:
                    try:
                        rows[r.device].append(Row.from_db(r))
                    except StoreTamperedError as exc:
                        broken.setdefault(r.device, exc)
        out: dict[str, Baseline | BaselineError] = {}
        try:
            heads = self._heads.read() if self._heads is not None else None
        except ChainBrokenError as exc:  # a damaged anchor vouches for no device
            return {device: exc for device in devices}
        for device in devices:
            if device in broken:
                out[device] = broken[device]
                continue
            try:
                head = heads.get(device) if heads is not None else None
                history = self._verify_history(device, rows[device], snapshot, head)
                if not history:
                    raise NoBaselineError(f"no baseline for {device}")
                out[device] = history[-1]
            except BaselineError as exc:
                out[device] = exc
        return out

    def baseline(self, device: str, sequence: int, trust: TrustStore) -> Baseline:
        """One baseline by sequence, verified with the whole history (same errors as latest)."""
        with self._tx(f"reading baselines of {device}") as conn:
            history = self._verified(conn, device, trust)
        for item in history:
            if item.sequence == sequence:
                return item
        raise NoBaselineError(f"no baseline #{sequence} for {device}")

    def history(self, device: str, trust: TrustStore) -> list[HistoryEntry]:
        """Every stored baseline of ``device``, oldest first, each with ok/problem.

        Never raises for bad rows or a damaged head file: it reports them (a
        rollback shows as a final entry for the missing head).  Raises StoreError
        only if the database cannot be read.
        """
        snapshot = trust.snapshot()
        with self._tx(f"reading baselines of {device}") as conn:
            rows = self._rows(conn, device)
        head_problem: BaselineInvalidError | None = None
        try:
            head = self._head(device)
        except ChainBrokenError as exc:
            head, head_problem = None, exc
        reports, extra = verify_rows(device, rows, snapshot, head)
        entries = []
        for r in reports:
            m = r.manifest
            entries.append(HistoryEntry(
                sequence=r.row.sequence, id=r.row.id, keyid=r.row.keyid, signer_name=r.signer_name,
                reason=m.reason if m else None, captured_at=m.captured_at if m else None,
                signed_at=m.signed_at if m else None, ok=r.problem is None,
                problem=str(r.problem) if r.problem else None,
                problem_kind=r.problem.reason if r.problem else None, note=r.note))
        for problem in extra + ([head_problem] if head_problem else []):
            entries.append(HistoryEntry(
                sequence=head.sequence if head else 0, id=head.id if head else None, keyid=None,
                signer_name=None, reason=None, captured_at=None, signed_at=None, ok=False,
                problem=str(problem), problem_kind=problem.reason))
        return entries

    def devices(self) -> list[str]:
        """Devices with baselines, plus devices the head file anchors (so a device
        whose every baseline was deleted still shows up, and fails verification)."""
        with self._tx("listing devices") as conn:
            names = set(conn.execute(select(tables.baselines.c.device).distinct()).scalars())
        if self._heads is not None:
            try:
                names |= set(self._heads.read() or {})
            except ChainBrokenError:
                pass  # reported by latest()/history() for each device
        return sorted(names)

    # -- artifact contents -----------------------------------------------------------------

    def artifact_content(self, digest: str) -> bytes:
        """Content by digest, re-hashed.  StoreTamperedError if missing or edited."""
        with self._tx("reading an artifact") as conn:
            found = self._fetch_blobs(conn, [digest])
        if digest not in found:
            raise StoreTamperedError(f"artifact content {digest[:16]} is missing from the store")
        return found[digest]

    def load_artifact(self, baseline: Baseline, entry: Any) -> Artifact:
        """One artifact of a verified baseline with its content (same checks as
        load_artifacts)."""
        return self.load_artifacts(baseline, [entry])[0]

    def load_artifacts(self, baseline: Baseline, entries: Any = None) -> tuple[Artifact, ...]:
        """The baseline's artifacts (or the given entries of it) with their
        contents, each verified against the signed digest and size.
        StoreTamperedError names the artifact."""
        entries = baseline.artifacts() if entries is None else tuple(entries)
        with self._tx(f"reading artifacts of {baseline.device}") as conn:
            found = self._fetch_blobs(conn, sorted({e.digest for e in entries}))
        where = f"baseline {baseline.device} #{baseline.sequence}"
        out = []
        for e in entries:
            content = found.get(e.digest)
            if content is None:
                raise StoreTamperedError(f"{where}: content of artifact {e.key} ({e.digest[:16]}) is "
                                         "missing from the store")
            if len(content) != e.size:
                raise StoreTamperedError(f"{where}: artifact {e.key} has {len(content)} bytes, the "
                                         f"manifest says {e.size}")
            out.append(Artifact(e.key, e.kind, content, e.encoding, e.quick))
        return tuple(out)

    # -- check history -----------------------------------------------------------------------

    def record_check(self, result: CheckResult) -> int:
        """Append one check result; returns its row id.  StoreError if it cannot be written."""
        return self.record_checks([result])[0]

    def record_checks(self, results: "list[CheckResult]") -> list[int]:
        """Append check results in one transaction (a sweep writes many at once:
        one commit, not one per device).  Returns their row ids."""
        ids = []
        devices = ", ".join(sorted({r.device for r in results}))
        with self._tx(f"recording checks of {devices}", write=True) as conn:
            for result in results:
                doc = json.dumps(result.to_dict(), sort_keys=True, separators=(",", ":"),
                                 ensure_ascii=False, default=_json_fallback)
                res = conn.execute(insert(tables.checks).values(
                    device=result.device, checked_at=format_time(result.checked_at),
                    mode=result.mode.value if result.mode else None, status=result.status.value,
                    fingerprint=result.fingerprint, baseline_id=result.baseline_id, result=doc))
                ids.append(int(res.inserted_primary_key[0]))
        return ids

    def checks(self, device: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        """Recorded checks, newest first: each CheckResult.to_dict() plus ``check_id``."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ConfigError(f"limit must be a positive integer, got {limit!r}", field="limit")
        t = tables.checks
        query = select(t.c.id, t.c.result).order_by(t.c.id.desc()).limit(limit)
        if device is not None:
            query = query.where(t.c.device == device)
        with self._tx("reading check history") as conn:
            rows = conn.execute(query).all()
        out = []
        for ident, text in rows:
            try:
                doc = json.loads(text)
            except ValueError as exc:
                raise StoreError(f"check #{ident} in {self.where} is not valid JSON") from exc
            doc["check_id"] = ident
            out.append(doc)
        return out

    def count_blobs(self) -> int:
        """Number of distinct stored contents (for status output and tests)."""
        with self._tx("counting contents") as conn:
            return int(conn.execute(select(func.count()).select_from(tables.blobs)).scalar_one())


def _why(exc: SQLAlchemyError) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig) if orig is not None else str(exc).splitlines()[0]


def _json_fallback(value: Any) -> Any:
    # Check history must never be lost to an odd value in a difference.
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


__all__ = ["Store", "HistoryEntry", "DEFAULT_FILENAME"]
