"""Unattended operation: device alert state, schedule due times, heartbeat, events.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "device_state",
        sa.Column("device", sa.String(200), primary_key=True),
        sa.Column("record", sa.Text, nullable=False),
        sa.Column("updated_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "schedule",
        sa.Column("job", sa.String(220), primary_key=True),
        sa.Column("next_due", sa.String(32), nullable=False),
        sa.Column("last_run", sa.String(32), nullable=True),
    )
    op.create_table(
        "heartbeat",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("info", sa.Text, nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("events")
    op.drop_table("heartbeat")
    op.drop_table("schedule")
    op.drop_table("device_state")
