"""Approvals: proposals waiting for their threshold, and signed approval statements.

Existing baselines are untouched (no rows are rewritten), so every history
stays valid; a site without a policy never writes to these tables.

Revision ID: 0003_approvals
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_approvals"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "proposals",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("device", sa.String(200), nullable=False),
        sa.Column("sequence", sa.Integer, nullable=False),
        sa.Column("keyid", sa.String(64), nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("closed_at", sa.String(32), nullable=True),
        sa.Column("closed_reason", sa.Text, nullable=True),
    )
    op.create_index("ix_proposals_device_state", "proposals", ["device", "state"])
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("keyid", sa.String(64), nullable=False),
        sa.Column("statement", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
    )
    op.create_index("ix_approvals_target", "approvals", ["target"])


def downgrade() -> None:
    op.drop_index("ix_approvals_target", "approvals")
    op.drop_table("approvals")
    op.drop_index("ix_proposals_device_state", "proposals")
    op.drop_table("proposals")
