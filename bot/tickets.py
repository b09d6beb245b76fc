"""Ticket use cases: load, decide (``bot.routing``), save, emit.

Each use case runs in one transaction of the store: the change, its ticket event, its
audit entry and the Slack messages it owes (outbox) are committed together, or nothing
is when a rule refuses. Time comes in as ``now`` (aware UTC); nothing here reads the
clock. What a reply needs comes back as a :class:`TicketCard` (or a list of them) with
a message key of ``templates/messages/<locale>/tickets.j2`` and its parameters.

A ticket outside the actor's view is answered exactly like a missing one (R8).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import notify, routing, sla, threads
from bot.blocks import tickets as ticket_blocks
from bot.domain import (
    Account,
    Contact,
    Contract,
    License,
    Organization,
    OrgKind,
    Permission,
    Queue,
    Role,
    Status,
    ThreadSide,
    Ticket,
    TicketClock,
    TicketEvent,
    Tier,
    Vendor,
    ticket_ref,
)
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.render import t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import threads as threads_db
from bot.store import tickets as tickets_db
from bot.visibility import (
    Actor,
    Lens,
    account_view,
    can_see_ticket,
    can_work_ticket,
    lens_for,
    visible_accounts,
)

SCOPES = ("open", "mine", "all", "breaching", "closed")
MAX_SUBJECT = 200
MAX_TEXT = 2900
QUEUE_POST = "queue_post"  # outbox kind of a ticket's queue message (the worker records its ts)


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class ClockView:
    """One tier's first-response clock as it stands at ``now``."""

    id: int
    tier: Tier
    started_at: dt.datetime
    target: sla.Target
    state: sla.ClockState
    due_at: dt.datetime | None
    responded_at: dt.datetime | None
    paused: bool

    @property
    def breaching(self) -> bool:
        """Past 75 % of its target and not answered yet."""
        return self.responded_at is None and self.state in (
            sla.ClockState.WARNING,
            sla.ClockState.BREACHED,
        )


@dataclass(frozen=True)
class TicketCard:
    """A ticket with everything needed to show it."""

    ticket: Ticket
    account: Account
    vendor: Vendor
    customer: Organization
    partner: Organization | None
    assignee: Contact | None
    clocks: tuple[ClockView, ...]
    events: tuple[TicketEvent, ...] = ()
    # False when the reader is an MSP's end customer (R2): the card names no vendor
    show_vendor: bool = True

    @property
    def ref(self) -> str:
        return self.ticket.ref

    @property
    def severity_label(self) -> str:
        return self.vendor.severity_label(self.ticket.severity)

    @property
    def holder_name(self) -> str:
        if self.ticket.tier is Tier.PARTNER and self.partner is not None:
            return self.partner.name
        return self.vendor.name

    @property
    def current_clock(self) -> ClockView | None:
        for clock in reversed(self.clocks):
            if clock.tier is self.ticket.tier:
                return clock
        return None

    @property
    def breaching(self) -> bool:
        clock = self.current_clock
        return self.ticket.status.is_open and clock is not None and clock.breaching


@dataclass(frozen=True)
class TicketOutcome:
    """What a use case did: the ticket as it now stands and the message for the reply
    (a ``tickets.*`` key and its parameters)."""

    card: TicketCard
    message: str
    params: dict[str, object]
    created: bool = False  # open_ticket: False when the request was a retry

    def text(self, locale: str) -> str:
        return t(self.message, locale, **self.params)


@dataclass(frozen=True)
class TicketList:
    cards: tuple[TicketCard, ...]
    scope: str
    severity: int | None = None
    ea: str | None = None


@dataclass(frozen=True)
class FileableAccount:
    """An EA the actor may open tickets on, with its vendor (severity labels)."""

    account: Account
    vendor: Vendor
    products: tuple[str, ...] = ()


@dataclass(frozen=True)
class HomeSummary:
    mine: tuple[TicketCard, ...]
    queue_name: str | None = None  # partners and vendor staff: their tier's queue
    queue_counts: dict[int, int] = field(default_factory=dict)
    queue_labels: dict[int, str] = field(default_factory=dict)
    breaching: tuple[TicketCard, ...] = ()


# --------------------------------------------------------------------------- loading


class _Cache:
    """Per-transaction memo of the rows cards are made of."""

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self._orgs: dict[str, Organization | None] = {}
        self._vendors: dict[str, Vendor | None] = {}
        self._accounts: dict[str, Account | None] = {}
        self._contacts: dict[str, Contact | None] = {}
        self._overrides: dict[str, dict[tuple[str, int], int]] = {}
        self._shows_keys: dict[tuple[str, str], bool] = {}
        # The queue's card and the answer's show the same clocks at the same instant.
        self._clock_views: dict[tuple[TicketClock, sla.Calendar, dt.datetime], ClockView] = {}

    async def org(self, org_id: str) -> Organization | None:
        if org_id not in self._orgs:
            self._orgs[org_id] = await directory_db.get_organization(self.conn, id=org_id)
        return self._orgs[org_id]

    async def vendor(self, vendor_id: str) -> Vendor:
        if vendor_id not in self._vendors:
            self._vendors[vendor_id] = await directory_db.get_vendor(self.conn, id=vendor_id)
        found = self._vendors[vendor_id]
        if found is None:  # a foreign key guarantees it
            raise LookupError(f"vendor {vendor_id} is missing")
        return found

    async def account(self, ea: str) -> Account:
        if ea not in self._accounts:
            self._accounts[ea] = await accounts_db.get_account(self.conn, ea=ea)
        found = self._accounts[ea]
        if found is None:
            raise LookupError(f"account {ea} is missing")
        return found

    async def contact(self, email: str | None) -> Contact | None:
        if email is None:
            return None
        if email not in self._contacts:
            self._contacts[email] = await directory_db.get_contact(self.conn, email=email)
        return self._contacts[email]

    async def overrides(self, vendor_id: str) -> dict[tuple[str, int], int]:
        if vendor_id not in self._overrides:
            self._overrides[vendor_id] = await accounts_db.sla_overrides(
                self.conn, vendor=vendor_id
            )
        return self._overrides[vendor_id]

    async def calendar(self, tier: Tier, ticket: Ticket) -> sla.Calendar:
        """The responding tier's calendar: the partner's own, or the vendor's."""
        if tier is Tier.PARTNER and ticket.partner is not None:
            partner = await self.org(ticket.partner)
            if partner is not None:
                return sla.Calendar.of(partner.business_hours, partner.timezone, partner.holidays)
        vendor = await self.vendor(ticket.vendor)
        return sla.Calendar.of(vendor.business_hours, vendor.timezone, vendor.holidays)

    async def tier_locale(self, tier: Tier, ticket: Ticket) -> str:
        org_id = ticket.partner if tier is Tier.PARTNER and ticket.partner else ticket.vendor
        org = await self.org(org_id)
        return org.locale if org is not None else "en"

    async def card(
        self,
        ticket: Ticket,
        now: dt.datetime,
        *,
        events: bool = False,
        viewer: Actor | None = None,
        shows_keys: bool | None = None,
        lens: Lens | None = None,
    ) -> TicketCard:
        """The ticket as ``viewer`` may see it (None: everything, for the bot's own
        work). Every card shown to a person goes through its lens. ``shows_keys``
        overrides whether license keys in its texts are shown (a queue channel);
        ``lens`` gives the lens of a reader who is a channel, not a person."""
        customer = await self.org(ticket.customer)
        if customer is None:
            raise LookupError(f"customer {ticket.customer} is missing")
        partner = await self.org(ticket.partner) if ticket.partner else None
        if shows_keys is None:
            shows_keys = True
            if viewer is not None and viewer.is_partner:
                shows_keys = await self._partner_shows_keys(viewer, ticket.ea, now.date())
        if lens is None:
            lens = lens_for(
                viewer, customer=ticket.customer, partner=partner, shows_keys=shows_keys
            )
        latest: dict[Tier, TicketClock] = {}
        for clock in ticket.clocks:
            latest[clock.tier] = clock  # clocks come in id order: keep each tier's last
        views = []
        for tier in (Tier.PARTNER, Tier.VENDOR):
            if tier in latest and lens.tier(tier) is tier:
                views.append(self._clock_view(latest[tier], await self.calendar(tier, ticket), now))
        history: tuple[TicketEvent, ...] = ()
        if events:
            history = await self._events(ticket, lens)
        shown = ticket
        if lens.mask_keys:
            shown = dataclasses.replace(
                ticket,
                subject=lens.text(ticket.subject),
                description=lens.text(ticket.description) if ticket.description else None,
            )
        if lens.hide_vendor:
            opener = await self.contact(ticket.opened_by)
            shown = dataclasses.replace(
                ticket,
                status=lens.status(ticket.status),
                tier=lens.tier(ticket.tier),
                vendor_case=None,
                opened_by=ticket.opened_by
                if lens.person(opener) is opener
                else (lens.shown_as or ""),
            )
        return TicketCard(
            ticket=shown,
            account=await self.account(ticket.ea),
            vendor=await self.vendor(ticket.vendor),
            customer=customer,
            partner=partner,
            assignee=lens.person(await self.contact(ticket.assignee)),
            clocks=tuple(views),
            events=history,
            show_vendor=not lens.hide_vendor,
        )

    def _clock_view(self, clock: TicketClock, cal: sla.Calendar, now: dt.datetime) -> ClockView:
        key = (clock, cal, now)
        view = self._clock_views.get(key)
        if view is None:
            view = self._clock_views[key] = _clock_view(clock, cal, now)
        return view

    async def _partner_shows_keys(self, viewer: Actor, ea: str, today: dt.date) -> bool:
        key = (viewer.email, ea)
        if key not in self._shows_keys:
            view = await account_view(self.conn, actor=viewer, ea=ea, today=today)
            self._shows_keys[key] = view is not None and view.allows(Permission.VIEW_LICENSE_KEYS)
        return self._shows_keys[key]

    async def queue_shows_keys(self, tier: Tier, ticket: Ticket, today: dt.date) -> bool:
        """Whether the queue channel of ``tier`` may read license keys: the vendor's
        always, a partner's when its grant on the EA has view_license_keys."""
        if tier is Tier.VENDOR or ticket.partner is None:
            return True
        grant = await accounts_db.get_grant(self.conn, ea=ticket.ea, partner=ticket.partner)
        return grant is not None and grant.allows(Permission.VIEW_LICENSE_KEYS, today)

    async def by_vendor(self, email: str | None) -> bool:
        contact = await self.contact(email)
        return contact is not None and contact.org_kind is OrgKind.VENDOR

    async def _events(self, ticket: Ticket, lens: Lens) -> tuple[TicketEvent, ...]:
        shown = []
        for event in await tickets_db.events_of(self.conn, ticket_id=ticket.id):
            seen = lens.event(event, by_vendor=await self.by_vendor(event.actor))
            if seen is not None:
                shown.append(seen)
        return tuple(shown)


def _sla_clock(clock: TicketClock) -> sla.Clock:
    return sla.Clock(
        started_at=clock.started_at,
        target=sla.Target(clock.target_minutes, clock.around_the_clock),
        pauses=clock.pauses,
        stopped_at=clock.responded_at,
    )


def _clock_view(clock: TicketClock, cal: sla.Calendar, now: dt.datetime) -> ClockView:
    running = _sla_clock(clock)
    return ClockView(
        id=clock.id,
        tier=clock.tier,
        started_at=clock.started_at,
        target=running.target,
        state=sla.state(running, cal, now),
        due_at=sla.due_at(running, cal, now),
        responded_at=clock.responded_at,
        paused=clock.paused,
    )


def _marks(
    clock: TicketClock, cal: sla.Calendar, now: dt.datetime
) -> tuple[dt.datetime | None, dt.datetime | None]:
    """(warn_at, due_at) cached on the clock row for the reminder scanner."""
    running = _sla_clock(clock)
    if clock.responded_at is not None:
        return None, sla.due_at(running, cal, now)
    return sla.reminder_instants(running, cal, now)


async def _fileable(conn: AsyncConnection, actor: Actor, today: dt.date) -> list[Account]:
    if actor.is_vendor:
        if not actor.contact.roles & routing.VENDOR_STAFF:
            return []
        return await accounts_db.list_accounts(conn, vendor=actor.org.id)
    views = await visible_accounts(conn, actor=actor, today=today)
    if actor.is_partner:
        views = [v for v in views if v.allows(Permission.FILE_SUPPORT_REQUESTS)]
    return [v.account for v in views]


def _not_found(ticket_id: int) -> NotFound:
    return NotFound("tickets.not_found", ticket=ticket_ref(ticket_id))


async def _visible_ticket(
    conn: AsyncConnection, actor: Actor, ticket_id: int, today: dt.date, *, acting: bool = False
) -> Ticket:
    """The ticket, or the same NotFound whether it is missing or outside the view (R8).
    The grant is read from the store on every call: a revocation counts at once.
    ``acting``: the caller changes the ticket (a partner needs file_support_requests)."""
    ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    if ticket is None:
        raise _not_found(ticket_id)
    view = None
    if actor.is_partner:
        view = await account_view(conn, actor=actor, ea=ticket.ea, today=today)
    if not can_see_ticket(actor, ticket, view):
        raise _not_found(ticket_id)
    if acting and not can_work_ticket(actor, view):
        raise Forbidden("tickets.refuse_view_only", ticket=ticket.ref)
    return ticket


def _clean(text: str | None) -> str:
    return " ".join((text or "").split()) if text else ""


def _require_text(text: str | None, key: str, ticket: Ticket, usage: str | None) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise UserError(key, usage=usage, ticket=ticket.ref)
    return cleaned[:MAX_TEXT]


# --------------------------------------------------------------------------- the work


class _Change:
    """One change to one ticket inside a write transaction: holds the ticket as loaded,
    records events, moves clocks, and emits the queue and customer messages."""

    def __init__(
        self,
        conn: AsyncConnection,
        cache: _Cache,
        actor: Actor | None,
        ticket: Ticket,
        now: dt.datetime,
    ) -> None:
        self.conn = conn
        self.cache = cache
        self._actor = actor  # None: the bot itself (a grant that lapsed)
        self.before = ticket
        self.before = ticket
        self.ticket = ticket
        self.now = now

    @property
    def today(self) -> dt.date:
        return self.now.date()

    @property
    def actor(self) -> Actor:
        """The person making the change (every change but the bot's own has one)."""
        if self._actor is None:
            raise LookupError("a change by the bot has no acting person")
        return self._actor

    @property
    def actor_email(self) -> str | None:
        return self._actor.email if self._actor is not None else None

    async def partner(self) -> Organization | None:
        return await self.cache.org(self.ticket.partner) if self.ticket.partner else None

    async def update(self, **changes: object) -> None:
        await tickets_db.update_ticket(self.conn, ticket_id=self.ticket.id, at=self.now, **changes)
        await self.reload()

    async def reload(self) -> None:
        ticket = await tickets_db.get_ticket(self.conn, ticket_id=self.ticket.id)
        if ticket is None:  # inside our own transaction: it cannot vanish
            raise LookupError(self.ticket.ref)
        self.ticket = ticket

    async def event(self, kind: str, **data: object) -> None:
        await tickets_db.add_event(
            self.conn,
            ticket_id=self.ticket.id,
            at=self.now,
            actor=self.actor_email,
            kind=kind,
            data={k: v for k, v in data.items() if v is not None},
        )

    async def audit(self, action: str, **detail: object) -> None:
        await audit_db.record(
            self.conn,
            at=self.now,
            actor=self.actor_email,
            action=action,
            ea=self.ticket.ea,
            ticket_id=self.ticket.id,
            detail={k: v for k, v in detail.items() if v is not None},
        )

    # --- clocks ---------------------------------------------------------------------

    async def _save_clock(self, clock: TicketClock) -> None:
        cal = await self.cache.calendar(clock.tier, self.ticket)
        warn_at, due_at = _marks(clock, cal, self.now)
        await tickets_db.update_clock(
            self.conn,
            clock_id=clock.id,
            due_at=due_at,
            warn_at=warn_at,
            responded_at=clock.responded_at,
            pauses=clock.pauses,
            target_minutes=clock.target_minutes,
            around_the_clock=clock.around_the_clock,
        )

    async def first_response(self) -> None:
        """The holding tier acted: its first-response clock stops (if still running)."""
        if self._actor is None or not routing.holds(self._actor, self.before):
            return
        clock = self.ticket.current_clock
        if clock is not None and clock.responded_at is None:
            await self._save_clock(dataclasses.replace(clock, responded_at=self.now))
            await self.reload()

    async def pause(self) -> None:
        """Waiting on the customer: every running clock stops counting."""
        for clock in self.ticket.clocks:
            if clock.responded_at is None and not clock.paused:
                await self._save_clock(
                    dataclasses.replace(clock, pauses=(*clock.pauses, (self.now, None)))
                )
        await self.reload()

    async def resume(self) -> None:
        for clock in self.ticket.clocks:
            if clock.paused:
                since = clock.pauses[-1][0]
                await self._save_clock(
                    dataclasses.replace(clock, pauses=(*clock.pauses[:-1], (since, self.now)))
                )
        await self.reload()

    async def retarget(self, severity: int) -> None:
        """A new severity moves the running clock's target (same start, same pauses)."""
        clock = self.ticket.current_clock
        if clock is None or clock.responded_at is not None:
            return
        target = await _target(self.cache, self.ticket, severity, self.today)
        await self._save_clock(
            dataclasses.replace(
                clock, target_minutes=target.minutes, around_the_clock=target.around_the_clock
            )
        )
        await self.reload()

    async def start_clock(self, tier: Tier, target: sla.Target) -> None:
        cal = await self.cache.calendar(tier, self.ticket)
        warn_at, due_at = sla.reminder_instants(
            sla.Clock(started_at=self.now, target=target), cal, self.now
        )
        await tickets_db.insert_clock(
            self.conn,
            ticket_id=self.ticket.id,
            tier=tier,
            started_at=self.now,
            target_minutes=target.minutes,
            around_the_clock=target.around_the_clock,
            due_at=due_at,
            warn_at=warn_at,
        )
        await self.reload()

    async def set_status(self, status: Status, **changes: object) -> None:
        """Move to ``status``; leaving "waiting on customer" resumes the clocks."""
        previous = self.ticket.status
        if self.ticket.status is Status.WAITING_ON_CUSTOMER and status is not (
            Status.WAITING_ON_CUSTOMER
        ):
            await self.resume()
        await self.update(status=status, **changes)
        if self.ticket.status is not previous:
            await threads.status_changed(self, previous.value)

    # --- messages -------------------------------------------------------------------

    async def card(
        self, *, events: bool = False, viewer: Actor | None = None, lens: Lens | None = None
    ) -> TicketCard:
        return await self.cache.card(self.ticket, self.now, events=events, viewer=viewer, lens=lens)

    async def post_to_queue(self) -> None:
        """The ticket landed in a tier: post it to that tier's queue channel."""
        shows_keys = await self.cache.queue_shows_keys(self.ticket.tier, self.ticket, self.today)
        card = await self.cache.card(self.ticket, self.now, shows_keys=shows_keys)
        channel = await _queue_channel(self.cache, self.ticket)
        if channel is None:
            return
        locale = await self.cache.tier_locale(self.ticket.tier, self.ticket)
        await notify.to_channel(
            self.conn,
            channel=channel,
            text=ticket_blocks.queue_text(card, locale),
            blocks=[b.to_dict() for b in ticket_blocks.queue_message(card, locale)],
            at=self.now,
            kind=QUEUE_POST,
            ticket_id=self.ticket.id,
        )

    async def update_queue_message(self) -> None:
        """Refresh the message in the queue the ticket was in before this change."""
        await threads.refresh_cards(self)
        if await _queue_channel(self.cache, self.before) is None:
            return
        shows_keys = await self.cache.queue_shows_keys(self.before.tier, self.before, self.today)
        # The ticket left this partner's queue for another holder: the old message keeps
        # what it showed, loses its buttons, and does not say where the ticket went.
        left = self.before.tier is Tier.PARTNER and self.before.partner != self.ticket.partner
        shown = self.before if left else self.ticket
        card = await self.cache.card(shown, self.now, shows_keys=shows_keys)
        locale = await self.cache.tier_locale(self.before.tier, self.before)
        blocks = ticket_blocks.queue_message(card, locale, shown_in=self.before.tier, left=left)
        await notify.update_message(
            self.conn,
            ticket_id=self.ticket.id,
            text=ticket_blocks.queue_text(card, locale, shown_in=self.before.tier, left=left),
            blocks=[b.to_dict() for b in blocks],
            at=self.now,
        )

    async def tell_customer(self, notice: str, **params: object) -> None:
        """R9: the customer hears of the change by DM, in its own language; under R2 in
        the MSP's name, never the vendor's."""
        opener = await self.cache.contact(self.ticket.opened_by)
        account = await self.cache.account(self.ticket.ea)
        email = routing.customer_recipient(self.ticket, opener, account)
        if email is None or email == self.actor_email:
            return
        recipient = await self.cache.contact(email)
        if recipient is None:
            return
        customer = await self.cache.org(self.ticket.customer)
        locale = recipient.locale or (customer.locale if customer else "en")
        partner = await self.partner()
        vendor = await self.cache.vendor(self.ticket.vendor)
        card = await self.card()
        text = t(
            f"tickets.{notice}",
            locale,
            sender=routing.notice_sender(self._actor, self.ticket, partner=partner, vendor=vendor),
            msp=routing.is_msp(partner),
            ticket=self.ticket.ref,
            subject=self.ticket.subject,
            severity=card.severity_label,
            ea=self.ticket.ea,
            partner=partner.name if partner else None,
            vendor=vendor.name,
            **params,
        )
        await notify.to_person(
            self.conn,
            email=email,
            slack_user_id=recipient.slack_user_id,
            text=text,
            at=self.now,
            kind="customer_notice",
            ticket_id=self.ticket.id,
        )

    async def outcome(self, message: str, **params: object) -> TicketOutcome:
        card = await self.card(viewer=self._actor)
        return TicketOutcome(card=card, message=message, params=_params(card, **params))


def _params(card: TicketCard, **extra: object) -> dict[str, object]:
    clock = card.current_clock
    return {
        "ticket": card.ref,
        "severity": card.severity_label,
        "ea": card.ticket.ea,
        "subject": card.ticket.subject,
        "status": card.ticket.status.value,
        "tier": card.ticket.tier.value,
        "holder": card.holder_name,
        "due": ticket_blocks.slack_date(clock.due_at) if clock and clock.due_at else None,
        **extra,
    }


async def _queue_channel(cache: _Cache, ticket: Ticket) -> str | None:
    if ticket.tier is Tier.PARTNER:
        partner = await cache.org(ticket.partner) if ticket.partner else None
        return partner.queue_channel if partner else None
    vendor = await cache.vendor(ticket.vendor)
    if ticket.queue is Queue.BUSINESS:
        return vendor.business_queue_channel or vendor.queue_channel
    return vendor.queue_channel


async def _target(cache: _Cache, ticket: Ticket, severity: int, today: dt.date) -> sla.Target:
    overrides = await cache.overrides(ticket.vendor)
    contracts = await accounts_db.contracts_on(cache.conn, ea=ticket.ea)
    level = routing.support_level(contracts, ticket.product, severity, today, overrides)
    return sla.target_for(level, severity, overrides)


async def _begin(
    store_conn: AsyncConnection,
    actor: Actor,
    ticket_id: int,
    now: dt.datetime,
    *,
    acting: bool = True,
) -> _Change:
    cache = _Cache(store_conn)
    # Changes of one ticket queue here: a double click's second run sees the first's.
    await tickets_db.lock_ticket(store_conn, ticket_id=ticket_id)
    ticket = await _visible_ticket(store_conn, actor, ticket_id, now.date(), acting=acting)
    return _Change(store_conn, cache, actor, ticket, now)


async def _check_holder(change: _Change) -> None:
    ticket = change.ticket
    routing.check_holder(
        change.actor,
        ticket,
        vendor=await change.cache.vendor(ticket.vendor),
        partner=await change.partner(),
    )


@asynccontextmanager
async def _recorded(
    store: Store, actor: Actor, action: str, ticket_id: int, now: dt.datetime
) -> AsyncIterator[None]:
    """Record a refusal that matters (a tier rule, an access denial) in the audit trail,
    with its reason code, then let it through to the user. The failed transaction rolled
    back; this one is of its own. A refusal on a ticket the actor may see is filed under
    that ticket; one on a ticket outside their view under no ticket and no EA, so that a
    prober never shows up in someone else's trail."""
    try:
        yield
    except (Forbidden, NotFound) as error:
        async with store.write() as conn:
            ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
            seen = ticket is not None and await _sees(conn, actor, ticket, now.date())
            await audit_db.record(
                conn,
                at=now,
                actor=actor.email,
                action=f"{action}.refused",
                ea=ticket.ea if seen and ticket else None,
                ticket_id=ticket_id if seen else None,
                detail={"error": error.key} if seen else {"error": error.key, "asked": ticket_id},
            )
        raise


async def _sees(conn: AsyncConnection, actor: Actor, ticket: Ticket, today: dt.date) -> bool:
    view = None
    if actor.is_partner:
        view = await account_view(conn, actor=actor, ea=ticket.ea, today=today)
    return can_see_ticket(actor, ticket, view)


def _require_open(ticket: Ticket) -> None:
    if not ticket.status.is_open:
        raise Conflict("tickets.conflict_closed", ticket=ticket.ref, status=ticket.status.value)


# --------------------------------------------------------------------------- opening


async def fileable_accounts(
    store: Store, actor: Actor, *, now: dt.datetime
) -> list[FileableAccount]:
    """The EAs the actor may open a ticket on (for the "new ticket" modal), with their
    vendor and products."""
    async with store.read() as conn:
        cache = _Cache(conn)
        found = []
        for account in await _fileable(conn, actor, now.date()):
            products = await _products(conn, account.ea)
            found.append(FileableAccount(account, await cache.vendor(account.vendor), products))
        return found


async def _products(conn: AsyncConnection, ea: str) -> tuple[str, ...]:
    licensed = await accounts_db.products_of(conn, ea=ea)
    contracts = await accounts_db.contracts_on(conn, ea=ea)
    services = [s.service for s in await accounts_db.subscriptions_on(conn, ea=ea)]
    named = routing.account_products([], contracts, [*licensed, *services])
    return tuple(named)


async def _choose_account(
    conn: AsyncConnection, actor: Actor, ea: str | None, today: dt.date, usage: str | None
) -> Account:
    if ea is not None:
        view = await account_view(conn, actor=actor, ea=ea, today=today)
        if view is None:
            raise NotFound("tickets.ea_not_found", usage=usage, ea=ea)
        return view.account
    accounts = await _fileable(conn, actor, today)
    if len(accounts) == 1:
        return accounts[0]
    if not accounts:
        raise Forbidden("tickets.no_ea_to_file", usage=usage)
    raise UserError(
        "tickets.choose_ea", usage=usage, accounts=[(a.ea, a.name) for a in accounts[:25]]
    )


async def open_ticket(
    store: Store,
    actor: Actor,
    *,
    subject: str,
    now: dt.datetime,
    ea: str | None = None,
    severity: int = 3,
    product: str | None = None,
    business: bool = False,
    description: str | None = None,
    request_key: str | None = None,
    usage: str | None = None,
    customer_thread: tuple[str, str] | None = None,
) -> TicketOutcome:
    """``/ticket new`` and the "new ticket" modal (R1, R6); ``customer_thread`` (channel,
    ts) when it is opened from a message of a customer channel.

    ``request_key`` (Slack's trigger id or view id) makes a retry or a double submission
    answer with the ticket it already opened instead of opening a second one."""
    subject = _clean(subject)
    if not subject:
        raise UserError("tickets.subject_required", usage=usage)
    if severity not in (1, 2, 3, 4):
        raise UserError("tickets.bad_severity", usage=usage, value=severity)
    today = now.date()
    async with store.write() as conn:
        cache = _Cache(conn)
        account = await _choose_account(conn, actor, ea, today, usage)
        if product is not None:
            product = routing.match_product(product, await _products(conn, account.ea), usage=usage)
        licenses: list[License] = []
        if product is not None:
            licenses = await accounts_db.licenses_of_product(conn, ea=account.ea, product=product)
        intake = routing.route_intake(
            actor=actor,
            account=account,
            grants=await accounts_db.grants_on(conn, ea=account.ea),
            licenses=licenses,
            product=product,
            business=business,
            today=today,
        )
        ticket_id = await tickets_db.insert_ticket(
            conn,
            request_key=request_key,
            ea=account.ea,
            customer=account.customer,
            partner=intake.partner,
            vendor=account.vendor,
            tier=intake.tier,
            queue=intake.queue,
            severity=severity,
            subject=subject[:MAX_SUBJECT],
            product=product,
            description=(description or "").strip()[:MAX_TEXT] or None,
            opened_by=actor.email,
            at=now,
        )
        if ticket_id is None:  # a retry, or the same request stored an instant ago
            assert request_key is not None
            existing = await tickets_db.ticket_id_for_request(conn, request_key=request_key)
            assert existing is not None
            return await _already_opened(conn, cache, actor, existing, now)
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
        assert ticket is not None
        change = _Change(conn, cache, actor, ticket, now)
        await change.start_clock(intake.tier, await _target(cache, ticket, severity, today))
        await change.event(
            "opened",
            tier=intake.tier.value,
            queue=intake.queue.value,
            partner=intake.partner,
            severity=severity,
            product=product,
        )
        await change.audit(
            "ticket.open", tier=intake.tier.value, queue=intake.queue.value, severity=severity
        )
        await change.post_to_queue()
        if customer_thread is not None:
            await threads.open_customer_thread(change, *customer_thread)
        await change.tell_customer("dm_opened")
        return dataclasses.replace(await change.outcome("tickets.opened"), created=True)


async def _already_opened(
    conn: AsyncConnection, cache: _Cache, actor: Actor, ticket_id: int, now: dt.datetime
) -> TicketOutcome:
    ticket = await _visible_ticket(conn, actor, ticket_id, now.date())
    card = await cache.card(ticket, now, viewer=actor)
    return TicketOutcome(card=card, message="tickets.opened", params=_params(card), created=False)


# --------------------------------------------------------------------------- reading


async def show_ticket(
    store: Store, actor: Actor, ticket_id: int, *, now: dt.datetime
) -> TicketCard:
    """``/ticket show``: the ticket with both clocks and its history."""
    async with _recorded(store, actor, "ticket.show", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now, acting=False)
        await change.audit("ticket.show")
        return await change.card(events=True, viewer=actor)


async def list_tickets(
    store: Store,
    actor: Actor,
    *,
    now: dt.datetime,
    scope: str = "open",
    severity: int | None = None,
    ea: str | None = None,
    limit: int = 50,
    usage: str | None = None,
) -> TicketList:
    """``/ticket list [open|mine|all|breaching|closed] [sev<n>] [ea:<EA>]``, newest first."""
    if scope not in SCOPES:
        raise UserError("tickets.bad_scope", usage=usage, value=scope)
    today = now.date()
    async with store.write() as conn:
        cache = _Cache(conn)
        wanted_ea = None
        if ea is not None:
            view = await account_view(conn, actor=actor, ea=ea, today=today)
            if view is None:
                raise NotFound("tickets.ea_not_found", usage=usage, ea=ea)
            wanted_ea = view.account.ea
        open_only = scope not in ("all", "closed")
        found = await _tickets_in_view(conn, actor, today, open_only=open_only, severity=severity)
        if scope == "closed":
            found = [tk for tk in found if tk.status in (Status.RESOLVED, Status.CLOSED)]
        if wanted_ea is not None:
            found = [tk for tk in found if tk.ea == wanted_ea]
        if scope == "mine":
            field_name = "opened_by" if actor.is_customer else "assignee"
            found = [tk for tk in found if getattr(tk, field_name) == actor.email]
        cards = [await cache.card(tk, now, viewer=actor) for tk in found]
        if scope == "breaching":
            cards = [c for c in cards if c.breaching]
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="ticket.list",
            ea=wanted_ea,
            detail={"scope": scope, "severity": severity, "count": len(cards)},
        )
        return TicketList(tuple(cards[:limit]), scope, severity, wanted_ea)


async def _tickets_in_view(
    conn: AsyncConnection,
    actor: Actor,
    today: dt.date,
    *,
    open_only: bool,
    severity: int | None = None,
    tier: Tier | None = None,
) -> list[Ticket]:
    if actor.is_customer:
        return await tickets_db.list_tickets(
            conn, customer=actor.org.id, open_only=open_only, severity=severity, tier=tier
        )
    if actor.is_vendor:
        return await tickets_db.list_tickets(
            conn,
            vendor=actor.org.id,
            vendor_visible=True,
            open_only=open_only,
            severity=severity,
            tier=tier,
        )
    views = await visible_accounts(conn, actor=actor, today=today)
    eas = [
        v.ea
        for v in views
        if v.allows(Permission.VIEW_SUPPORT_REQUESTS) or v.allows(Permission.FILE_SUPPORT_REQUESTS)
    ]
    # Only through its grants: the tickets a partner is first line on are no exception.
    return await tickets_db.list_tickets(
        conn, eas=eas, open_only=open_only, severity=severity, tier=tier
    )


async def home_summary(store: Store, actor: Actor, *, now: dt.datetime) -> HomeSummary:
    """The App Home: the actor's open tickets with their SLA state; partners and vendor
    staff also see their queue by severity and what is breaching."""
    today = now.date()
    async with store.read() as conn:
        cache = _Cache(conn)
        visible = await _tickets_in_view(conn, actor, today, open_only=True)
        if actor.is_customer:
            mine = visible[:20]
        else:
            mine = [tk for tk in visible if tk.assignee == actor.email][:20]
        mine_cards = tuple([await cache.card(tk, now, viewer=actor) for tk in mine])
        if actor.is_customer:
            return HomeSummary(mine=mine_cards)
        if actor.is_partner:
            queue = [tk for tk in visible if tk.tier is Tier.PARTNER and tk.partner == actor.org.id]
        else:
            queue = [tk for tk in visible if tk.tier is Tier.VENDOR]
        counts = {sev: 0 for sev in (1, 2, 3, 4)}
        for tk in queue:
            counts[tk.severity] = counts.get(tk.severity, 0) + 1
        cards = [await cache.card(tk, now, viewer=actor) for tk in queue]
        labels: dict[int, str] = {}
        if actor.is_vendor:
            vendor = await cache.vendor(actor.org.id)
            labels = {sev: vendor.severity_label(sev) for sev in counts}
        return HomeSummary(
            mine=mine_cards,
            queue_name=actor.org.name,
            queue_counts=counts,
            queue_labels=labels,
            breaching=tuple(c for c in cards if c.breaching)[:15],
        )


# --------------------------------------------------------------------------- working


async def add_note(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    text: str,
    now: dt.datetime,
    usage: str | None = None,
) -> TicketOutcome:
    """``/ticket note``: anyone who sees the ticket adds to it. A note by the customer
    while it waits on them resumes the clock; the holding tier's note is a response."""
    async with _recorded(store, actor, "ticket.note", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        note = _require_text(text, "tickets.text_required", ticket, usage)
        if not ticket.status.is_open:
            raise Conflict("tickets.conflict_note_closed", ticket=ticket.ref)
        await change.event("note", text=note)
        await change.first_response()
        old_status = ticket.status
        if routing.is_customer_of(actor, ticket) and old_status is Status.WAITING_ON_CUSTOMER:
            await change.set_status(Status.IN_PROGRESS)
            await change.event("resumed")
        elif routing.holds(actor, ticket) and old_status in (
            Status.NEW,
            Status.ACKNOWLEDGED,
            Status.ESCALATED,
        ):
            await change.set_status(Status.IN_PROGRESS)
        else:
            await change.update()
        await change.audit("ticket.note")
        await change.update_queue_message()
        if change.ticket.status is not old_status:
            await change.tell_customer("dm_status", new_status=change.ticket.status.value)
        return await change.outcome("tickets.noted")


async def take(store: Store, actor: Actor, ticket_id: int, *, now: dt.datetime) -> TicketOutcome:
    """``/ticket take`` and the Take button: the holding tier's member takes it."""
    async with _recorded(store, actor, "ticket.take", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        _require_open(ticket)
        await _check_holder(change)
        if ticket.assignee == actor.email:
            raise Conflict("tickets.conflict_already_yours", ticket=ticket.ref)
        await _assign_to(change, actor.contact)
        return await change.outcome("tickets.taken")


async def assign(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    assignee_slack_id: str,
    now: dt.datetime,
) -> TicketOutcome:
    """``/ticket assign <id> <@user>``: hand the ticket to a colleague of the holding tier."""
    async with _recorded(store, actor, "ticket.assign", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        _require_open(ticket)
        vendor = await change.cache.vendor(ticket.vendor)
        partner = await change.partner()
        routing.check_holder(actor, ticket, vendor=vendor, partner=partner)
        contact = await directory_db.get_contact_by_slack_id(conn, user_id=assignee_slack_id)
        in_tier = contact is not None and (
            contact.org == ticket.partner
            if ticket.tier is Tier.PARTNER
            else contact.org == ticket.vendor and bool(contact.roles & routing.VENDOR_STAFF)
        )
        if contact is None or not in_tier:
            # One answer whether the person is unknown, of another tenant or of the other
            # tier: it names nobody and tells nothing about them.
            raise UserError(
                "tickets.assignee_not_holder",
                ticket=ticket.ref,
                user=assignee_slack_id,
                holder=vendor.name
                if ticket.tier is Tier.VENDOR
                else (partner.name if partner else ""),
            )
        if ticket.assignee == contact.email:
            raise Conflict(
                "tickets.conflict_already_assigned", ticket=ticket.ref, name=contact.name
            )
        await _assign_to(change, contact)
        if contact.email != actor.email:
            shows_keys = await change.cache.queue_shows_keys(ticket.tier, ticket, change.today)
            card = await change.cache.card(change.ticket, now, shows_keys=shows_keys)
            org = await change.cache.org(contact.org)
            locale = contact.locale or (org.locale if org else "en")
            await notify.to_person(
                conn,
                email=contact.email,
                slack_user_id=contact.slack_user_id,
                text=t(
                    "tickets.dm_assigned",
                    locale,
                    ticket=ticket.ref,
                    severity=card.severity_label,
                    subject=card.ticket.subject,
                    by=actor.contact.name,
                ),
                at=now,
                kind="assignee_notice",
                ticket_id=ticket.id,
            )
        return await change.outcome("tickets.assigned", name=contact.name)


async def _assign_to(change: _Change, contact: Contact) -> None:
    previous = change.ticket.assignee
    status = change.ticket.status
    # Taking a new or freshly escalated ticket acknowledges it.
    if status in (Status.NEW, Status.ESCALATED):
        status = Status.ACKNOWLEDGED
    kind = "taken" if contact.email == change.actor.email else "assigned"
    # Not a first response: the customer has heard nothing yet.
    await change.event(kind, assignee=contact.email, previous=previous)
    old_status = change.ticket.status
    await change.set_status(status, assignee=contact.email)
    await change.audit(f"ticket.{'take' if kind == 'taken' else 'assign'}", assignee=contact.email)
    await change.update_queue_message()
    if change.ticket.status is not old_status:
        await change.tell_customer("dm_status", new_status=change.ticket.status.value)


async def wait_on_customer(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    now: dt.datetime,
    text: str | None = None,
    usage: str | None = None,
) -> TicketOutcome:
    """``/ticket wait <id> <question…>``: the ticket waits on the customer's answer to
    the question, which reaches them whole; the clock pauses until they reply (a note by
    the customer) or the ticket moves on. Without a question nothing changes."""
    async with _recorded(store, actor, "ticket.wait", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        _require_open(ticket)
        if not routing.may_wait(actor, ticket):
            await _check_holder(change)
        routing.check_vendor_may_ask_customer(actor, ticket, await change.partner())
        if ticket.status is Status.WAITING_ON_CUSTOMER:
            raise Conflict("tickets.conflict_already_waiting", ticket=ticket.ref)
        question = _require_text(text, "tickets.question_required", ticket, usage)
        await change.event("waiting", text=question)
        await change.first_response()
        await change.pause()
        await change.set_status(Status.WAITING_ON_CUSTOMER)
        await change.audit("ticket.wait")
        await change.update_queue_message()
        await change.tell_customer("dm_waiting", question=question)
        return await change.outcome("tickets.waiting")


async def change_severity(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    severity: int,
    reason: str,
    now: dt.datetime,
    usage: str | None = None,
) -> TicketOutcome:
    """``/ticket sev <id> <1-4> <reason…>``: the running clock gets the new target."""
    if severity not in (1, 2, 3, 4):
        raise UserError("tickets.bad_severity", usage=usage, value=severity)
    async with _recorded(store, actor, "ticket.sev", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        _require_open(ticket)
        await _check_holder(change)
        why = _require_text(reason, "tickets.reason_required", ticket, usage)
        if severity == ticket.severity:
            raise Conflict(
                "tickets.conflict_same_severity",
                ticket=ticket.ref,
                severity=(await change.card()).severity_label,
            )
        old_label = (await change.card()).severity_label
        await change.event("severity", severity=severity, previous=ticket.severity, reason=why)
        # The running clock is judged on the new severity's target; it keeps running,
        # since a new severity tells the customer nothing.
        await change.update(severity=severity)
        await change.retarget(severity)
        await change.audit("ticket.sev", severity=severity, previous=ticket.severity)
        await change.update_queue_message()
        return await change.outcome("tickets.severity_changed", previous=old_label)


async def resolve(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    resolution: str,
    now: dt.datetime,
    usage: str | None = None,
) -> TicketOutcome:
    """``/ticket resolve <id> <resolution…>``."""
    async with _recorded(store, actor, "ticket.resolve", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        if ticket.status in (Status.RESOLVED, Status.CLOSED):
            raise Conflict("tickets.conflict_already_resolved", ticket=ticket.ref)
        if not routing.may_resolve(actor, ticket):
            await _check_holder(change)
        text = _require_text(resolution, "tickets.resolution_required", ticket, usage)
        await change.event("resolved", resolution=text)
        await change.first_response()
        await change.set_status(Status.RESOLVED, resolved_at=now)
        await change.audit("ticket.resolve")
        await change.update_queue_message()
        relay = routing.relays_vendor_words(actor, await change.partner())
        await change.tell_customer("dm_resolved", resolution=text if relay else None)
        return await change.outcome("tickets.resolved")


async def reopen(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    reason: str,
    now: dt.datetime,
    usage: str | None = None,
) -> TicketOutcome:
    """``/ticket reopen <id> <reason…>``: a resolved ticket goes back to work at the tier
    that had it."""
    async with _recorded(store, actor, "ticket.reopen", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        if ticket.status is Status.CLOSED:
            raise Conflict("tickets.conflict_closed_for_good", ticket=ticket.ref)
        if ticket.status is not Status.RESOLVED:
            raise Conflict("tickets.conflict_not_resolved", ticket=ticket.ref)
        if not routing.may_reopen(actor, ticket):
            await _check_holder(change)
        why = _require_text(reason, "tickets.reason_required", ticket, usage)
        await change.event("reopened", reason=why)
        await change.set_status(Status.IN_PROGRESS, resolved_at=None)
        await change.audit("ticket.reopen")
        await change.update_queue_message()
        relay = routing.relays_vendor_words(actor, await change.partner())
        await change.tell_customer("dm_reopened", reason=why if relay else None)
        return await change.outcome("tickets.reopened")


# --------------------------------------------------------------------------- moving tiers


async def _check_escalation(
    change: _Change, severity: int, reason: str | None, usage: str | None
) -> tuple[Contract | None, list[Contract], dict[tuple[str, int], int]]:
    """Load what R2–R6 look at and decide; returns the contract escalated on."""
    conn, ticket = change.conn, change.ticket
    atcs: Sequence[Contact] = []
    admins: Sequence[Contact] = []
    if ticket.partner is not None:
        atcs = await directory_db.list_contacts(conn, org=ticket.partner, role=Role.ATC)
        admins = await directory_db.list_contacts(conn, org=ticket.partner, role=Role.ADMIN)
    licenses: list[License] = []
    if ticket.product is not None:
        licenses = await accounts_db.licenses_of_product(conn, ea=ticket.ea, product=ticket.product)
    contracts = await accounts_db.contracts_on(conn, ea=ticket.ea)
    overrides = await change.cache.overrides(ticket.vendor)
    contract = routing.check_escalation(
        actor=change.actor,
        ticket=ticket,
        partner=await change.partner(),
        atcs=atcs,
        admins=admins,
        severity=severity,
        reason=reason,
        licenses=licenses,
        contracts=contracts,
        today=change.today,
        overrides=overrides,
        usage=usage,
    )
    return contract, contracts, overrides


async def prepare_escalation(
    store: Store, actor: Actor, ticket_id: int, *, now: dt.datetime
) -> TicketCard:
    """Before the escalation form opens: every rule but the reason and the severity-1
    gate (the ATC picks the severity in the form), so a refusal comes at once."""
    async with (
        _recorded(store, actor, "ticket.escalate", ticket_id, now),
        store.write() as conn,
    ):
        change = await _begin(conn, actor, ticket_id, now)
        severity = max(change.ticket.severity, 2)
        await _check_escalation(change, severity, None, None)
        await change.audit("ticket.escalation_form")
        return await change.card()


async def prepare_change(
    store: Store, actor: Actor, ticket_id: int, *, kind: str, now: dt.datetime
) -> TicketCard:
    """Before the Hand back (``kind="hand_back"``) or Resolve form opens: the same checks
    as the change itself, but for the text the form asks for."""
    async with _recorded(store, actor, "ticket.change_form", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        if kind == "hand_back":
            routing.check_hand_back(actor=actor, ticket=ticket, reason=None)
        else:
            if ticket.status in (Status.RESOLVED, Status.CLOSED):
                raise Conflict("tickets.conflict_already_resolved", ticket=ticket.ref)
            if not routing.may_resolve(actor, ticket):
                await _check_holder(change)
        await change.audit(f"ticket.{kind}_form")
        return await change.card()


async def escalate(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    reason: str,
    now: dt.datetime,
    severity: int | None = None,
    checklist: Mapping[str, object] | None = None,
    usage: str | None = None,
) -> TicketOutcome:
    """``/escalate <id> [sev<n>] <reason…>`` (R2–R6): a partner ATC hands a technical
    ticket to the vendor with the severity they assign; any partner contact forwards a
    business ticket to the vendor's business queue. The vendor's clock starts; the
    partner's stays on the card."""
    if severity is not None and severity not in (1, 2, 3, 4):
        raise UserError("tickets.bad_severity", usage=usage, value=severity)
    async with (
        _recorded(store, actor, "ticket.escalate", ticket_id, now),
        store.write() as conn,
    ):
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        sev = severity or ticket.severity
        contract, contracts, overrides = await _check_escalation(change, sev, reason, usage)
        why = reason.strip()[:MAX_TEXT]
        await change.event(
            "escalated",
            reason=why,
            severity=sev,
            previous=ticket.severity if sev != ticket.severity else None,
            contract=contract.number if contract else None,
            checklist=dict(checklist) if checklist else None,
        )
        await change.first_response()
        await change.set_status(
            Status.ESCALATED, tier=Tier.VENDOR, severity=sev, escalated_at=now, assignee=None
        )
        target = _escalation_target(
            contract, contracts, change.ticket, sev, change.today, overrides
        )
        await change.start_clock(Tier.VENDOR, target)
        await change.audit(
            "ticket.escalate", severity=sev, contract=contract.number if contract else None
        )
        await change.update_queue_message()
        await change.post_to_queue()
        await change.tell_customer("dm_escalated")
        vendor = await change.cache.vendor(ticket.vendor)
        return await change.outcome("tickets.escalated", vendor=vendor.name)


def _escalation_target(
    contract: Contract | None,
    contracts: Sequence[Contract],
    ticket: Ticket,
    severity: int,
    today: dt.date,
    overrides: Mapping[tuple[str, int], int],
) -> sla.Target:
    level = (
        contract.level
        if contract is not None
        else routing.support_level(contracts, ticket.product, severity, today, overrides)
    )
    return sla.target_for(level, severity, overrides)


async def reassign(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    reason: str,
    now: dt.datetime,
    usage: str | None = None,
) -> TicketOutcome:
    """``/reassign <id> <reason…>`` (R7): the vendor hands the ticket back to the partner
    tier; the partner's queue gets it with the reason, and its clock starts again."""
    async with _recorded(store, actor, "ticket.reassign", ticket_id, now), store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        routing.check_hand_back(actor=actor, ticket=ticket, reason=reason, usage=usage)
        why = reason.strip()[:MAX_TEXT]
        await change.event("handed_back", reason=why, partner=ticket.partner)
        await change.first_response()
        await change.set_status(Status.IN_PROGRESS, tier=Tier.PARTNER, assignee=None)
        await change.start_clock(
            Tier.PARTNER,
            await _target(change.cache, change.ticket, change.ticket.severity, now.date()),
        )
        await change.audit("ticket.reassign", partner=ticket.partner)
        await change.update_queue_message()
        await change.post_to_queue()
        await change.tell_customer("dm_handed_back", reason=why)
        partner = await change.partner()
        return await change.outcome("tickets.handed_back", partner=partner.name if partner else "")


# --------------------------------------------------------------------------- a partner leaves


async def release_partner_tickets(
    conn: AsyncConnection, *, ea: str, partner: str, actor: Actor | None, now: dt.datetime
) -> list[str]:
    """A partner lost its hold on an EA: its grant was revoked, lapsed, or no longer
    carries ``file_support_requests``. Each open ticket it is first line on moves, in
    the caller's transaction:

    - at partner tier, to the customer's other partner holding ``file_support_requests``
      (R1 picks it: the seller of the product's license first), else to the vendor tier;
      it starts untaken, with a new first-response clock for whoever holds it now;
    - at vendor tier, it stays with the vendor, and a hand-back (R7) goes to that other
      partner (or nowhere).

    Each move is a ticket event (``partner_removed``) and an audit entry; the customer
    is told by DM (unless they made the change themselves), the old queue message loses
    its buttons, the new holder's queue gets the ticket. Returns the refs moved."""
    today = now.date()
    cache = _Cache(conn)
    grants = [g for g in await accounts_db.grants_on(conn, ea=ea) if g.partner != partner]
    held = await tickets_db.list_tickets(
        conn, eas=[ea], partner=partner, open_only=True, limit=100_000
    )
    moved = []
    for found in sorted(held, key=lambda tk: tk.id):
        await tickets_db.lock_ticket(conn, ticket_id=found.id)
        ticket = await tickets_db.get_ticket(conn, ticket_id=found.id)
        if ticket is None or ticket.partner != partner or not ticket.status.is_open:
            continue
        licenses: list[License] = []
        if ticket.product is not None:
            licenses = await accounts_db.licenses_of_product(conn, ea=ea, product=ticket.product)
        successor = routing.first_line_partner(grants, licenses, ticket.product, today)
        # The old partner's queue post stops being the ticket's partner thread: nothing
        # more is relayed or posted there, and messages written there are no ticket's.
        # The successor's queue post (or hand-back) starts the new one.
        await threads_db.forget_thread(conn, ticket_id=ticket.id, side=ThreadSide.PARTNER)
        await _leave_partners_channel(conn, ticket_id=ticket.id, partner=partner)
        change = _Change(conn, cache, actor, ticket, now)
        if ticket.tier is Tier.PARTNER:
            tier = Tier.PARTNER if successor is not None else Tier.VENDOR
            await change.event(
                "partner_removed", previous=partner, partner=successor, tier=tier.value
            )
            waiting = ticket.status is Status.WAITING_ON_CUSTOMER
            await change.update(
                tier=tier,
                partner=successor,
                assignee=None,
                status=Status.WAITING_ON_CUSTOMER if waiting else Status.NEW,
            )
            await change.start_clock(
                tier, await _target(cache, change.ticket, change.ticket.severity, today)
            )
            if waiting:
                await change.pause()
            await change.update_queue_message()
            await change.post_to_queue()
        else:
            await change.event(
                "partner_removed", previous=partner, partner=successor, tier=ticket.tier.value
            )
            await change.update(partner=successor)
            await change.update_queue_message()
        await change.audit(
            "ticket.partner_removed",
            previous=partner,
            partner=successor,
            tier=change.ticket.tier.value,
        )
        holder = (await change.card()).holder_name
        previous = _org_name(await cache.org(partner), partner)
        await change.tell_customer("dm_partner_removed", previous=previous, holder=holder)
        moved.append(ticket.ref)
    return moved


async def _leave_partners_channel(conn: AsyncConnection, *, ticket_id: int, partner: str) -> None:
    """A customer thread in a channel shared with the partner that lost the ticket stops
    being its customer thread: that partner would read every word there. The customer's
    direct messages carry the conversation on (the notice of the move starts it)."""
    customer = (await threads_db.threads_of(conn, ticket_id=ticket_id)).get(ThreadSide.CUSTOMER)
    if customer is None or customer.channel.startswith("D"):
        return
    link = await threads_db.get_channel(conn, channel=customer.channel)
    if link is None or link.partner == partner:
        await threads_db.forget_thread(conn, ticket_id=ticket_id, side=ThreadSide.CUSTOMER)


def _org_name(org: Organization | None, fallback: str) -> str:
    return org.name if org is not None else fallback


async def release_lapsed_grants(store: Store, *, now: dt.datetime) -> list[str]:
    """Move the tickets of partners whose grant lapsed (``until`` passed) or no longer
    allows filing support requests; run by the reminder scanner. Idempotent: a partner
    whose tickets moved holds none there any more."""
    today = now.date()
    async with store.read() as conn:
        holders = await tickets_db.open_ticket_holders(conn)
        stale = []
        for ea, partner in holders:
            grant = await accounts_db.get_grant(conn, ea=ea, partner=partner)
            if grant is None or not grant.allows(Permission.FILE_SUPPORT_REQUESTS, today):
                stale.append((ea, partner))
    moved: list[str] = []
    for ea, partner in stale:
        async with store.write() as conn:
            grant = await accounts_db.get_grant(conn, ea=ea, partner=partner)
            if grant is not None and grant.allows(Permission.FILE_SUPPORT_REQUESTS, today):
                continue  # renewed meanwhile
            moved += await release_partner_tickets(
                conn, ea=ea, partner=partner, actor=None, now=now
            )
    return moved
