"""Transactional alert outbox and compact check history.

Revision ID: 0005_outbox
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_outbox"
down_revision = "0004_zones"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per (alert, sink): stored pending in the transaction that
    # advanced the device's alert state, marked sent when that sink accepted it.
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("alert_id", sa.String(64), nullable=False),
        sa.Column("sink", sa.String(200), nullable=False),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("alert", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=True),
        sa.Column("sent_at", sa.String(32), nullable=True),
        sa.UniqueConstraint("alert_id", "sink", name="uq_outbox_alert_sink"),
    )
    op.create_index("ix_outbox_sent_at", "outbox", ["sent_at", "id"])
    # Who delivers the outbox now: one holder at a time, until ``until``.
    op.create_table(
        "outbox_lease",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("holder", sa.String(200), nullable=False),
        sa.Column("until", sa.String(32), nullable=False),
    )
    # Check history: a run of unchanged OK checks is one row, counted (checks.py).
    with op.batch_alter_table("checks") as batch:
        batch.add_column(sa.Column("repeats", sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("last_at", sa.String(32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("checks") as batch:
        batch.drop_column("last_at")
        batch.drop_column("repeats")
    op.drop_table("outbox_lease")
    op.drop_index("ix_outbox_sent_at", table_name="outbox")
    op.drop_table("outbox")
