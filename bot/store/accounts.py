"""EAs and what they hold: grants, folders, licenses, contracts, subscriptions,
agreements, and the SLA target overrides of each vendor."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Table, and_, delete, func, insert, or_, select, update
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    Account,
    Agreement,
    Contract,
    Grant,
    License,
    LicenseType,
    Permission,
    Subscription,
)
from bot.store import tables as t
from bot.store.readmodel import reference_read
from bot.text import fold, normalize_email

# --- accounts -------------------------------------------------------------------------


def _account(row: RowMapping) -> Account:
    return Account(
        ea=row["ea"],
        vendor=row["vendor"],
        customer=row["customer"],
        name=row["name"],
        superuser=row["superuser"],
        merged_into=row["merged_into"],
    )


async def insert_account(conn: AsyncConnection, /, *, account: Account) -> None:
    await conn.execute(
        insert(t.accounts).values(
            ea=account.ea,
            vendor=account.vendor,
            customer=account.customer,
            name=account.name,
            superuser=normalize_email(account.superuser) if account.superuser else None,
            merged_into=None,  # set afterwards: the target may not exist yet
        )
    )


async def set_merged_into(conn: AsyncConnection, /, *, ea: str, merged_into: str | None) -> None:
    await conn.execute(
        update(t.accounts).where(t.accounts.c.ea == ea).values(merged_into=merged_into)
    )


async def set_superuser(conn: AsyncConnection, /, *, ea: str, email: str) -> None:
    await conn.execute(
        update(t.accounts).where(t.accounts.c.ea == ea).values(superuser=normalize_email(email))
    )


@reference_read
async def get_account(conn: AsyncConnection, /, *, ea: str) -> Account | None:
    row = (await conn.execute(select(t.accounts).where(t.accounts.c.ea == ea))).mappings().first()
    return _account(row) if row else None


@reference_read
async def get_accounts(conn: AsyncConnection, /, *, eas: Iterable[str]) -> dict[str, Account]:
    wanted = sorted(set(eas))
    if not wanted:
        return {}
    rows = (await conn.execute(select(t.accounts).where(t.accounts.c.ea.in_(wanted)))).mappings()
    return {row["ea"]: _account(row) for row in rows}


@reference_read
async def list_accounts(
    conn: AsyncConnection,
    /,
    *,
    customer: str | None = None,
    customers: Iterable[str] | None = None,
    vendor: str | None = None,
    eas: Iterable[str] | None = None,
    include_merged: bool = False,
) -> list[Account]:
    query = select(t.accounts).order_by(t.accounts.c.ea)
    if customer is not None:
        query = query.where(t.accounts.c.customer == customer)
    if customers is not None:
        query = query.where(t.accounts.c.customer.in_(sorted(set(customers))))
    if vendor is not None:
        query = query.where(t.accounts.c.vendor == vendor)
    if eas is not None:
        query = query.where(t.accounts.c.ea.in_(sorted(set(eas))))
    if not include_merged:
        query = query.where(t.accounts.c.merged_into.is_(None))
    return [_account(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def accounts_of_superuser(conn: AsyncConnection, /, *, email: str) -> list[Account]:
    query = select(t.accounts).where(t.accounts.c.superuser == normalize_email(email))
    return [
        _account(row) for row in (await conn.execute(query.order_by(t.accounts.c.ea))).mappings()
    ]


# --- grants ---------------------------------------------------------------------------


def _grant(row: RowMapping) -> Grant:
    return Grant(
        ea=row["ea"],
        partner=row["partner"],
        permissions=frozenset(Permission(p) for p in row["permissions"]),
        until=row["until"],
        granted_by=row["granted_by"],
        granted_at=row["granted_at"],
    )


async def upsert_grant(conn: AsyncConnection, /, *, grant: Grant) -> None:
    """Create the grant, or replace the permissions and end date of the existing one."""
    values = {
        "permissions": sorted(p.value for p in grant.permissions),
        "until": grant.until,
        "granted_by": grant.granted_by,
        "granted_at": grant.granted_at,
    }
    result = await conn.execute(
        update(t.grants)
        .where(t.grants.c.ea == grant.ea)
        .where(t.grants.c.partner == grant.partner)
        .values(**values)
    )
    if result.rowcount == 0:
        await conn.execute(insert(t.grants).values(ea=grant.ea, partner=grant.partner, **values))


async def delete_grant(conn: AsyncConnection, /, *, ea: str, partner: str) -> bool:
    result = await conn.execute(
        delete(t.grants).where(t.grants.c.ea == ea).where(t.grants.c.partner == partner)
    )
    return bool(result.rowcount)


@reference_read
async def grants_on(conn: AsyncConnection, /, *, ea: str) -> list[Grant]:
    query = select(t.grants).where(t.grants.c.ea == ea).order_by(t.grants.c.partner)
    return [_grant(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def grants_of_partner(
    conn: AsyncConnection, /, *, partner: str, active_on: dt.date | None = None
) -> list[Grant]:
    query = select(t.grants).where(t.grants.c.partner == partner).order_by(t.grants.c.ea)
    if active_on is not None:
        query = query.where(or_(t.grants.c.until.is_(None), t.grants.c.until >= active_on))
    return [_grant(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def get_grant(conn: AsyncConnection, /, *, ea: str, partner: str) -> Grant | None:
    query = select(t.grants).where(t.grants.c.ea == ea).where(t.grants.c.partner == partner)
    row = (await conn.execute(query)).mappings().first()
    return _grant(row) if row else None


# --- folders and licenses --------------------------------------------------------------


async def ensure_folder(conn: AsyncConnection, /, *, ea: str, name: str) -> None:
    exists = await conn.execute(
        select(t.folders.c.id).where(t.folders.c.ea == ea).where(t.folders.c.name == name)
    )
    if exists.first() is None:
        await conn.execute(insert(t.folders).values(ea=ea, name=name))


@reference_read
async def list_folders(conn: AsyncConnection, /, *, ea: str) -> list[str]:
    query = select(t.folders.c.name).where(t.folders.c.ea == ea).order_by(t.folders.c.name)
    return list((await conn.execute(query)).scalars())


def _license(row: RowMapping) -> License:
    return License(
        key=row["key"],
        ea=row["ea"],
        product=row["product"],
        quantity=row["quantity"],
        unit=row["unit"],
        type=LicenseType(row["type"]),
        folder=row["folder"],
        order=row["order_no"],
        sold_by=row["sold_by"],
        expires=row["expires"],
    )


def license_values(lic: License) -> dict[str, object]:
    return {
        "key": lic.key,
        "ea": lic.ea,
        "product": lic.product,
        "product_folded": fold(lic.product),
        "quantity": lic.quantity,
        "unit": lic.unit,
        "type": lic.type.value,
        "folder": lic.folder,
        "order_no": lic.order,
        "sold_by": lic.sold_by,
        "expires": lic.expires,
    }


async def insert_licenses(conn: AsyncConnection, /, *, licenses: list[License]) -> None:
    if licenses:
        await conn.execute(insert(t.licenses), [license_values(lic) for lic in licenses])


@reference_read
async def list_licenses(
    conn: AsyncConnection,
    /,
    *,
    ea: str,
    product: str | None = None,
    type: LicenseType | None = None,
    folder: str | None = None,
    folders: Iterable[str] | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> list[License]:
    """One EA's keys in display order (folder, product). ``product`` matches a part of
    the name, case-insensitively; ``folder`` is the exact folder name, ``folders`` a set
    of exact names."""
    query = select(t.licenses).where(t.licenses.c.ea == ea)
    if folders is not None:
        query = query.where(t.licenses.c.folder.in_(sorted(set(folders))))
    if product:
        query = query.where(t.licenses.c.product_folded.contains(fold(product), autoescape=True))
    if type is not None:
        query = query.where(t.licenses.c.type == type.value)
    if folder:
        query = query.where(t.licenses.c.folder == folder)
    query = query.order_by(t.licenses.c.folder, t.licenses.c.product, t.licenses.c.id)
    query = query.offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [_license(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def count_licenses_by_type(conn: AsyncConnection, /, *, ea: str) -> dict[LicenseType, int]:
    query = (
        select(t.licenses.c.type, func.count())
        .where(t.licenses.c.ea == ea)
        .group_by(t.licenses.c.type)
    )
    return {LicenseType(kind): count for kind, count in (await conn.execute(query)).all()}


@reference_read
async def licenses_of_product(conn: AsyncConnection, /, *, ea: str, product: str) -> list[License]:
    query = (
        select(t.licenses)
        .where(t.licenses.c.ea == ea)
        .where(t.licenses.c.product_folded == fold(product))
        .order_by(t.licenses.c.id)
        .limit(50)
    )
    return [_license(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def products_of(conn: AsyncConnection, /, *, ea: str) -> list[str]:
    query = select(t.licenses.c.product).where(t.licenses.c.ea == ea).distinct()
    return sorted((await conn.execute(query)).scalars())


@reference_read
async def licenses_expiring(
    conn: AsyncConnection, /, *, eas: Iterable[str], start: dt.date, end: dt.date
) -> list[License]:
    query = (
        select(t.licenses)
        .where(t.licenses.c.ea.in_(sorted(set(eas))))
        .where(and_(t.licenses.c.expires >= start, t.licenses.c.expires <= end))
        .order_by(t.licenses.c.expires, t.licenses.c.id)
    )
    return [_license(row) for row in (await conn.execute(query)).mappings()]


# --- contracts and subscriptions ----------------------------------------------------------


def _contract(row: RowMapping) -> Contract:
    return Contract(
        number=row["number"],
        ea=row["ea"],
        level=row["level"],
        starts=row["starts"],
        ends=row["ends"],
        products=tuple(row["products"]),
    )


async def insert_contract(conn: AsyncConnection, /, *, contract: Contract) -> None:
    await conn.execute(
        insert(t.contracts).values(
            number=contract.number,
            ea=contract.ea,
            level=contract.level,
            starts=contract.starts,
            ends=contract.ends,
            products=list(contract.products),
        )
    )


@reference_read
async def contracts_on(conn: AsyncConnection, /, *, ea: str) -> list[Contract]:
    query = select(t.contracts).where(t.contracts.c.ea == ea).order_by(t.contracts.c.ends.desc())
    return [_contract(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def contracts_ending(
    conn: AsyncConnection, /, *, eas: Iterable[str], start: dt.date, end: dt.date
) -> list[Contract]:
    query = (
        select(t.contracts)
        .where(t.contracts.c.ea.in_(sorted(set(eas))))
        .where(and_(t.contracts.c.ends >= start, t.contracts.c.ends <= end))
        .order_by(t.contracts.c.ends)
    )
    return [_contract(row) for row in (await conn.execute(query)).mappings()]


def _subscription(row: RowMapping) -> Subscription:
    return Subscription(
        id=row["id"],
        ea=row["ea"],
        service=row["service"],
        seller=row["seller"],
        quantity=row["quantity"],
        ends=row["ends"],
        contract_code=row["contract_code"],
    )


async def insert_subscription(conn: AsyncConnection, /, *, subscription: Subscription) -> None:
    s = subscription
    await conn.execute(
        insert(t.subscriptions).values(
            id=s.id,
            ea=s.ea,
            service=s.service,
            seller=s.seller,
            quantity=s.quantity,
            ends=s.ends,
            contract_code=s.contract_code,
        )
    )


@reference_read
async def subscriptions_on(conn: AsyncConnection, /, *, ea: str) -> list[Subscription]:
    query = select(t.subscriptions).where(t.subscriptions.c.ea == ea).order_by(t.subscriptions.c.id)
    return [_subscription(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def subscriptions_ending(
    conn: AsyncConnection, /, *, eas: Iterable[str], start: dt.date, end: dt.date
) -> list[Subscription]:
    query = (
        select(t.subscriptions)
        .where(t.subscriptions.c.ea.in_(sorted(set(eas))))
        .where(and_(t.subscriptions.c.ends >= start, t.subscriptions.c.ends <= end))
        .order_by(t.subscriptions.c.ends)
    )
    return [_subscription(row) for row in (await conn.execute(query)).mappings()]


# --- agreements ---------------------------------------------------------------------------


async def insert_agreement(conn: AsyncConnection, /, *, agreement: Agreement) -> None:
    a = agreement
    await conn.execute(
        insert(t.agreements).values(
            number=a.number,
            authorization=a.authorization,
            vendor=a.vendor,
            customer=a.customer,
            customer_email=normalize_email(a.customer_email),
        )
    )
    for benefit in dict.fromkeys(a.benefits):
        await conn.execute(insert(t.agreement_benefits).values(agreement=a.number, benefit=benefit))
    for email in dict.fromkeys(normalize_email(e) for e in a.benefit_admins):
        await conn.execute(
            insert(t.agreement_benefit_admins).values(agreement=a.number, email=email)
        )


async def _complete_agreements(conn: AsyncConnection, rows: list[RowMapping]) -> list[Agreement]:
    """Agreements with their benefits, administrators and partners: three queries for
    all of them, whatever their number."""
    numbers = [row["number"] for row in rows]
    if not numbers:
        return []

    async def by_agreement(table: Table, column: str) -> dict[str, list[str]]:
        query = (
            select(table.c.agreement, table.c[column])
            .where(table.c.agreement.in_(numbers))
            .order_by(table.c.agreement, table.c[column])
        )
        found: dict[str, list[str]] = {}
        for number, value in (await conn.execute(query)).all():
            found.setdefault(number, []).append(value)
        return found

    benefits = await by_agreement(t.agreement_benefits, "benefit")
    admins = await by_agreement(t.agreement_benefit_admins, "email")
    partners = await by_agreement(t.agreement_partners, "partner")
    return [
        Agreement(
            number=row["number"],
            authorization=row["authorization"],
            vendor=row["vendor"],
            customer=row["customer"],
            customer_email=row["customer_email"],
            benefits=tuple(benefits.get(row["number"], ())),
            benefit_admins=tuple(admins.get(row["number"], ())),
            partners=tuple(partners.get(row["number"], ())),
        )
        for row in rows
    ]


@reference_read
async def agreements_of(conn: AsyncConnection, /, *, customer: str) -> list[Agreement]:
    query = (
        select(t.agreements)
        .where(t.agreements.c.customer == customer)
        .order_by(t.agreements.c.number)
    )
    return await _complete_agreements(conn, list((await conn.execute(query)).mappings()))


@reference_read
async def get_agreement(conn: AsyncConnection, /, *, number: str) -> Agreement | None:
    query = select(t.agreements).where(t.agreements.c.number == number)
    found = await _complete_agreements(conn, list((await conn.execute(query)).mappings()))
    return found[0] if found else None


async def add_agreement_partner(
    conn: AsyncConnection, /, *, number: str, partner: str, requested_by: str, at: dt.datetime
) -> bool:
    """Register a partner on an agreement; False when it already was."""
    exists = await conn.execute(
        select(t.agreement_partners.c.partner)
        .where(t.agreement_partners.c.agreement == number)
        .where(t.agreement_partners.c.partner == partner)
    )
    if exists.first() is not None:
        return False
    await conn.execute(
        insert(t.agreement_partners).values(
            agreement=number,
            partner=partner,
            requested_by=normalize_email(requested_by),
            requested_at=at,
        )
    )
    return True


async def remove_agreement_partner(conn: AsyncConnection, /, *, number: str, partner: str) -> bool:
    result = await conn.execute(
        delete(t.agreement_partners)
        .where(t.agreement_partners.c.agreement == number)
        .where(t.agreement_partners.c.partner == partner)
    )
    return bool(result.rowcount)


# --- SLA target overrides -------------------------------------------------------------------


async def insert_sla_target(
    conn: AsyncConnection, /, *, vendor: str, level: str, severity: int, minutes: int
) -> None:
    await conn.execute(
        insert(t.sla_targets).values(vendor=vendor, level=level, severity=severity, minutes=minutes)
    )


@reference_read
async def sla_overrides(conn: AsyncConnection, /, *, vendor: str) -> dict[tuple[str, int], int]:
    """``{(level, severity): minutes}`` the dataset set for this vendor."""
    query = select(t.sla_targets).where(t.sla_targets.c.vendor == vendor)
    return {
        (row["level"], row["severity"]): row["minutes"]
        for row in (await conn.execute(query)).mappings()
    }


# --- look-up helpers --------------------------------------------------------------------


@reference_read
async def customers_with_contact_domain(
    conn: AsyncConnection, /, *, domain: str, limit: int = 20
) -> list[str]:
    """Ids of the customer organizations that have a contact whose email is on ``domain``
    (exactly that domain, case-insensitive), by id."""
    suffix = "@" + domain.strip().casefold()
    pattern = "%" + suffix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    query = (
        select(t.contacts.c.org)
        .join(t.organizations, t.organizations.c.id == t.contacts.c.org)
        .where(t.organizations.c.kind == "customer")
        .where(t.contacts.c.email.like(pattern, escape="\\"))
        .distinct()
        .order_by(t.contacts.c.org)
        .limit(limit)
    )
    return list((await conn.execute(query)).scalars())


# --- confirmations (R10: requests that wait for someone's explicit yes) ---------------------

PENDING, CONFIRMED, DECLINED, SUPERSEDED, EXPIRED, CANCELLED = (
    "pending",
    "confirmed",
    "declined",
    "superseded",
    "expired",
    "cancelled",  # the proposed person could no longer take the role
)


@dataclass(frozen=True)
class Confirmation:
    id: int
    kind: str
    ea: str | None
    requested_by: str
    approver: str
    subject: str
    created_at: dt.datetime
    status: str
    decided_by: str | None = None
    decided_at: dt.datetime | None = None


def _confirmation(row: RowMapping) -> Confirmation:
    return Confirmation(
        id=row["id"],
        kind=row["kind"],
        ea=row["ea"],
        requested_by=row["requested_by"],
        approver=row["approver"],
        subject=row["subject"],
        created_at=row["created_at"],
        status=row["status"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
    )


async def add_confirmation(
    conn: AsyncConnection,
    /,
    *,
    kind: str,
    ea: str | None,
    requested_by: str,
    approver: str,
    subject: str,
    at: dt.datetime,
) -> int:
    result = await conn.execute(
        insert(t.confirmations)
        .values(
            kind=kind,
            ea=ea,
            requested_by=normalize_email(requested_by),
            approver=normalize_email(approver),
            subject=subject,
            created_at=at,
            status=PENDING,
        )
        .returning(t.confirmations.c.id)
    )
    return int(result.scalar_one())


async def get_confirmation(conn: AsyncConnection, /, *, id: int) -> Confirmation | None:
    query = select(t.confirmations).where(t.confirmations.c.id == id)
    row = (await conn.execute(query)).mappings().first()
    return _confirmation(row) if row else None


async def pending_confirmations(
    conn: AsyncConnection, /, *, kind: str, ea: str
) -> list[Confirmation]:
    query = (
        select(t.confirmations)
        .where(t.confirmations.c.kind == kind)
        .where(t.confirmations.c.ea == ea)
        .where(t.confirmations.c.status == PENDING)
        .order_by(t.confirmations.c.id)
    )
    return [_confirmation(row) for row in (await conn.execute(query)).mappings()]


async def decide_confirmation(
    conn: AsyncConnection,
    /,
    *,
    id: int,
    status: str,
    decided_by: str | None,
    at: dt.datetime,
) -> bool:
    """Close a pending confirmation; False when it was no longer pending (someone else
    decided first), so a double click never applies a decision twice."""
    result = await conn.execute(
        update(t.confirmations)
        .where(t.confirmations.c.id == id)
        .where(t.confirmations.c.status == PENDING)
        .values(
            status=status,
            decided_by=normalize_email(decided_by) if decided_by else None,
            decided_at=at,
        )
    )
    return bool(result.rowcount)


@reference_read
async def contracts_on_accounts(conn: AsyncConnection, /, *, eas: Iterable[str]) -> list[Contract]:
    """The contracts of several EAs in one query, latest end first."""
    wanted = sorted(set(eas))
    if not wanted:
        return []
    query = (
        select(t.contracts).where(t.contracts.c.ea.in_(wanted)).order_by(t.contracts.c.ends.desc())
    )
    return [_contract(row) for row in (await conn.execute(query)).mappings()]


@reference_read
async def grants_on_accounts(conn: AsyncConnection, /, *, eas: Iterable[str]) -> list[Grant]:
    """The grants on several EAs in one query."""
    wanted = sorted(set(eas))
    if not wanted:
        return []
    query = (
        select(t.grants)
        .where(t.grants.c.ea.in_(wanted))
        .order_by(t.grants.c.ea, t.grants.c.partner)
    )
    return [_grant(row) for row in (await conn.execute(query)).mappings()]
