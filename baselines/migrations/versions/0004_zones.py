"""Collectors per zone: their heartbeats, claims of due jobs, SQLite's zone leases.

Revision ID: 0004_zones
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_zones"
down_revision = "0003_approvals"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "collectors",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("zones", sa.Text, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
        sa.Column("info", sa.Text, nullable=False),
    )
    op.create_table(
        "claims",
        sa.Column("job", sa.String(220), primary_key=True),
        sa.Column("collector", sa.String(200), nullable=False),
        sa.Column("expires", sa.String(32), nullable=False),
    )
    op.create_table(
        "zone_leases",
        sa.Column("zone", sa.String(64), primary_key=True),
        sa.Column("collector", sa.String(200), nullable=False),
        sa.Column("expires", sa.String(32), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("zone_leases")
    op.drop_table("claims")
    op.drop_table("collectors")
