"""tag policies: auto-prune and immutability policies of namespaces and repositories, and the
tag's ``immutable`` flag (Quay 3.13's auto-prune, Quay 3.17's immutable tags)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 01:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.add_column(sa.Column("immutable", sa.Boolean(), server_default=sa.text("false"), nullable=False))
    op.create_table(
        "tag_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("namespace_id", sa.Integer(), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=True),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["namespace_id"], ["user.id"], name=op.f("fk_tag_policy_namespace_id_user"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_tag_policy_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag_policy")),
        sa.UniqueConstraint("uuid", name=op.f("uq_tag_policy_uuid")),
    )
    with op.batch_alter_table("tag_policy", schema=None) as batch_op:
        batch_op.create_index("ix_tag_policy_owner", ["kind", "namespace_id", "repository_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_tag_policy_repository_id"), ["repository_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tag_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tag_policy_repository_id"))
        batch_op.drop_index("ix_tag_policy_owner")
    op.drop_table("tag_policy")
    with op.batch_alter_table("tag", schema=None) as batch_op:
        batch_op.drop_column("immutable")
