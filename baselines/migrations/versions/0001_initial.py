"""Initial schema: blobs, baselines, checks.

Revision ID: 0001
Revises:
Create Date: 2024-01-01

Written out in full rather than imported from baselines.tables: a migration
must keep creating exactly this schema even after tables.py moves on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "blobs",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("encoding", sa.String(16), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("content", sa.LargeBinary, nullable=False),
    )
    op.create_table(
        "baselines",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("keyid", sa.String(64), nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.UniqueConstraint("device", "sequence", name="uq_baselines_device_sequence"),
    )
    op.create_table(
        "checks",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("checked_at", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(16), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.Column("baseline_id", sa.String(64), nullable=True),
        sa.Column("result", sa.Text, nullable=False),
    )
    op.create_index("ix_checks_device_id", "checks", ["device", "id"])


def downgrade() -> None:
    op.drop_index("ix_checks_device_id", table_name="checks")
    op.drop_table("checks")
    op.drop_table("baselines")
    op.drop_table("blobs")
