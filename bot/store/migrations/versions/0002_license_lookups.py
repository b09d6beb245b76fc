"""license look-ups: folded product names, key counts by type

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 15:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from bot.text import fold

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

licenses = sa.table(
    "licenses",
    sa.column("id", sa.Integer),
    sa.column("product", sa.String),
    sa.column("product_folded", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("product_folded", sa.String(length=600), server_default="", nullable=False)
        )
        batch_op.create_index("ix_licenses_ea_type", ["ea", "type"], unique=False)
    # Fill the folded names of existing keys, one product name at a time.
    conn = op.get_bind()
    for (product,) in conn.execute(sa.select(licenses.c.product).distinct()).all():
        conn.execute(
            licenses.update().where(licenses.c.product == product).values(product_folded=fold(product))
        )


def downgrade() -> None:
    with op.batch_alter_table("licenses", schema=None) as batch_op:
        batch_op.drop_index("ix_licenses_ea_type")
        batch_op.drop_column("product_folded")
