"""pull statistics (FEATURE_IMAGE_PULL_STATS): pull counts and last pull per tag and per manifest

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 02:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_pull_stats",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("tag_name", sa.String(length=255), nullable=False),
        sa.Column("manifest_digest", sa.String(length=255), nullable=False),
        sa.Column("pull_count", sa.BigInteger(), nullable=False),
        sa.Column("last_pull_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repository.id"], name=op.f("fk_tag_pull_stats_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "tag_name", name=op.f("pk_tag_pull_stats")),
    )
    op.create_table(
        "manifest_pull_stats",
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("manifest_digest", sa.String(length=255), nullable=False),
        sa.Column("pull_count", sa.BigInteger(), nullable=False),
        sa.Column("last_pull_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["repository_id"], ["repository.id"], name=op.f("fk_manifest_pull_stats_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("repository_id", "manifest_digest", name=op.f("pk_manifest_pull_stats")),
    )


def downgrade() -> None:
    op.drop_table("manifest_pull_stats")
    op.drop_table("tag_pull_stats")
