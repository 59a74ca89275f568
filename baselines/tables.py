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

# Check history: one row per device check, the full CheckResult.to_dict() as
# JSON; except that an OK check identical to the device's previous one (same
# mode, baseline and fingerprint) only extends that row's run: ``repeats``
# more checks, the latest at ``last_at`` (migration 0005_outbox; checks.py).
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
    Column("repeats", Integer, nullable=False, server_default="0"),
    Column("last_at", String(32), nullable=True),
    Index("ix_checks_device_id", "device", "id"),
)

# -- unattended operation (migration 0002) -------------------------------------------------
# These hold operational state, not evidence: nothing here is signed, and losing
# it costs at most one round of alerts or one early check, never a false OK.

# Per-device alert state (integrity.alerts.AlertRecord.to_dict() as JSON),
# including any open maintenance window.
device_state = Table(
    "device_state", metadata,
    Column("device", String(200), primary_key=True),
    Column("record", Text, nullable=False),
    Column("updated_at", String(32), nullable=False),
)

# The daemon's due times, one row per job ("<device>/<mode>").
schedule = Table(
    "schedule", metadata,
    Column("job", String(220), primary_key=True),
    Column("next_due", String(32), nullable=False),
    Column("last_run", String(32), nullable=True),
)

# Liveness of long-running processes: a stale beat means a stalled scheduler.
heartbeat = Table(
    "heartbeat", metadata,
    Column("name", String(64), primary_key=True),
    Column("at", String(32), nullable=False),
    Column("info", Text, nullable=False),
)

# What the daemon did that is not a check: starts, stops, abandoned work.
events = Table(
    "events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", String(32), nullable=False),
    Column("kind", String(64), nullable=False),
    Column("detail", Text, nullable=False),
)

# -- approvals (migration 0003_approvals) ---------------------------------------------------
# A proposal is a signed manifest waiting for approvals under the site policy;
# it becomes a ``baselines`` row only when enough valid approvals are in.
# ``state``: pending, approved, rejected or superseded (closing is not evidence:
# reopening a proposal gains nothing, it still needs its approvals).
proposals = Table(
    "proposals", metadata,
    Column("id", String(64), primary_key=True),
    Column("device", String(200), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("keyid", String(64), nullable=False),
    Column("manifest", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("state", String(16), nullable=False),
    Column("closed_at", String(32), nullable=True),
    Column("closed_reason", Text, nullable=True),
    Index("ix_proposals_device_state", "device", "state"),
)

# One signed approval statement per key and target (a proposal's or a
# baseline's id: the SHA-256 of the manifest bytes); verified on every read.
approvals = Table(
    "approvals", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(64), nullable=False),
    Column("keyid", String(64), nullable=False),
    Column("statement", LargeBinary, nullable=False),
    Column("signature", LargeBinary, nullable=False),
    Column("created_at", String(32), nullable=False),
    Index("ix_approvals_target", "target"),
)

# -- collectors per zone (migration 0004_zones) --------------------------------------------
# Operational state too: a lost claim or lease costs at most one repeated check.

# One row per collector process (``host:pid`` or ``--collector-id``): its own heartbeat.
collectors = Table(
    "collectors", metadata,
    Column("id", String(200), primary_key=True),
    Column("zones", Text, nullable=False),  # JSON list of the zones it serves
    Column("at", String(32), nullable=False),
    Column("info", Text, nullable=False),
)

# A due job being checked: by whom, and until when the claim holds unless renewed.
claims = Table(
    "claims", metadata,
    Column("job", String(220), primary_key=True),
    Column("collector", String(200), nullable=False),
    Column("expires", String(32), nullable=False),
)

# SQLite has no row locks: there one collector per zone runs, holding this lease.
zone_leases = Table(
    "zone_leases", metadata,
    Column("zone", String(64), primary_key=True),
    Column("collector", String(200), nullable=False),
    Column("expires", String(32), nullable=False),
)

# -- the alert outbox (migration 0005_outbox) ---------------------------------------------
# One row per (alert, sink), written pending in the same transaction as the
# alert state that raised it; ``sent_at`` is set only once the sink accepted
# it.  ``alert_id`` is Alert.id, the id sinks de-duplicate on.
outbox = Table(
    "outbox", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("alert_id", String(64), nullable=False),
    Column("sink", String(200), nullable=False),
    Column("device", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("alert", Text, nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("last_error", Text, nullable=True),
    Column("sent_at", String(32), nullable=True),
    UniqueConstraint("alert_id", "sink", name="uq_outbox_alert_sink"),
    Index("ix_outbox_sent_at", "sent_at", "id"),
)

# Which process delivers the outbox: one holder at a time until ``until``.
outbox_lease = Table(
    "outbox_lease", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(200), nullable=False),
    Column("until", String(32), nullable=False),
)
