"""namespace quotas: a storage quota per user or organization and its Warning/Reject limits
(Quay's userorganizationquota and quotalimits)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-08 01:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "namespace_quota",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("limit_bytes", sa.BigInteger(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["user.id"], name=op.f("fk_namespace_quota_namespace_id_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_namespace_quota")),
        sa.UniqueConstraint("namespace_id", name=op.f("uq_namespace_quota_namespace_id")),
    )
    op.create_table(
        "quota_limit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("quota_id", sa.Integer(), nullable=False),
        sa.Column("quota_type", sa.String(length=16), nullable=False),
        sa.Column("percent_of_limit", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["quota_id"], ["namespace_quota.id"], name=op.f("fk_quota_limit_quota_id_namespace_quota"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_quota_limit")),
        sa.UniqueConstraint("quota_id", "quota_type", "percent_of_limit", name="uq_quota_limit_quota_type_percent"),
    )
    with op.batch_alter_table("quota_limit", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_quota_limit_quota_id"), ["quota_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("quota_limit", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_quota_limit_quota_id"))
    op.drop_table("quota_limit")
    op.drop_table("namespace_quota")
