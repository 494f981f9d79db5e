"""secscan cleanup queue: digests whose Clair index report the clair-cleanup worker deletes

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-21 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "secscan_cleanup",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("digest", sa.String(length=140), nullable=False),
        sa.Column("queued_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secscan_cleanup")),
    )
    with op.batch_alter_table("secscan_cleanup", schema=None) as batch_op:
        batch_op.create_index("ix_secscan_cleanup_claimed_until_ms", ["claimed_until_ms", "id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("secscan_cleanup", schema=None) as batch_op:
        batch_op.drop_index("ix_secscan_cleanup_claimed_until_ms")
    op.drop_table("secscan_cleanup")
