"""The database schema, as SQLAlchemy Core tables the store queries.

The schema itself is created and changed only by the Alembic migrations in
``migrations/versions`` (a test checks the two agree).  Adding a table later
(device state, schedule due times, a heartbeat) means: add it here and add one
migration.

Times are stored as fixed-format UTC text (see ``manifest.format_time``) so that
every backend keeps them exactly and they sort as text.
"""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table, Text, UniqueConstraint

metadata = MetaData()

# Write-once, content-addressed artifact contents: digest = sha256(content).
# ``encoding`` is as first stored; the signed manifest's entry is authoritative.
blobs = Table(
    "blobs", metadata,
    Column("digest", String(64), primary_key=True),
    Column("encoding", String(16), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),
)

# One row per signed manifest, kept as the exact signed bytes.  The other
# columns are an index for queries; every read checks them against the manifest.
baselines = Table(
    "baselines", metadata,
    Column("id", String(64), primary_key=True),
    Column("device", String(200), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("keyid", String(64), nullable=False),
    Column("manifest", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    UniqueConstraint("device", "sequence", name="uq_baselines_device_sequence"),
)

# Check history: one row per device check, the full CheckResult.to_dict() as JSON.
checks = Table(
    "checks", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("device", String(200), nullable=False),
    Column("checked_at", String(32), nullable=False),
    Column("mode", String(16), nullable=True),
    Column("status", String(32), nullable=False),
    Column("fingerprint", String(64), nullable=True),
    Column("baseline_id", String(64), nullable=True),
    Column("result", Text, nullable=False),
    Index("ix_checks_device_id", "device", "id"),
)
