"""Organizations, vendors and contacts."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import insert, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Contact, Organization, OrgKind, PartnerType, Role, Vendor
from bot.sla import NO_HOLIDAYS, Holidays
from bot.store import tables as t
from bot.store.readmodel import reference_read
from bot.text import fold, normalize_email


def _org(row: RowMapping) -> Organization:
    return Organization(
        id=row["id"],
        kind=OrgKind(row["kind"]),
        name=row["name"],
        partner_type=PartnerType(row["partner_type"]) if row["partner_type"] else None,
        locale=row["locale"],
        timezone=row["timezone"],
        business_hours=row["business_hours"],
        queue_channel=row["queue_channel"],
        holidays=_holidays(row),
    )


def _holidays(row: RowMapping) -> Holidays:
    closed = row["closed_dates"] or []
    if row["holiday_country"] is None and not closed:
        return NO_HOLIDAYS
    return Holidays(
        country=row["holiday_country"],
        subdivision=row["holiday_subdivision"],
        closed=frozenset(dt.date.fromisoformat(day) for day in closed),
    )


def _vendor(row: RowMapping) -> Vendor:
    return Vendor(
        id=row["id"],
        name=row["name"],
        queue_channel=row["queue_channel"],
        business_queue_channel=row["business_queue_channel"],
        severity_labels={int(k): str(v) for k, v in row["severity_labels"].items()},
        timezone=row["timezone"],
        business_hours=row["business_hours"],
        holidays=_holidays(row),
    )


def _contact(row: RowMapping) -> Contact:
    return Contact(
        email=row["email"],
        org=row["org"],
        org_kind=OrgKind(row["kind"]),
        name=row["name"],
        roles=frozenset(Role(r) for r in row["roles"]),
        locale=row["locale"],
        slack_user_id=row["slack_user_id"],
    )


_CONTACT_COLUMNS = (*t.contacts.c, t.organizations.c.kind)
_VENDOR_QUERY = select(
    t.organizations, t.vendors.c.business_queue_channel, t.vendors.c.severity_labels
).join(t.vendors, t.vendors.c.id == t.organizations.c.id)


async def insert_organization(conn: AsyncConnection, /, *, org: Organization) -> None:
    await conn.execute(
        insert(t.organizations).values(
            id=org.id,
            kind=org.kind.value,
            name=org.name,
            # Folding can lengthen a name ("½" → "1⁄2"); the column holds 200 characters.
            name_folded=fold(org.name)[:200],
            partner_type=org.partner_type.value if org.partner_type else None,
            locale=org.locale,
            timezone=org.timezone,
            business_hours=org.business_hours,
            queue_channel=org.queue_channel,
            holiday_country=org.holidays.country,
            holiday_subdivision=org.holidays.subdivision,
            closed_dates=sorted(day.isoformat() for day in org.holidays.closed) or None,
        )
    )


async def insert_vendor(conn: AsyncConnection, /, *, vendor: Vendor, locale: str = "en") -> None:
    await insert_organization(
        conn,
        org=Organization(
            id=vendor.id,
            kind=OrgKind.VENDOR,
            name=vendor.name,
            partner_type=None,
            locale=locale,
            timezone=vendor.timezone,
            business_hours=vendor.business_hours,
            queue_channel=vendor.queue_channel,
            holidays=vendor.holidays,
        ),
    )
    await conn.execute(
        insert(t.vendors).values(
            id=vendor.id,
            business_queue_channel=vendor.business_queue_channel,
            severity_labels={str(k): v for k, v in vendor.severity_labels.items()},
        )
    )


async def insert_contact(conn: AsyncConnection, /, *, contact: Contact) -> None:
    await conn.execute(
        insert(t.contacts).values(
            email=normalize_email(contact.email),
            org=contact.org,
            name=contact.name,
            roles=sorted(r.value for r in contact.roles),
            locale=contact.locale,
            slack_user_id=contact.slack_user_id,
        )
    )


@reference_read
async def get_organization(conn: AsyncConnection, /, *, id: str) -> Organization | None:
    row = (
        (await conn.execute(select(t.organizations).where(t.organizations.c.id == id)))
        .mappings()
        .first()
    )
    return _org(row) if row else None


@reference_read
async def get_organizations(
    conn: AsyncConnection, /, *, ids: Iterable[str]
) -> dict[str, Organization]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (
        await conn.execute(select(t.organizations).where(t.organizations.c.id.in_(wanted)))
    ).mappings()
    return {row["id"]: _org(row) for row in rows}


@reference_read
async def list_organizations(
    conn: AsyncConnection, /, *, kind: OrgKind | None = None
) -> list[Organization]:
    query = select(t.organizations).order_by(t.organizations.c.id)
    if kind is not None:
        query = query.where(t.organizations.c.kind == kind.value)
    return [_org(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def find_organizations_by_name(
    conn: AsyncConnection, /, *, text: str, kind: OrgKind, limit: int = 20
) -> list[Organization]:
    """Organizations whose accent- and case-folded name contains ``text`` folded."""
    pattern = "%" + fold(text).replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    query = (
        select(t.organizations)
        .where(t.organizations.c.kind == kind.value)
        .where(t.organizations.c.name_folded.like(pattern, escape="\\"))
        .order_by(t.organizations.c.name, t.organizations.c.id)
        .limit(limit)
    )
    return [_org(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def get_vendor(conn: AsyncConnection, /, *, id: str) -> Vendor | None:
    row = (await conn.execute(_VENDOR_QUERY.where(t.organizations.c.id == id))).mappings().first()
    return _vendor(row) if row else None


@reference_read
async def list_vendors(conn: AsyncConnection, /) -> list[Vendor]:
    rows = (await conn.execute(_VENDOR_QUERY.order_by(t.organizations.c.id))).mappings()
    return [_vendor(row) for row in rows]


@reference_read
async def get_contact(conn: AsyncConnection, /, *, email: str) -> Contact | None:
    query = (
        select(*_CONTACT_COLUMNS)
        .join(t.organizations, t.organizations.c.id == t.contacts.c.org)
        .where(t.contacts.c.email == normalize_email(email))
    )
    row = (await conn.execute(query)).mappings().first()
    return _contact(row) if row else None


@reference_read
async def get_contacts(conn: AsyncConnection, /, *, emails: Iterable[str]) -> dict[str, Contact]:
    wanted = sorted({normalize_email(e) for e in emails})
    if not wanted:
        return {}
    query = (
        select(*_CONTACT_COLUMNS)
        .join(t.organizations, t.organizations.c.id == t.contacts.c.org)
        .where(t.contacts.c.email.in_(wanted))
    )
    return {row["email"]: _contact(row) for row in (await conn.execute(query)).mappings()}


@reference_read
async def get_contact_by_slack_id(conn: AsyncConnection, /, *, user_id: str) -> Contact | None:
    query = (
        select(*_CONTACT_COLUMNS)
        .join(t.organizations, t.organizations.c.id == t.contacts.c.org)
        .where(t.contacts.c.slack_user_id == user_id)
    )
    row = (await conn.execute(query)).mappings().first()
    return _contact(row) if row else None


@reference_read
async def list_contacts(
    conn: AsyncConnection, /, *, org: str | None = None, role: Role | None = None
) -> list[Contact]:
    query = select(*_CONTACT_COLUMNS).join(
        t.organizations, t.organizations.c.id == t.contacts.c.org
    )
    if org is not None:
        query = query.where(t.contacts.c.org == org)
    rows = (await conn.execute(query.order_by(t.contacts.c.name, t.contacts.c.email))).mappings()
    found = [_contact(row) for row in rows]
    return [c for c in found if role is None or role in c.roles]


async def link_slack_user(conn: AsyncConnection, /, *, email: str, user_id: str) -> bool:
    """Remember which Slack user a contact is, so later look-ups need no Web API call.
    False (and nothing changed) when no contact has this email."""
    email = normalize_email(email)
    exists = await conn.execute(select(t.contacts.c.email).where(t.contacts.c.email == email))
    if exists.first() is None:
        return False
    # One Slack user maps to one contact: release the id from any other contact first.
    await conn.execute(
        update(t.contacts)
        .where(t.contacts.c.slack_user_id == user_id)
        .where(t.contacts.c.email != email)
        .values(slack_user_id=None)
    )
    await conn.execute(
        update(t.contacts).where(t.contacts.c.email == email).values(slack_user_id=user_id)
    )
    return True


async def set_contact_locale(conn: AsyncConnection, /, *, email: str, locale: str) -> None:
    await conn.execute(
        update(t.contacts).where(t.contacts.c.email == normalize_email(email)).values(locale=locale)
    )
