"""What an EA holds, as each actor may see it: ``/ea``, ``/ea lookup``, ``/entitlements``.

Rules (R8 visibility, R11 EA look-up; see bot/routing.py):

- ``/ea`` lists the EAs in the actor's view; ``/ea <EA>`` is the account's card. On the
  card a partner sees the other partners' grants only with ``manage_roles``, and the
  contracts and key counts only with ``view_orders_contracts`` (counts also with
  ``view_license_keys``).
- ``/entitlements`` is for customers, the vendor's staff, and partners holding
  ``view_license_keys`` or ``view_orders_contracts`` on the EA (either one shows the
  keys; anything else is refused). Keys are masked to their last 5 characters without
  ``view_license_keys``; order numbers, contracts, subscriptions and agreements need
  ``view_orders_contracts``. A ``type:`` or ``folder:`` filter is about keys only, so the
  contracts and the rest are left out then. Keys come a page at a time.
- ``/entitlements renewals`` gathers what ends within the window over every EA in view,
  under the same permissions.
- ``/ea lookup`` is for partners and vendor staff (a vendor's only over its own EAs): it
  finds customers by name (accent- and case-insensitive), by a contact's email, or by
  the domain of their contacts' emails, and reveals only each EA's number, the customer
  name and the vendor: what an order needs.

Every read leaves an audit entry.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import parser
from bot.access import (
    ContactRef,
    PartnerAccess,
    contact_ref,
    parse_email,
    partner_accesses,
    require_view,
    sees_all_grants,
)
from bot.audit import record_read, refusals
from bot.domain import Contract, LicenseType, OrgKind, Permission
from bot.errors import Forbidden, UserError
from bot.render import t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store.readmodel import remembered
from bot.text import fold
from bot.tickets import open_ticket
from bot.visibility import AccountView, Actor, mask_key, visible_accounts

USAGE_EA = "accounts.usage_ea"
USAGE_ENTITLEMENTS = "accounts.usage_entitlements"
PAGE_SIZE = 20
DEFAULT_RENEWAL_DAYS = 90
MAX_RENEWAL_DAYS = 730
MIN_LOOKUP = 3
MAX_LOOKUP_CUSTOMERS = 20

_DOMAIN_RE = re.compile(
    r"@?([a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)+)"
)


def may_see_entitlements(view: AccountView) -> bool:
    return view.allows(Permission.VIEW_LICENSE_KEYS) or view.allows(
        Permission.VIEW_ORDERS_CONTRACTS
    )


async def _names(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, str]:
    orgs = await directory_db.get_organizations(conn, ids=ids)
    return {id: org.name for id, org in orgs.items()}


# --- /ea ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountLine:
    ea: str
    name: str
    customer: str
    vendor: str
    until: dt.date | None = None  # end of a partner's grant


@dataclass(frozen=True)
class MyAccounts:
    lines: tuple[AccountLine, ...]


async def my_accounts(store: Store, actor: Actor, *, now: dt.datetime) -> MyAccounts:
    today = now.date()
    async with store.read() as conn:
        views = await visible_accounts(conn, actor=actor, today=today)
        accounts = [v.account for v in views]
        names = await _names(conn, {a.customer for a in accounts} | {a.vendor for a in accounts})
        until: dict[str, dt.date | None] = {}
        if actor.is_partner:
            grants = await accounts_db.grants_of_partner(
                conn, partner=actor.org.id, active_on=today
            )
            until = {g.ea: g.until for g in grants}
        lines = tuple(
            AccountLine(
                ea=a.ea,
                name=a.name,
                customer=names.get(a.customer, a.customer),
                vendor=names.get(a.vendor, a.vendor),
                until=until.get(a.ea),
            )
            for a in accounts
        )
    await record_read(
        store, actor=actor, action="ea.list", now=now, detail={"accounts": len(lines)}
    )
    return MyAccounts(lines=lines)


# --- /ea <EA> -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountCard:
    ea: str
    name: str
    asked_for: str | None  # the merged number that was asked for
    customer: str
    vendor: str
    superuser: ContactRef | None
    permissions: frozenset[Permission]  # the actor's own on this EA
    partners: tuple[PartnerAccess, ...]
    only_own_grant: bool
    contracts: tuple[Contract, ...] | None  # None: not for this actor
    # (Not hashed, still compared: the card stays usable as a key of rendered answers.)
    key_counts: dict[LicenseType, int] | None = field(hash=False)
    today: dt.date


async def account_card(store: Store, actor: Actor, *, ea: str, now: dt.datetime) -> AccountCard:
    today = now.date()
    async with (
        refusals(store, actor=actor, action="ea.view", now=now, ea=ea),
        store.read() as conn,
    ):
        # Reference data only, read at the request's version: kept for the next ask.
        card = await remembered(
            ("entitlements.account_card", actor, ea, today),
            partial(_account_card, conn, actor, ea, today),
        )
    await record_read(store, actor=actor, action="ea.view", now=now, ea=card.ea)
    return card


async def _account_card(
    conn: AsyncConnection, actor: Actor, ea: str, today: dt.date
) -> AccountCard:
    view = await require_view(conn, actor, ea, today)
    account = view.account
    names = await _names(conn, [account.customer, account.vendor])
    contracts = None
    if view.allows(Permission.VIEW_ORDERS_CONTRACTS):
        contracts = tuple(await accounts_db.contracts_on(conn, ea=account.ea))
    counts = None
    if may_see_entitlements(view):
        counts = await accounts_db.count_licenses_by_type(conn, ea=account.ea)
    return AccountCard(
        ea=account.ea,
        name=account.name,
        asked_for=view.asked_for,
        customer=names.get(account.customer, account.customer),
        vendor=names.get(account.vendor, account.vendor),
        superuser=await contact_ref(conn, account.superuser),
        permissions=view.permissions,
        partners=await partner_accesses(conn, actor, view, today),
        only_own_grant=not sees_all_grants(actor, view),
        contracts=contracts,
        key_counts=counts,
        today=today,
    )


# --- /ea lookup ------------------------------------------------------------------------------


@dataclass(frozen=True)
class LookupMatch:
    ea: str
    customer: str
    vendor: str


@dataclass(frozen=True)
class LookupResult:
    query: str
    matches: tuple[LookupMatch, ...]


async def _customers_for(conn: AsyncConnection, query: str) -> list[str]:
    """Customer organization ids matching a name, an email or an email domain."""
    if "@" in query and not query.startswith("@"):
        contact = await directory_db.get_contact(conn, email=parse_email(query, usage=USAGE_EA))
        return [contact.org] if contact and contact.org_kind is OrgKind.CUSTOMER else []
    found: dict[str, None] = {}
    domain = _DOMAIN_RE.fullmatch(query.casefold())
    if domain:
        for org_id in await accounts_db.customers_with_contact_domain(
            conn, domain=domain[1], limit=MAX_LOOKUP_CUSTOMERS
        ):
            found[org_id] = None
    by_name = await directory_db.find_organizations_by_name(
        conn, text=query.lstrip("@"), kind=OrgKind.CUSTOMER, limit=MAX_LOOKUP_CUSTOMERS
    )
    for org in by_name:
        found[org.id] = None
    return list(found)


async def lookup_accounts(
    store: Store, actor: Actor, *, query: str, now: dt.datetime
) -> LookupResult:
    query = " ".join(query.split())
    async with (
        refusals(store, actor=actor, action="ea.lookup", now=now, query=query),
        store.read() as conn,
    ):
        if actor.is_customer:
            raise Forbidden("accounts.lookup_forbidden")
        if len(fold(query).replace(" ", "")) < MIN_LOOKUP:
            raise UserError("accounts.lookup_too_short", usage=USAGE_EA, min=MIN_LOOKUP)
        customers = await _customers_for(conn, query)
        accounts = []
        if customers:
            accounts = await accounts_db.list_accounts(
                conn,
                customers=customers,
                vendor=actor.org.id if actor.is_vendor else None,
            )
        names = await _names(conn, {a.customer for a in accounts} | {a.vendor for a in accounts})
        matches = tuple(
            LookupMatch(
                ea=a.ea,
                customer=names.get(a.customer, a.customer),
                vendor=names.get(a.vendor, a.vendor),
            )
            for a in sorted(accounts, key=lambda a: (names.get(a.customer, "").casefold(), a.ea))
        )
    await record_read(
        store,
        actor=actor,
        action="ea.lookup",
        now=now,
        detail={"query": query, "found": [m.ea for m in matches]},
    )
    return LookupResult(query=query, matches=matches)


# --- /entitlements <EA> --------------------------------------------------------------------------


def parse_type(token: str) -> LicenseType:
    try:
        return LicenseType(token.strip().lower())
    except ValueError:
        raise UserError(
            "accounts.bad_type",
            usage=USAGE_ENTITLEMENTS,
            value=token,
            types=[t.value for t in LicenseType],
        ) from None


def parse_days(token: str) -> int:
    return parser.whole_number(
        token,
        low=1,
        high=MAX_RENEWAL_DAYS,
        key="accounts.bad_days",
        usage=USAGE_ENTITLEMENTS,
        max=MAX_RENEWAL_DAYS,
    )


@dataclass(frozen=True)
class Filters:
    product: str | None = None
    type: LicenseType | None = None
    folder: str | None = None

    @property
    def keys_only(self) -> bool:
        return self.type is not None or self.folder is not None


@dataclass(frozen=True)
class KeyLine:
    key: str  # masked unless the actor may see keys
    product: str
    quantity: int
    unit: str
    type: LicenseType
    folder: str
    order: str | None  # None when the actor may not see orders
    expires: dt.date | None


@dataclass(frozen=True)
class SubscriptionLine:
    id: str
    service: str
    seller: str
    quantity: int
    ends: dt.date | None
    contract_code: str | None


@dataclass(frozen=True)
class AgreementLine:
    number: str
    benefits: tuple[str, ...]
    admins: tuple[ContactRef, ...]
    partners: tuple[str, ...]  # names of the partners registered to manage it


@dataclass(frozen=True)
class Entitlements:
    ea: str
    name: str
    asked_for: str | None
    customer: str
    vendor: str
    filters: Filters
    offset: int
    keys: tuple[KeyLine, ...]
    next_offset: int | None  # where the next page starts; None on the last page
    keys_masked: bool
    # The rest comes on the first page only, and only with view_orders_contracts.
    contracts: tuple[Contract, ...] | None
    subscriptions: tuple[SubscriptionLine, ...] | None
    agreements: tuple[AgreementLine, ...] | None
    today: dt.date


def _clean(value: str | None) -> str | None:
    """Option values cannot hold spaces; ``_`` stands for one ("folder:Datacenter_Lyon")."""
    if value is None:
        return None
    value = " ".join(value.replace("_", " ").split())
    return value or None


async def _matching_folders(conn: AsyncConnection, ea: str, wanted: str) -> list[str]:
    names = await accounts_db.list_folders(conn, ea=ea)
    key = fold(wanted)
    exact = [n for n in names if fold(n) == key]
    return exact or [n for n in names if key in fold(n)]


async def entitlements(
    store: Store,
    actor: Actor,
    *,
    ea: str,
    filters: Filters = Filters(),
    offset: int = 0,
    now: dt.datetime,
) -> Entitlements:
    today = now.date()
    filters = replace(filters, product=_clean(filters.product), folder=_clean(filters.folder))
    offset = max(0, offset)
    async with (
        refusals(store, actor=actor, action="entitlements.view", now=now, ea=ea),
        store.read() as conn,
    ):
        # Reference data only, read at the request's version: kept for the next ask.
        result = await remembered(
            ("entitlements.entitlements", actor, ea, filters, offset, today),
            partial(_entitlements, conn, actor, ea, filters, offset, today),
        )
    await record_read(
        store,
        actor=actor,
        action="entitlements.view",
        now=now,
        ea=result.ea,
        detail={
            "product": filters.product,
            "type": filters.type.value if filters.type else None,
            "folder": filters.folder,
            "offset": offset,
            "keys": len(result.keys),
            "masked": result.keys_masked,
        },
    )
    return result


async def _entitlements(
    conn: AsyncConnection, actor: Actor, ea: str, filters: Filters, offset: int, today: dt.date
) -> Entitlements:
    view = await require_view(conn, actor, ea, today)
    if not may_see_entitlements(view):
        raise Forbidden("accounts.entitlements_forbidden", ea=view.ea)
    account = view.account
    show_keys = view.allows(Permission.VIEW_LICENSE_KEYS)
    show_orders = view.allows(Permission.VIEW_ORDERS_CONTRACTS)
    folders = None
    if filters.folder is not None:
        folders = await _matching_folders(conn, account.ea, filters.folder)
    found = await accounts_db.list_licenses(
        conn,
        ea=account.ea,
        product=filters.product,
        type=filters.type,
        folders=folders,
        offset=offset,
        limit=PAGE_SIZE + 1,
    )
    if offset > 0 and not found:
        raise UserError("accounts.page_past_end", ea=account.ea)
    keys = tuple(
        KeyLine(
            key=lic.key if show_keys else mask_key(lic.key),
            product=lic.product,
            quantity=lic.quantity,
            unit=lic.unit,
            type=lic.type,
            folder=lic.folder,
            order=lic.order if show_orders else None,
            expires=lic.expires,
        )
        for lic in found[:PAGE_SIZE]
    )
    contracts = subscriptions = agreements = None
    if show_orders and offset == 0 and not filters.keys_only:
        contracts, subscriptions, agreements = await _orders(conn, view, filters.product)
    names = await _names(conn, [account.customer, account.vendor])
    return Entitlements(
        ea=account.ea,
        name=account.name,
        asked_for=view.asked_for,
        customer=names.get(account.customer, account.customer),
        vendor=names.get(account.vendor, account.vendor),
        filters=filters,
        offset=offset,
        keys=keys,
        next_offset=offset + PAGE_SIZE if len(found) > PAGE_SIZE else None,
        keys_masked=not show_keys,
        contracts=contracts,
        subscriptions=subscriptions,
        agreements=agreements,
        today=today,
    )


async def _orders(
    conn: AsyncConnection, view: AccountView, product: str | None
) -> tuple[tuple[Contract, ...], tuple[SubscriptionLine, ...], tuple[AgreementLine, ...]]:
    account = view.account
    wanted = fold(product) if product else None

    def matches(name: str) -> bool:
        return wanted is None or wanted in fold(name)

    contracts = tuple(
        c
        for c in await accounts_db.contracts_on(conn, ea=account.ea)
        if wanted is None or any(matches(p) for p in c.products)
    )
    subs = [
        s for s in await accounts_db.subscriptions_on(conn, ea=account.ea) if matches(s.service)
    ]
    agreements = [
        a
        for a in await accounts_db.agreements_of(conn, customer=account.customer)
        if a.vendor == account.vendor
    ]
    names = await _names(
        conn, {s.seller for s in subs} | {p for a in agreements for p in a.partners}
    )
    admins = await directory_db.get_contacts(
        conn, emails={e for a in agreements for e in a.benefit_admins}
    )
    return (
        contracts,
        tuple(
            SubscriptionLine(
                id=s.id,
                service=s.service,
                seller=names.get(s.seller, s.seller),
                quantity=s.quantity,
                ends=s.ends,
                contract_code=s.contract_code,
            )
            for s in subs
        ),
        tuple(
            AgreementLine(
                number=a.number,
                benefits=a.benefits,
                admins=tuple(
                    ContactRef(e, admins[e].name if e in admins else None) for e in a.benefit_admins
                ),
                partners=tuple(names.get(p, p) for p in a.partners),
            )
            for a in agreements
        ),
    )


# --- /entitlements renewals ----------------------------------------------------------------------

RENEWAL_KINDS = ("contract", "subscription", "key")


@dataclass(frozen=True)
class RenewalItem:
    kind: str  # contract | subscription | key
    ea: str
    ref: str  # contract number, subscription id, or the key as the actor may see it
    ref_id: str  # what identifies it in a quote request (a key's last 5 characters)
    label: str  # products, service or key product
    ends: dt.date
    days_left: int


@dataclass(frozen=True)
class Renewals:
    days: int
    items: tuple[RenewalItem, ...]
    can_request_quote: bool  # customers and partners; the vendor does not quote itself


async def _renewal_items(
    conn: AsyncConnection, views: list[AccountView], today: dt.date, end: dt.date
) -> list[RenewalItem]:
    """What ends between ``today`` and ``end`` on these EAs, as far as each view allows,
    soonest first."""
    order_eas = [v.ea for v in views if v.allows(Permission.VIEW_ORDERS_CONTRACTS)]
    key_eas = [v.ea for v in views if may_see_entitlements(v)]
    shows_keys = {v.ea for v in views if v.allows(Permission.VIEW_LICENSE_KEYS)}
    items: list[RenewalItem] = []
    if order_eas:
        for c in await accounts_db.contracts_ending(conn, eas=order_eas, start=today, end=end):
            items.append(
                RenewalItem(
                    kind="contract",
                    ea=c.ea,
                    ref=c.number,
                    ref_id=c.number,
                    label=", ".join(c.products),
                    ends=c.ends,
                    days_left=(c.ends - today).days,
                )
            )
        for s in await accounts_db.subscriptions_ending(conn, eas=order_eas, start=today, end=end):
            assert s.ends is not None  # the query keeps dated ones only
            items.append(
                RenewalItem(
                    kind="subscription",
                    ea=s.ea,
                    ref=s.id,
                    ref_id=s.id,
                    label=s.service,
                    ends=s.ends,
                    days_left=(s.ends - today).days,
                )
            )
    if key_eas:
        for lic in await accounts_db.licenses_expiring(conn, eas=key_eas, start=today, end=end):
            assert lic.expires is not None
            items.append(
                RenewalItem(
                    kind="key",
                    ea=lic.ea,
                    ref=lic.key if lic.ea in shows_keys else mask_key(lic.key),
                    # a button value is visible to the client: never the whole key
                    ref_id=lic.key[-5:],
                    label=lic.product,
                    ends=lic.expires,
                    days_left=(lic.expires - today).days,
                )
            )
    items.sort(key=lambda i: (i.ends, RENEWAL_KINDS.index(i.kind), i.ea, i.ref))
    return items


async def renewals(
    store: Store, actor: Actor, *, days: int = DEFAULT_RENEWAL_DAYS, now: dt.datetime
) -> Renewals:
    """Contracts, subscriptions and keys ending within ``days`` over every EA in view,
    soonest first."""
    if not 1 <= days <= MAX_RENEWAL_DAYS:
        raise UserError(
            "accounts.bad_days", usage=USAGE_ENTITLEMENTS, value=str(days), max=MAX_RENEWAL_DAYS
        )
    today = now.date()
    async with store.read() as conn:
        views = await visible_accounts(conn, actor=actor, today=today)
        items = await _renewal_items(conn, views, today, today + dt.timedelta(days=days))
    await record_read(
        store,
        actor=actor,
        action="entitlements.renewals",
        now=now,
        detail={"days": days, "items": len(items)},
    )
    return Renewals(
        days=days, items=tuple(items), can_request_quote=actor.is_customer or actor.is_partner
    )


# --- renewal quote ----------------------------------------------------------------------------


@dataclass(frozen=True)
class QuoteRequest:
    ea: str
    ticket_id: int
    ticket: str  # "T-12"
    created: bool  # False when the same click had already opened it


def _unescaped(text: str) -> str:
    """A rendered message as plain text (the ticket stores text, it escapes on display)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


async def request_renewal_quote(
    store: Store,
    actor: Actor,
    *,
    ea: str,
    kind: str,
    ref: str,
    now: dt.datetime,
    request_key: str | None = None,
) -> QuoteRequest:
    """The renewals list's button: open a business ticket asking for a renewal quote of
    one contract, subscription or key, through ``bot.tickets.open_ticket`` (R6 routes
    it: a customer's to its partner, a partner's to the vendor's business queue)."""
    today = now.date()
    async with refusals(store, actor=actor, action="renewal.quote", now=now, ea=ea, kind=kind):
        async with store.read() as conn:
            view = await require_view(conn, actor, ea, today)
            end = today + dt.timedelta(days=MAX_RENEWAL_DAYS)
            item = next(
                (
                    i
                    for i in await _renewal_items(conn, [view], today, end)
                    if i.kind == kind and i.ref_id == ref
                ),
                None,
            )
            if item is None:
                raise UserError("accounts.renewal_item_gone", ea=view.ea)
        # The ticket's text travels to queues and people who may not read keys: the
        # bot never copies a whole key into it (its last 5 characters identify it).
        shown_ref = mask_key(item.ref) if item.kind == "key" else item.ref
        subject = t(
            "accounts.quote_subject",
            actor.locale,
            kind=item.kind,
            ref=shown_ref,
            label=item.label,
            ends=item.ends.isoformat(),
        )
        outcome = await open_ticket(
            store,
            actor,
            subject=_unescaped(subject),
            now=now,
            ea=view.ea,
            business=True,
            request_key=request_key,
        )
    ticket = outcome.card.ticket
    if outcome.created:
        async with store.write() as conn:
            await audit_db.record(
                conn,
                at=now,
                actor=actor.email,
                action="renewal.quote_requested",
                ea=view.ea,
                ticket_id=ticket.id,
                detail={"kind": item.kind, "ref": shown_ref, "ends": item.ends.isoformat()},
            )
    return QuoteRequest(ea=view.ea, ticket_id=ticket.id, ticket=ticket.ref, created=outcome.created)
