"""upload storage state: what a storage driver remembers about an upload between requests

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-20 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A nullable column: adding it rewrites nothing, and None is the filesystem driver's state.
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.add_column(sa.Column("storage_state", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("upload", schema=None) as batch_op:
        batch_op.drop_column("storage_state")
