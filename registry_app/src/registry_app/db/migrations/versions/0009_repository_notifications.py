"""repository notifications: repository_notification, the notification_delivery queue and
notified_tag (image-expiry tags already announced)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08 01:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "repository_notification",
        sa.Column("id", ID, nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("repository_id", sa.Integer(), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("method", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("config_json", sa.Text(), nullable=False),
        sa.Column("event_config_json", sa.Text(), nullable=False),
        sa.Column("number_of_failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_ran_ms", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["repository_id"],
            ["repository.id"],
            name=op.f("fk_repository_notification_repository_id_repository"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_repository_notification")),
        sa.UniqueConstraint("uuid", name=op.f("uq_repository_notification_uuid")),
    )
    with op.batch_alter_table("repository_notification", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_repository_notification_repository_id"), ["repository_id"], unique=False
        )
    op.create_table(
        "notification_delivery",
        sa.Column("id", ID, nullable=False),
        sa.Column("notification_id", ID, nullable=False),
        sa.Column("event_id", sa.BigInteger(), nullable=True),
        sa.Column("payload_json", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_until_ms", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["repository_notification.id"],
            name=op.f("fk_notification_delivery_notification_id_repository_notification"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notification_delivery")),
    )
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notification_delivery_claimed_until_ms", ["claimed_until_ms", "id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_notification_delivery_notification_id"), ["notification_id"], unique=False
        )
    op.create_table(
        "notified_tag",
        sa.Column("notification_id", ID, nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["notification_id"],
            ["repository_notification.id"],
            name=op.f("fk_notified_tag_notification_id_repository_notification"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_notified_tag_tag_id_tag"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("notification_id", "tag_id", name=op.f("pk_notified_tag")),
    )
    with op.batch_alter_table("notified_tag", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notified_tag_tag_id"), ["tag_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("notified_tag", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notified_tag_tag_id"))
    op.drop_table("notified_tag")
    with op.batch_alter_table("notification_delivery", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notification_delivery_notification_id"))
        batch_op.drop_index("ix_notification_delivery_claimed_until_ms")
    op.drop_table("notification_delivery")
    with op.batch_alter_table("repository_notification", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_repository_notification_repository_id"))
    op.drop_table("repository_notification")
