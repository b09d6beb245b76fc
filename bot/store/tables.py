"""SQLAlchemy Core tables of the whole domain.

The schema itself is created and upgraded by the Alembic migrations beside this file;
these definitions are what queries are written against (and what autogenerate compares).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.types import TypeDecorator

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# SQLite has no 64-bit autoincrement BIGINT; INTEGER PRIMARY KEY is its rowid.
Id = BigInteger().with_variant(Integer(), "sqlite")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use aware UTC datetimes")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value.astimezone(dt.UTC)


organizations = Table(
    "organizations",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),  # customer | partner | vendor
    Column("name", String(200), nullable=False),
    Column("name_folded", String(200), nullable=False, index=True),  # accent/case-folded
    Column("partner_type", String(16)),
    Column("locale", String(8), nullable=False, default="en"),
    Column("timezone", String(64), nullable=False, default="UTC"),
    Column("business_hours", String(64), nullable=False, default="mon-fri 09:00-18:00"),
    Column("queue_channel", String(32)),
    # Days the calendar is closed: a country's public holidays (ISO code, optional
    # subdivision) and explicit dates (a JSON list of YYYY-MM-DD).
    Column("holiday_country", String(8)),
    Column("holiday_subdivision", String(16)),
    Column("closed_dates", JSON),
)

# Vendor-only settings; a vendor is also a row of organizations (kind=vendor).
vendors = Table(
    "vendors",
    metadata,
    Column("id", String(64), ForeignKey("organizations.id"), primary_key=True),
    Column("business_queue_channel", String(32)),
    Column("severity_labels", JSON, nullable=False),
)

contacts = Table(
    "contacts",
    metadata,
    Column("email", String(254), primary_key=True),  # stored lower-case
    Column("org", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("roles", JSON, nullable=False),
    Column("locale", String(8)),
    Column("slack_user_id", String(32), unique=True),
)

accounts = Table(
    "accounts",
    metadata,
    Column("ea", String(9), primary_key=True),
    Column("vendor", String(64), ForeignKey("vendors.id"), nullable=False, index=True),
    Column("customer", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("superuser", String(254), ForeignKey("contacts.email")),
    Column("merged_into", String(9), ForeignKey("accounts.ea")),
)

grants = Table(
    "grants",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False),
    Column("partner", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("permissions", JSON, nullable=False),
    Column("until", Date),
    Column("granted_by", String(254)),
    Column("granted_at", UTCDateTime),
    UniqueConstraint("ea", "partner"),
)

folders = Table(
    "folders",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False),
    Column("name", String(200), nullable=False),
    UniqueConstraint("ea", "name"),
)

licenses = Table(
    "licenses",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("key", String(64), nullable=False, unique=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False),
    Column("product", String(200), nullable=False),
    # accent- and case-folded product name: SQLite's lower() only knows ASCII
    Column("product_folded", String(600), nullable=False, server_default=""),
    Column("quantity", Integer, nullable=False),
    Column("unit", String(32), nullable=False),
    Column("type", String(16), nullable=False),
    Column("folder", String(200), nullable=False, default="Home"),
    Column("order_no", String(64)),
    Column("sold_by", String(64), ForeignKey("organizations.id")),
    Column("expires", Date),
    # Look-ups page through one EA's keys in display order: this index serves them
    # without a sort, whatever the table's size.
    Index("ix_licenses_ea_folder_product", "ea", "folder", "product", "id"),
    # key counts by type on the EA card read this index alone
    Index("ix_licenses_ea_type", "ea", "type"),
    Index("ix_licenses_expires", "expires"),
)

contracts = Table(
    "contracts",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False, index=True),
    Column("level", String(32), nullable=False),
    Column("starts", Date, nullable=False),
    Column("ends", Date, nullable=False, index=True),
    Column("products", JSON, nullable=False),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False, index=True),
    Column("service", String(200), nullable=False),
    Column("seller", String(64), ForeignKey("organizations.id"), nullable=False),
    Column("quantity", Integer, nullable=False),
    Column("ends", Date, index=True),
    Column("contract_code", String(64)),
)

agreements = Table(
    "agreements",
    metadata,
    Column("number", String(64), primary_key=True),
    Column("authorization", String(64), nullable=False, index=True),
    Column("vendor", String(64), ForeignKey("vendors.id"), nullable=False),
    Column("customer", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("customer_email", String(254), nullable=False),
)

agreement_benefits = Table(
    "agreement_benefits",
    metadata,
    Column("agreement", String(64), ForeignKey("agreements.number"), primary_key=True),
    Column("benefit", String(64), primary_key=True),
)

agreement_benefit_admins = Table(
    "agreement_benefit_admins",
    metadata,
    Column("agreement", String(64), ForeignKey("agreements.number"), primary_key=True),
    Column("email", String(254), ForeignKey("contacts.email"), primary_key=True),
)

# Partners registered to manage an agreement (a customer may remove them).
agreement_partners = Table(
    "agreement_partners",
    metadata,
    Column("agreement", String(64), ForeignKey("agreements.number"), primary_key=True),
    Column("partner", String(64), ForeignKey("organizations.id"), primary_key=True),
    Column("requested_by", String(254)),
    Column("requested_at", UTCDateTime),
)

sla_targets = Table(
    "sla_targets",
    metadata,
    Column("vendor", String(64), ForeignKey("vendors.id"), primary_key=True),
    Column("level", String(32), primary_key=True),
    Column("severity", Integer, primary_key=True),
    Column("minutes", Integer, nullable=False),
)

tickets = Table(
    "tickets",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    # Slack's trigger id or view id of the request that opened it: a retry or a double
    # submission finds the ticket already there instead of opening a second one.
    Column("request_key", String(128), unique=True),
    Column("ea", String(9), ForeignKey("accounts.ea"), nullable=False, index=True),
    Column("customer", String(64), ForeignKey("organizations.id"), nullable=False),
    Column("partner", String(64), ForeignKey("organizations.id"), index=True),
    Column("vendor", String(64), ForeignKey("vendors.id"), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("queue", String(16), nullable=False),
    Column("severity", Integer, nullable=False),
    Column("status", String(32), nullable=False),
    Column("subject", Text, nullable=False),
    Column("product", String(200)),
    Column("description", Text),
    Column("opened_by", String(254), nullable=False),
    Column("assignee", String(254)),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("resolved_at", UTCDateTime),
    Column("escalated_at", UTCDateTime),
    Column("vendor_case", String(64)),
    Column("queue_message_channel", String(32)),
    Column("queue_message_ts", String(32)),
    Index("ix_tickets_tier_status", "tier", "status"),
)

ticket_clocks = Table(
    "ticket_clocks",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("tier", String(16), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("target_minutes", Integer, nullable=False),
    Column("around_the_clock", Boolean, nullable=False),
    Column("due_at", UTCDateTime),  # None while paused
    Column("warn_at", UTCDateTime),  # the 75 % mark
    Column("responded_at", UTCDateTime),
    Column("pauses", JSON, nullable=False),  # [[start, end|null], …] ISO strings
    # The reminder scanner's look-ups: open clocks by their next mark.
    Index("ix_ticket_clocks_open_warn", "responded_at", "warn_at"),
    Index("ix_ticket_clocks_open_due", "responded_at", "due_at"),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(254)),
    Column("kind", String(32), nullable=False),
    Column("data", JSON, nullable=False),
)

audit_entries = Table(
    "audit_entries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("actor", String(254)),
    Column("action", String(64), nullable=False),
    Column("ea", String(9), index=True),
    Column("ticket_id", Id, index=True),
    Column("detail", JSON, nullable=False),
)

# Notifications and reminders: written in the transaction of the change they report,
# delivered later by the outbox worker (bot/outbox.py) with retries.
outbox = Table(
    "outbox",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("dedupe_key", String(200), unique=True),  # a reminder is owed once, ever
    Column("kind", String(32), nullable=False),
    Column("method", String(64), nullable=False),  # Web API method, e.g. chat.postMessage
    Column("payload", JSON, nullable=False),
    Column("ticket_id", Id),
    Column("created_at", UTCDateTime, nullable=False),
    Column("next_attempt_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("status", String(16), nullable=False, default="pending"),  # pending|sent|dead|dropped
    Column("claimed_by", String(64)),
    Column("claimed_until", UTCDateTime),
    Column("sent_at", UTCDateTime),
    Column("last_error", Text),
    Column("result", JSON),
    Index("ix_outbox_status_next", "status", "next_attempt_at"),
)

# Requests that wait for someone's explicit confirmation (R10 superuser transfer).
confirmations = Table(
    "confirmations",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("ea", String(9), ForeignKey("accounts.ea")),
    Column("requested_by", String(254), nullable=False),
    Column("approver", String(254), nullable=False),
    Column("subject", String(254), nullable=False),  # e.g. the proposed superuser's email
    Column("created_at", UTCDateTime, nullable=False),
    Column("status", String(16), nullable=False, default="pending"),
    Column("decided_by", String(254)),
    Column("decided_at", UTCDateTime),
)

# Slack channels shared between organizations (Slack Connect): a customer's channel with
# its partner, or a partner's escalation channel with a vendor.
channels = Table(
    "channels",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("org", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("role", String(16), nullable=False),  # customer | escalation
    Column("partner", String(64), ForeignKey("organizations.id")),
    Column("linked_by", String(254)),
    Column("linked_at", UTCDateTime),
)

# One thread per side of a ticket (customer, partner, vendor): messages in it are
# relayed to the other sides by the rules of bot/conversations.py.
ticket_threads = Table(
    "ticket_threads",
    metadata,
    Column("ticket_id", Id, ForeignKey("tickets.id"), primary_key=True),
    Column("side", String(16), primary_key=True),
    Column("channel", String(32), nullable=False),
    Column("ts", String(32)),  # the thread's parent message; None until it is posted
    Column("card_ts", String(32)),  # the bot's ticket card in the thread, updated in place
    Index("ix_ticket_threads_channel_ts", "channel", "ts", unique=True),
)

# Every message seen in a ticket's thread, once: Slack may deliver an event twice, and
# a vendor's answer is relayed to the customer later, with one click.
thread_messages = Table(
    "thread_messages",
    metadata,
    Column("channel", String(32), primary_key=True),
    Column("ts", String(32), primary_key=True),
    Column("ticket_id", Id, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("side", String(16), nullable=False),
    Column("author", String(254)),
    Column("text", Text, nullable=False),
    Column("at", UTCDateTime, nullable=False),
)

# Slack workspaces (``T…``) and Enterprise Grid organizations (``E…``) that belong to an
# organization: a person of that workspace may be matched to its contacts by email.
workspaces = Table(
    "workspaces",
    metadata,
    Column("team", String(32), primary_key=True),
    Column("org", String(64), ForeignKey("organizations.id"), nullable=False, index=True),
    Column("linked_by", String(254)),
    Column("linked_at", UTCDateTime),
)

# Slack people known as contacts: (team, user) as Slack names them, how the bot knows.
slack_identities = Table(
    "slack_identities",
    metadata,
    Column("team", String(32), primary_key=True),
    Column("user", String(32), primary_key=True),
    Column("enterprise", String(32)),
    Column("email", String(254), ForeignKey("contacts.email"), nullable=False, index=True),
    Column("proof", String(16), nullable=False),  # dataset | email | code | admin
    Column("linked_at", UTCDateTime),
)

# One-time codes of ``/supportbot link <email>``: only a digest is kept.
link_codes = Table(
    "link_codes",
    metadata,
    Column("team", String(32), primary_key=True),
    Column("user", String(32), primary_key=True),
    Column("enterprise", String(32)),
    Column("email", String(254), ForeignKey("contacts.email"), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
)


# Bookkeeping of the store itself, kept apart from the domain's ``metadata`` (what
# imports, exports and table-by-table operations go through). One row: the version of
# the reference data the read model serves (bot/store/readmodel.py); database triggers
# bump it in every transaction that changes a reference table.
bookkeeping = MetaData(naming_convention=metadata.naming_convention)
read_model_version = Table(
    "read_model_version",
    bookkeeping,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
)


# Slack's installations (bot tokens per team or enterprise) and OAuth states, in OAuth
# mode: slack_sdk's SQLAlchemy stores define and use them (bot/store/installations.py);
# the migrations create them. Not domain data: no export, import or read model.
SLACK_TABLES = frozenset({"slack_installations", "slack_bots", "slack_oauth_states"})


def in_domain_schema(name: str | None, type_: str, _parent_names: Any) -> bool:
    """Alembic ``include_name`` hook: compare the domain tables only (the bookkeeping
    tables and Slack's installation tables are the migrations' own business)."""
    return not (type_ == "table" and (name in bookkeeping.tables or name in SLACK_TABLES))
