"""read model version: one row bumped by every change to the reference data

Revision ID: 0004_read_model_version
Revises: 0003_holidays
Create Date: 2026-12-01 23:45:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_read_model_version"
down_revision: str | None = "0003_holidays"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The tables the per-process read model serves (bot/store/readmodel.py, REFERENCE_TABLES,
# as of this revision: a later table gets its triggers in its own migration).
REFERENCE_TABLES = (
    "organizations",
    "vendors",
    "contacts",
    "accounts",
    "grants",
    "folders",
    "licenses",
    "contracts",
    "subscriptions",
    "agreements",
    "agreement_benefits",
    "agreement_benefit_admins",
    "agreement_partners",
    "sla_targets",
)
OPERATIONS = ("insert", "update", "delete")

PG_BUMP = """
CREATE FUNCTION supportbot_read_model_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    new_version integer;
BEGIN
    UPDATE read_model_version SET version = version + 1 WHERE id = 1
        RETURNING version INTO new_version;
    PERFORM pg_notify('supportbot_read_model', new_version::text);
    RETURN NULL;
END
$$
"""


def upgrade() -> None:
    op.create_table(
        "read_model_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_read_model_version")),
    )
    op.execute("INSERT INTO read_model_version (id, version) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_BUMP)
        for table in REFERENCE_TABLES:
            op.execute(
                f"CREATE TRIGGER read_model_{table} AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION supportbot_read_model_changed()"
            )
        return
    for table in REFERENCE_TABLES:
        for operation in OPERATIONS:
            op.execute(
                f"CREATE TRIGGER read_model_{table}_{operation} AFTER {operation.upper()} "
                f"ON {table} BEGIN "
                "UPDATE read_model_version SET version = version + 1 WHERE id = 1; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in REFERENCE_TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS read_model_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS supportbot_read_model_changed()")
    else:
        for table in REFERENCE_TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS read_model_{table}_{operation}")
    op.drop_table("read_model_version")
