"""workspaces of organizations, Slack identities of contacts, one-time link codes

Revision ID: 0007_workspaces_identities
Revises: 0006_slack_installations
Create Date: 2026-12-02 06:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_workspaces_identities"
down_revision: str | None = "0006_slack_installations"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Both decide who may act as whom: the read model serves them (see 0004 for the triggers).
REFERENCE_TABLES = ("workspaces", "slack_identities")
OPERATIONS = ("insert", "update", "delete")


def upgrade() -> None:
    op.create_table(
        "workspaces",
        sa.Column("team", sa.String(length=32), nullable=False),
        sa.Column("org", sa.String(length=64), nullable=False),
        sa.Column("linked_by", sa.String(length=254), nullable=True),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["org"], ["organizations.id"], name=op.f("fk_workspaces_org_organizations")
        ),
        sa.PrimaryKeyConstraint("team", name=op.f("pk_workspaces")),
    )
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_workspaces_org"), ["org"], unique=False)
    op.create_table(
        "slack_identities",
        sa.Column("team", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("enterprise", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("proof", sa.String(length=16), nullable=False),
        sa.Column("linked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["email"], ["contacts.email"], name=op.f("fk_slack_identities_email_contacts")
        ),
        sa.PrimaryKeyConstraint("team", "user", name=op.f("pk_slack_identities")),
    )
    with op.batch_alter_table("slack_identities", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_slack_identities_email"), ["email"], unique=False)
    op.create_table(
        "link_codes",
        sa.Column("team", sa.String(length=32), nullable=False),
        sa.Column("user", sa.String(length=32), nullable=False),
        sa.Column("enterprise", sa.String(length=32), nullable=True),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["email"], ["contacts.email"], name=op.f("fk_link_codes_email_contacts")
        ),
        sa.PrimaryKeyConstraint("team", "user", name=op.f("pk_link_codes")),
    )
    if op.get_bind().dialect.name == "postgresql":
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
    else:
        for table in REFERENCE_TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS read_model_{table}_{operation}")
    op.drop_table("link_codes")
    with op.batch_alter_table("slack_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_slack_identities_email"))
    op.drop_table("slack_identities")
    with op.batch_alter_table("workspaces", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_workspaces_org"))
    op.drop_table("workspaces")
