"""failed_login: counted per username and client address (address '' is the account-wide count)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 22:00:00.000000

The table only holds counts of the last minute or so: it is recreated rather than altered (SQLite
cannot change a primary key in place), and what it held is dropped.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_table("failed_login")
    op.create_table(
        "failed_login",
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("address", sa.String(length=64), server_default="", nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("username", "address", name=op.f("pk_failed_login")),
    )


def downgrade() -> None:
    op.drop_table("failed_login")
    op.create_table(
        "failed_login",
        sa.Column("username", sa.String(length=255), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("first_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_failed_login")),
    )
