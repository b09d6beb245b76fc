"""Builders and look-ups shared by the ticket tests (routing, use cases, outbox)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from bot.domain import (
    Account,
    Contact,
    Contract,
    Grant,
    License,
    LicenseType,
    Organization,
    OrgKind,
    PartnerType,
    Permission,
    Queue,
    Role,
    Status,
    Ticket,
    TicketEvent,
    Tier,
    Vendor,
)
from bot.store import Store
from bot.store import audit as audit_db
from bot.store import outbox as outbox_db
from bot.store import tickets as tickets_db
from bot.visibility import Actor, load_actor

TODAY = dt.date(2026, 11, 23)
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)

# --- pure domain objects ------------------------------------------------------------------

VENDOR = Vendor(
    id="vmw",
    name="VMware",
    queue_channel="C0VMWGSS",
    business_queue_channel="C0VMWBIZ",
    severity_labels={1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"},
    timezone="Europe/Dublin",
    business_hours="mon-fri 08:00-20:00",
)


def org(
    id: str, kind: OrgKind = OrgKind.PARTNER, partner_type: PartnerType | None = None
) -> Organization:
    if kind is OrgKind.PARTNER and partner_type is None:
        partner_type = PartnerType.RESELLER
    return Organization(
        id=id,
        kind=kind,
        name=id.capitalize() + " Ltd",
        partner_type=partner_type,
        locale="en",
        timezone="Europe/Paris",
        business_hours="mon-fri 09:00-18:00",
        queue_channel=f"C0{id.upper()}Q" if kind is not OrgKind.CUSTOMER else None,
    )


def actor_of(organization: Organization, *roles: Role, email: str | None = None) -> Actor:
    contact = Contact(
        email=email or f"someone@{organization.id}.example",
        org=organization.id,
        org_kind=organization.kind,
        name=f"Someone of {organization.id}",
        roles=frozenset(roles),
    )
    return Actor(contact=contact, org=organization, locale="en")


def contact(name: str, organization: str, *roles: Role) -> Contact:
    return Contact(
        email=f"{name.lower()}@{organization}.example",
        org=organization,
        org_kind=OrgKind.PARTNER,
        name=name,
        roles=frozenset(roles),
    )


def account(ea: str = "411023871", customer: str = "acme", vendor: str = "vmw") -> Account:
    return Account(
        ea=ea, vendor=vendor, customer=customer, name="Production", superuser="boss@acme.example"
    )


def grant(
    partner: str,
    *permissions: Permission,
    ea: str = "411023871",
    until: dt.date | None = None,
) -> Grant:
    return Grant(
        ea=ea,
        partner=partner,
        permissions=frozenset(permissions or (Permission.FILE_SUPPORT_REQUESTS,)),
        until=until,
    )


def license_(
    product: str,
    *,
    type: LicenseType = LicenseType.STANDARD,
    sold_by: str | None = None,
    ea: str = "411023871",
    key: str = "AAAAA-BBBBB-CCCCC-DDDDD-EEEEE",
) -> License:
    return License(
        key=key, ea=ea, product=product, quantity=1, unit="CPU", type=type, sold_by=sold_by
    )


def contract(
    *products: str,
    level: str = "production",
    starts: dt.date = dt.date(2026, 1, 1),
    ends: dt.date = dt.date(2027, 12, 31),
    number: str = "SNS-1",
    ea: str = "411023871",
) -> Contract:
    return Contract(
        number=number, ea=ea, level=level, starts=starts, ends=ends, products=tuple(products)
    )


def ticket(
    *,
    tier: Tier = Tier.PARTNER,
    partner: str | None = "nuage",
    customer: str = "acme",
    queue: Queue = Queue.TECHNICAL,
    status: Status = Status.NEW,
    product: str | None = "vSphere Enterprise Plus",
    severity: int = 3,
    escalated_at: dt.datetime | None = None,
) -> Ticket:
    return Ticket(
        id=7,
        ea="411023871",
        customer=customer,
        partner=partner,
        vendor="vmw",
        tier=tier,
        queue=queue,
        severity=severity,
        status=status,
        subject="vMotion fails",
        product=product,
        description=None,
        opened_by="alice@acme.example",
        assignee=None,
        created_at=NOW,
        updated_at=NOW,
        escalated_at=escalated_at,
    )


# --- the demo world in a store ---------------------------------------------------------------


async def demo_actor(store: Store, email: str) -> Actor:
    async with store.read() as conn:
        found = await load_actor(conn, email=email, default_locale="en")
    assert found is not None, email
    return found


async def get_ticket(store: Store, ticket_id: int) -> Ticket:
    async with store.read() as conn:
        found = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert found is not None
    return found


async def events(store: Store, ticket_id: int) -> list[TicketEvent]:
    async with store.read() as conn:
        return await tickets_db.events_of(conn, ticket_id=ticket_id)


async def outbox(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        return await outbox_db.entries(conn)


async def ticket_count(store: Store) -> int:
    async with store.read() as conn:
        return len(await tickets_db.all_tickets(conn))


async def audit_actions(store: Store, ticket_id: int) -> list[str]:
    async with store.read() as conn:
        found = await audit_db.entries(conn, ticket_id=ticket_id, limit=100)
    return [e.action for e in reversed(found)]


async def snapshot(store: Store) -> tuple[object, ...]:
    """Everything a refusal must leave untouched."""
    async with store.read() as conn:
        all_tickets = await tickets_db.all_tickets(conn)
        all_events = await tickets_db.all_events(conn)
        entries = await outbox_db.entries(conn)
    return (tuple(all_tickets), tuple(sorted(all_events.items())), tuple(map(repr, entries)))


def posts_to(entries: list[dict[str, Any]], channel: str) -> list[dict[str, Any]]:
    return [
        e
        for e in entries
        if e["method"] == "chat.postMessage" and e["payload"].get("channel") == channel
    ]


def dms_to(entries: list[dict[str, Any]], email: str) -> list[dict[str, Any]]:
    return [e for e in entries if e["payload"].get("user_email") == email]
