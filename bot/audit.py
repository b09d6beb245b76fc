"""``/audit``: the trail of one EA or one ticket, and the recording of refused requests.

Who may read an EA's trail: the customer's superusers and procurement contacts, partner
admins and ATCs whose organization holds an active grant on it, and the vendor's
engineers and admins. A ticket's trail: whoever may see the ticket (R8). What a reader
sees stays within their view: entries about tickets they may not see are left out, a
partner sees people outside its own organization and the customer only by organization
name, and license keys inside details are masked unless the reader may see keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    AuditEntry,
    Contact,
    OrgKind,
    PartnerType,
    Permission,
    Role,
    Ticket,
    ticket_ref,
)
from bot.errors import Forbidden, NotFound, UserError
from bot.parser import whole_number
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import tickets as tickets_db
from bot.visibility import (
    FULL_VIEW,
    AccountView,
    Actor,
    Lens,
    account_view,
    can_see_ticket,
    lens_for,
    mask_keys,
)

DEFAULT_ENTRIES = 20
MAX_ENTRIES = 100
DETAIL_LIMIT = 300
USAGE = "accounts.usage_audit"


@asynccontextmanager
async def refusals(
    store: Store, *, actor: Actor, action: str, now: dt.datetime, **detail: object
) -> AsyncIterator[None]:
    """Record a refused request, then let the refusal through to the user.

    The refusal is written in a transaction of its own (the failed one rolled back), and
    never against the EA or ticket that was asked for: a prober's identity must not show
    up in the trail of an account outside their view.
    """
    try:
        yield
    except UserError as error:
        async with store.write() as conn:
            await audit_db.record(
                conn,
                at=now,
                actor=actor.email,
                action=f"{action}.refused",
                detail={"error": error.key, **{k: _plain(v) for k, v in detail.items()}},
            )
        raise


async def record_read(
    store: Store,
    *,
    actor: Actor,
    action: str,
    now: dt.datetime,
    ea: str | None = None,
    ticket_id: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Audit a read once it has succeeded, in a short transaction of its own: reads run
    in read transactions and never hold the database's write lock while they work.
    Concurrent requests share that transaction (group commit); it is committed before
    this returns, so before the answer goes out."""
    await audit_db.append(
        store,
        at=now,
        actor=actor.email,
        action=action,
        ea=ea,
        ticket_id=ticket_id,
        detail=detail,
    )


def _plain(value: object) -> object:
    """JSON-friendly form of a detail value."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return sorted(str(v) for v in value)
    return str(value)


def parse_count(token: str) -> int:
    """The ``<n>`` of ``/audit``: a whole number from 1 to 100."""
    return whole_number(
        token, low=1, high=MAX_ENTRIES, key="accounts.bad_count", usage=USAGE, max=MAX_ENTRIES
    )


@dataclass(frozen=True)
class AuditLine:
    at: dt.datetime
    who: str  # an email, or an organization name when the reader may not see the person
    action: str
    ticket: str | None  # "T-12"
    detail: str
    reason: str | None = None  # a refusal's reason code (a message key)


@dataclass(frozen=True)
class AuditTrail:
    ea: str | None
    ticket: str | None
    asked_for: str | None  # the merged EA number that was asked for
    lines: tuple[AuditLine, ...]


def may_read_ea_trail(actor: Actor, view: AccountView) -> bool:
    if actor.is_customer:
        return (
            actor.has(Role.SUPERUSER)
            or actor.has(Role.PROCUREMENT)
            or view.account.superuser == actor.email
        )
    if actor.is_partner:
        return actor.has(Role.ADMIN) or actor.has(Role.ATC)
    return actor.has(Role.ENGINEER) or actor.has(Role.ADMIN)


async def audit_trail(
    store: Store,
    actor: Actor,
    *,
    ea: str | None = None,
    ticket_id: int | None = None,
    limit: int = DEFAULT_ENTRIES,
    now: dt.datetime,
) -> AuditTrail:
    """The newest ``limit`` entries about one EA or one ticket (exactly one of them)."""
    if (ea is None) == (ticket_id is None):
        raise ValueError("give an EA or a ticket id")
    if not 1 <= limit <= MAX_ENTRIES:
        raise UserError("accounts.bad_count", usage=USAGE, value=str(limit), max=MAX_ENTRIES)
    today = now.date()
    asked = {"ea": ea} if ea is not None else {"ticket": ticket_id}
    async with (
        refusals(store, actor=actor, action="audit.view", now=now, **asked),
        store.read() as conn,
    ):
        if ea is not None:
            view = await account_view(conn, actor=actor, ea=ea, today=today)
            if view is None:
                raise NotFound("accounts.no_such_ea", ea=ea)
            if not may_read_ea_trail(actor, view):
                raise Forbidden("accounts.audit_forbidden", ea=ea)
            found = await audit_db.entries(conn, ea=view.ea, limit=limit)
            trail_ea, trail_ticket, asked_for = view.ea, None, view.asked_for
        else:
            assert ticket_id is not None
            ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
            view = None
            if ticket is not None:
                view = await account_view(conn, actor=actor, ea=ticket.ea, today=today)
            if ticket is None or not can_see_ticket(actor, ticket, view):
                raise NotFound("accounts.no_such_ticket", ticket=ticket_ref(ticket_id))
            found = await audit_db.entries(conn, ticket_id=ticket_id, limit=limit)
            trail_ea, trail_ticket, asked_for = None, ticket.ref, None
        lines = await _lines(conn, actor, view, found, today)
    await record_read(
        store,
        actor=actor,
        action="audit.view",
        now=now,
        ea=trail_ea,
        ticket_id=ticket_id,
        detail={"entries": len(lines)},
    )
    return AuditTrail(ea=trail_ea, ticket=trail_ticket, asked_for=asked_for, lines=tuple(lines))


async def _lines(
    conn: AsyncConnection,
    actor: Actor,
    view: AccountView | None,
    found: list[AuditEntry],
    today: dt.date,
) -> list[AuditLine]:
    tickets: dict[int, Ticket | None] = {}
    for entry in found:
        if entry.ticket_id is not None and entry.ticket_id not in tickets:
            tickets[entry.ticket_id] = await tickets_db.get_ticket(conn, ticket_id=entry.ticket_id)
    views: dict[str, AccountView | None] = {}
    if view is not None:
        views[view.ea] = view

    async def may_see(ticket: Ticket | None) -> bool:
        if ticket is None:
            return False
        if ticket.ea not in views:
            views[ticket.ea] = await account_view(conn, actor=actor, ea=ticket.ea, today=today)
        return can_see_ticket(actor, ticket, views[ticket.ea])

    visible = [e for e in found if e.ticket_id is None or await may_see(tickets[e.ticket_id])]
    emails = {e.actor for e in visible if e.actor}
    contacts = await directory_db.get_contacts(conn, emails=emails)
    lenses = _Lenses(conn, actor, view)
    shown = []
    for entry in visible:
        author = contacts.get(entry.actor or "")
        by_vendor = author is not None and author.org_kind is OrgKind.VENDOR
        ticket = tickets.get(entry.ticket_id) if entry.ticket_id is not None else None
        lens = await lenses.of(ticket)
        if lens.audit_entry(entry.action, by_vendor=by_vendor):
            shown.append(entry)
    names = await _who(conn, actor, view, shown, contacts)
    show_keys = view is not None and view.allows(Permission.VIEW_LICENSE_KEYS)
    return [
        AuditLine(
            at=entry.at,
            who=names.get(entry.actor or "", entry.actor or "—"),
            action=entry.action,
            ticket=ticket_ref(entry.ticket_id) if entry.ticket_id is not None else None,
            detail=_summary(
                {k: v for k, v in entry.detail.items() if k not in _NOT_SHOWN},
                show_keys=show_keys,
            ),
            reason=str(entry.detail["error"]) if "error" in entry.detail else None,
        )
        for entry in shown
    ]


# Detail keys shown another way: the refusal's reason gets its own readable line; what a
# refused prober asked for stays in the store for the operator.
_NOT_SHOWN = frozenset({"error", "asked"})


class _Lenses:
    """The reader's lens per ticket, and on the EA's own entries (R2: a customer served
    by an MSP on the EA sees no vendor entries there either)."""

    def __init__(self, conn: AsyncConnection, actor: Actor, view: AccountView | None) -> None:
        self.conn = conn
        self.actor = actor
        self.view = view
        self._ea_lens: Lens | None = None

    async def of(self, ticket: Ticket | None) -> Lens:
        if not self.actor.is_customer:
            return FULL_VIEW
        if ticket is not None:
            partner = (
                await directory_db.get_organization(self.conn, id=ticket.partner)
                if ticket.partner
                else None
            )
            return lens_for(self.actor, customer=ticket.customer, partner=partner)
        if self._ea_lens is None:
            self._ea_lens = FULL_VIEW
            if self.view is not None:
                grants = await accounts_db.grants_on(self.conn, ea=self.view.ea)
                orgs = await directory_db.get_organizations(
                    self.conn, ids={g.partner for g in grants}
                )
                for org in orgs.values():
                    if org.partner_type is PartnerType.MSP:
                        self._ea_lens = lens_for(
                            self.actor, customer=self.view.account.customer, partner=org
                        )
        return self._ea_lens


async def _who(
    conn: AsyncConnection,
    actor: Actor,
    view: AccountView | None,
    entries: list[AuditEntry],
    contacts: dict[str, Contact],
) -> dict[str, str]:
    """How each entry's author is shown: their email, except that a partner sees the
    people of other partners and vendors as their organization only."""
    emails = {e.actor for e in entries if e.actor}
    if not actor.is_partner:
        return {email: email for email in emails}
    customer = view.account.customer if view is not None else None
    orgs = await directory_db.get_organizations(conn, ids={c.org for c in contacts.values()})
    shown: dict[str, str] = {}
    for email in emails:
        contact = contacts.get(email)
        if contact is not None and contact.org in (actor.org.id, customer):
            shown[email] = email
        else:
            org = orgs.get(contact.org) if contact is not None else None
            shown[email] = org.name if org is not None else "—"
    return shown


def _summary(detail: dict[str, object], *, show_keys: bool) -> str:
    """A short ``key: value`` line of an entry's details."""
    parts = []
    for key, value in detail.items():
        if value is None or value == []:
            continue
        if isinstance(value, list | tuple):
            value = ", ".join(str(v) for v in value)
        elif isinstance(value, dict):
            continue
        parts.append(f"{key}: {value}")
    text = "; ".join(parts)
    if not show_keys:
        text = mask_keys(text)
    return text[:DETAIL_LIMIT]
