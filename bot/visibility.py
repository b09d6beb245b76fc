"""Who is acting, and what they may see (R8).

A ticket or EA outside one's view is answered exactly like one that does not exist:
every look-up here returns None in both cases, and callers raise the same NotFound.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    Account,
    Contact,
    Organization,
    OrgKind,
    PartnerType,
    Permission,
    Role,
    Status,
    Ticket,
    TicketEvent,
    Tier,
)
from bot.store import accounts as accounts_db
from bot.store import directory as directory_db

ALL_PERMISSIONS = frozenset(Permission)


@dataclass(frozen=True)
class Actor:
    """The person behind a command: a contact of a customer, a partner or a vendor."""

    contact: Contact
    org: Organization
    locale: str
    slack_user_id: str | None = None

    @property
    def email(self) -> str:
        return self.contact.email

    @property
    def kind(self) -> OrgKind:
        return self.org.kind

    @property
    def is_customer(self) -> bool:
        return self.org.kind is OrgKind.CUSTOMER

    @property
    def is_partner(self) -> bool:
        return self.org.kind is OrgKind.PARTNER

    @property
    def is_vendor(self) -> bool:
        return self.org.kind is OrgKind.VENDOR

    def has(self, role: Role) -> bool:
        return role in self.contact.roles


@dataclass(frozen=True)
class AccountView:
    """One EA as one actor sees it: the permissions they hold on it."""

    account: Account
    permissions: frozenset[Permission]
    # the number the actor asked for, when it was merged into ``account``
    asked_for: str | None = None

    def allows(self, permission: Permission) -> bool:
        return permission in self.permissions

    @property
    def ea(self) -> str:
        return self.account.ea


async def load_actor(
    conn: AsyncConnection, /, *, email: str, default_locale: str, slack_user_id: str | None = None
) -> Actor | None:
    contact = await directory_db.get_contact(conn, email=email)
    if contact is None:
        return None
    org = await directory_db.get_organization(conn, id=contact.org)
    if org is None:
        return None
    locale = contact.locale or org.locale or default_locale
    return Actor(contact=contact, org=org, locale=locale, slack_user_id=slack_user_id)


def permissions_on(
    actor: Actor, account: Account, grant_permissions: frozenset[Permission] | None
) -> frozenset[Permission] | None:
    """The permissions ``actor`` holds on ``account``; None when it lies outside their view."""
    if account.superuser == actor.email:
        # R10: whoever holds the superuser role (even a partner contact) runs the account.
        return ALL_PERMISSIONS
    if actor.is_customer:
        return ALL_PERMISSIONS if account.customer == actor.org.id else None
    if actor.is_vendor:
        return ALL_PERMISSIONS if account.vendor == actor.org.id else None
    return grant_permissions


async def account_view(
    conn: AsyncConnection, /, *, actor: Actor, ea: str, today: dt.date
) -> AccountView | None:
    """The EA as ``actor`` sees it, following a merge to the account it now lives in."""
    account = await accounts_db.get_account(conn, ea=ea)
    asked_for = None
    hops = 0
    while account is not None and account.merged_into and hops < 5:
        asked_for = asked_for or account.ea
        account = await accounts_db.get_account(conn, ea=account.merged_into)
        hops += 1
    if account is None:
        return None
    grant_permissions = None
    if actor.is_partner:
        grant = await accounts_db.get_grant(conn, ea=account.ea, partner=actor.org.id)
        if grant is not None and grant.active(today):
            grant_permissions = grant.permissions
    permissions = permissions_on(actor, account, grant_permissions)
    if permissions is None:
        return None
    return AccountView(account=account, permissions=permissions, asked_for=asked_for)


async def visible_accounts(
    conn: AsyncConnection, /, *, actor: Actor, today: dt.date
) -> list[AccountView]:
    """Every EA in the actor's view (merged numbers excluded), by EA number."""
    if actor.is_customer:
        found = await accounts_db.list_accounts(conn, customer=actor.org.id)
        return [AccountView(a, ALL_PERMISSIONS) for a in found]
    if actor.is_vendor:
        found = await accounts_db.list_accounts(conn, vendor=actor.org.id)
        return [AccountView(a, ALL_PERMISSIONS) for a in found]
    grants = await accounts_db.grants_of_partner(conn, partner=actor.org.id, active_on=today)
    permissions = {g.ea: g.permissions for g in grants}
    for account in await accounts_db.accounts_of_superuser(conn, email=actor.email):
        permissions[account.ea] = ALL_PERMISSIONS
    found = await accounts_db.list_accounts(conn, eas=permissions)
    return [AccountView(a, permissions[a.ea]) for a in found]


def can_see_ticket(actor: Actor, ticket: Ticket, view: AccountView | None) -> bool:
    """R8 for tickets. ``view`` is the actor's view of the ticket's EA (or None).

    A partner sees a ticket through its grant on the EA alone, even one it is first line
    on: once the grant is revoked, lapses, or loses both support permissions, the
    partner's old tickets read like missing ones."""
    if actor.is_customer:
        return ticket.customer == actor.org.id
    if actor.is_vendor:
        return ticket.vendor == actor.org.id and (
            ticket.tier is Tier.VENDOR or ticket.escalated_at is not None
        )
    return view is not None and shows_tickets(view.permissions)


# The permissions through which a partner reads an EA's tickets.
TICKET_PERMISSIONS = frozenset({Permission.VIEW_SUPPORT_REQUESTS, Permission.FILE_SUPPORT_REQUESTS})


def shows_tickets(permissions: frozenset[Permission]) -> bool:
    """A partner holding ``permissions`` on an EA reads its tickets (and their threads)."""
    return bool(permissions & TICKET_PERMISSIONS)


def can_work_ticket(actor: Actor, view: AccountView | None) -> bool:
    """Changing a ticket (notes included): a partner needs ``file_support_requests`` on
    the EA; ``view_support_requests`` alone reads. Customers and vendor staff who see a
    ticket may work on it (the tier rules decide what)."""
    if not actor.is_partner:
        return True
    return view is not None and view.allows(Permission.FILE_SUPPORT_REQUESTS)


def mask_key(key: str) -> str:
    """License keys show their last 5 characters only, unless view_license_keys (R8)."""
    tail = key[-5:]
    return "•••••-•••••-•••••-•••••-" + tail if len(key) > 5 else tail


# A license key as the vendors write them: five groups of five letters or digits.
KEY_PATTERN = re.compile(r"\b[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}\b", re.IGNORECASE)


def mask_keys(text: str) -> str:
    """Every license key inside a text masked: for text copied from account data or
    typed by people (ticket subjects, descriptions, audit details) shown to a reader
    without view_license_keys."""
    return KEY_PATTERN.sub(lambda m: mask_key(m.group(0)), text)


# --------------------------------------------------------------------------- who looks


# Events that move a ticket between the partner and the vendor: routing inside the
# supply chain, never shown to an MSP's end customer (R2).
_VENDOR_ROUTING_EVENTS = frozenset({"escalated", "handed_back"})
_VENDOR_ROUTING_ACTIONS = frozenset(
    {"ticket.escalate", "ticket.escalation_form", "ticket.reassign", "ticket.hand_back_form"}
)


@dataclass(frozen=True)
class Lens:
    """What one reader may be shown of a ticket or an audit trail: the one filter every
    surface (``/ticket show`` and ``list``, App Home, ``/audit``, replies, DMs) goes
    through.

    Under R2 an MSP's end customer sees its ticket as the MSP's alone: no vendor
    engineer, no vendor note or routing, no vendor tier, clock or case number; what the
    vendor did shows in the MSP's name, without the vendor's words."""

    hide_vendor: bool = False
    shown_as: str | None = None  # the MSP's name, standing in for the vendor's people
    mask_keys: bool = False  # the reader lacks view_license_keys on the EA

    def text(self, value: str) -> str:
        return mask_keys(value) if self.mask_keys else value

    def event(self, event: TicketEvent, *, by_vendor: bool) -> TicketEvent | None:
        """The event as this reader sees it, or None when it is not theirs to see."""
        if not self.hide_vendor:
            return event
        if event.kind in _VENDOR_ROUTING_EVENTS:
            return None
        if not by_vendor:
            return event
        if event.kind in ("note", "taken", "assigned"):
            return None
        return TicketEvent(
            ticket_id=event.ticket_id, at=event.at, actor=self.shown_as, kind=event.kind
        )

    def audit_entry(self, action: str, *, by_vendor: bool) -> bool:
        """Whether an audit entry is shown to this reader."""
        if not self.hide_vendor:
            return True
        return not by_vendor and action not in _VENDOR_ROUTING_ACTIONS

    def status(self, status: Status) -> Status:
        """An escalation is the MSP's business: its customer sees the ticket in progress."""
        if self.hide_vendor and status is Status.ESCALATED:
            return Status.IN_PROGRESS
        return status

    def tier(self, tier: Tier) -> Tier:
        return Tier.PARTNER if self.hide_vendor else tier

    def person(self, contact: Contact | None) -> Contact | None:
        """An assignee or author shown by name: never a vendor engineer under R2."""
        if contact is not None and self.hide_vendor and contact.org_kind is OrgKind.VENDOR:
            return None
        return contact


FULL_VIEW = Lens()


def lens_for(
    actor: Actor | None,
    *,
    customer: str,
    partner: Organization | None,
    shows_keys: bool = True,
) -> Lens:
    """The lens of ``actor`` on a ticket (or EA) of ``customer`` whose first line is
    ``partner``; ``shows_keys``: whether the reader holds view_license_keys there. None
    (the bot's own records) sees everything."""
    if not shows_keys:
        return Lens(mask_keys=True)
    if actor is not None and actor.is_customer and actor.org.id == customer:
        return customer_lens(partner)
    return FULL_VIEW


def customer_lens(partner: Organization | None) -> Lens:
    """The lens of the ticket's own customer (a person of it, or its shared channel):
    R2 when its first line is an MSP; its license keys are its own."""
    if partner is not None and partner.partner_type is PartnerType.MSP:
        return Lens(hide_vendor=True, shown_as=partner.name)
    return FULL_VIEW
