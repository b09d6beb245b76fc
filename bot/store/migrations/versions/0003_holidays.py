"""holidays: the public holidays and closed dates of each organization's calendar

Revision ID: 0003_holidays
Revises: 0002
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_holidays"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("holiday_country", sa.String(length=8), nullable=True))
        batch_op.add_column(sa.Column("holiday_subdivision", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("closed_dates", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("organizations", schema=None) as batch_op:
        batch_op.drop_column("closed_dates")
        batch_op.drop_column("holiday_subdivision")
        batch_op.drop_column("holiday_country")
