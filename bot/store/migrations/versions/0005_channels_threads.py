"""channels shared between organizations, ticket threads and their messages

Revision ID: 0005_channels_threads
Revises: 0004_read_model_version
Create Date: 2026-12-01 23:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_channels_threads"
down_revision: str | None = "0004_read_model_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "channels",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("partner", sa.String(length=64), nullable=True),
        sa.Column("linked_by", sa.String(length=254), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org"], ["organizations.id"], name=op.f("fk_channels_org_organizations")
        ),
        sa.ForeignKeyConstraint(
            ["partner"], ["organizations.id"], name=op.f("fk_channels_partner_organizations")
        ),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_channels")),
    )
    with op.batch_alter_table("channels", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channels_org"), ["org"], unique=False)
    op.create_table(
        "ticket_threads",
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=True),
        sa.Column("card_ts", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_ticket_threads_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("ticket_id", "side", name=op.f("pk_ticket_threads")),
    )
    with op.batch_alter_table("ticket_threads", schema=None) as batch_op:
        batch_op.create_index("ix_ticket_threads_channel_ts", ["channel", "ts"], unique=True)
    op.create_table(
        "thread_messages",
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("ts", sa.String(length=32), nullable=False),
        sa.Column("ticket_id", Id, nullable=False),
        sa.Column("side", sa.String(length=16), nullable=False),
        sa.Column("author", sa.String(length=254), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_thread_messages_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("channel", "ts", name=op.f("pk_thread_messages")),
    )
    with op.batch_alter_table("thread_messages", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_thread_messages_ticket_id"), ["ticket_id"], unique=False
        )


def downgrade() -> None:
    op.drop_table("thread_messages")
    op.drop_table("ticket_threads")
    op.drop_table("channels")
