"""Use cases of the ticket threads: opening a ticket from a message of a customer
channel, relaying what is said in one thread to the others, explicit replies to the
customer or to the vendor, and linking channels to organizations.

The relay rules (see ``bot.threads`` for how messages reach Slack):

- a customer's message in the customer thread goes to the partner thread (to the vendor
  thread when the customer has no partner), and a ticket waiting on the customer goes
  back to work: its clocks resume;
- messages in the partner thread are the partner's internal talk: they are stored and
  relayed nowhere. Replies to the customer are explicit (``/ticket reply``, the message
  shortcut), and go to the customer thread under the partner's name;
- the vendor's messages in the vendor thread go to the partner thread; partner ATCs
  answer the vendor explicitly (``/ticket reply <id> vendor``, the shortcut);
- under R2 nothing from the vendor thread reaches an MSP's customer but what the MSP
  writes itself; another partner may pass a vendor's answer on as it is, with one click.

Each use case runs in one transaction: the ticket event, the audit entry and the posts
it owes are stored together, or not at all.
"""

from __future__ import annotations

import datetime as dt
import html
import re
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import parser, routing, threads, tickets
from bot.blocks import threads as thread_blocks
from bot.domain import (
    Account,
    Channel,
    ChannelRole,
    OrgKind,
    Permission,
    Role,
    Status,
    ThreadSide,
    Ticket,
)
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.render import t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from bot.store import threads as threads_db
from bot.store import tickets as tickets_db
from bot.tickets import MAX_TEXT, TicketOutcome, _begin, _Change
from bot.visibility import Actor, load_actor

USAGE_REPLY = "threads.usage_reply"
USAGE_CHANNEL = "threads.usage_channel"
QUESTION_KIND = "thread_question"  # outbox kind of what the bot asks in a message's thread
_SEVERITY_WORD = re.compile(r"sev[0-9]+", re.IGNORECASE)
_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")


# --------------------------------------------------------------------------- channels


async def customer_channel(store: Store, channel: str) -> Channel | None:
    """The link of a customer channel, or None for any other channel."""
    async with store.read() as conn:
        found = await threads_db.get_channel(conn, channel=channel)
    return found if found is not None and found.role is ChannelRole.CUSTOMER else None


async def link_channel(
    store: Store,
    actor: Actor,
    *,
    channel: str,
    org_id: str,
    role: str | None,
    now: dt.datetime,
) -> Channel:
    """``/supportbot channel link <org-id> [customer|escalation]``, typed in the channel:
    a partner admin says whom the channel is shared with."""
    _require_partner_admin(actor)
    if not channel or channel.startswith("D"):
        raise UserError("threads.link_in_a_channel", usage=USAGE_CHANNEL)
    if role is not None and role not in {r.value for r in ChannelRole}:
        raise UserError("threads.link_bad_role", usage=USAGE_CHANNEL, value=role)
    async with store.write() as conn:
        org = await directory_db.get_organization(conn, id=org_id)
        if org is None or org.kind is OrgKind.PARTNER:
            raise NotFound("threads.link_unknown_org", usage=USAGE_CHANNEL, org=org_id)
        wanted = (
            ChannelRole(role)
            if role
            else (ChannelRole.CUSTOMER if org.kind is OrgKind.CUSTOMER else ChannelRole.ESCALATION)
        )
        if wanted is ChannelRole.CUSTOMER and org.kind is not OrgKind.CUSTOMER:
            raise UserError(
                "threads.link_role_mismatch", usage=USAGE_CHANNEL, org=org.name, role=wanted.value
            )
        if wanted is ChannelRole.ESCALATION and org.kind is not OrgKind.VENDOR:
            raise UserError(
                "threads.link_role_mismatch", usage=USAGE_CHANNEL, org=org.name, role=wanted.value
            )
        if wanted is ChannelRole.CUSTOMER:
            # The channel carries the customer's tickets: only a partner that files them
            # (not one reading orders alone) shares it.
            mine = {
                g.ea
                for g in await accounts_db.grants_of_partner(
                    conn, partner=actor.org.id, active_on=now.date()
                )
                if g.allows(Permission.FILE_SUPPORT_REQUESTS, now.date())
            }
            theirs = {a.ea for a in await accounts_db.list_accounts(conn, customer=org.id)}
            if not mine & theirs:
                raise Forbidden(
                    "threads.link_not_your_customer", org=org.name, partner=actor.org.name
                )
        existing = await threads_db.get_channel(conn, channel=channel)
        if existing is not None:
            current = await directory_db.get_organization(conn, id=existing.org)
            raise Conflict(
                "threads.link_exists",
                channel=channel,
                org=current.name if current else existing.org,
                role=existing.role.value,
            )
        link = Channel(channel=channel, org=org.id, role=wanted, partner=actor.org.id)
        await threads_db.insert_channel(conn, channel=link, linked_by=actor.email, at=now)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="channel.link",
            detail={"channel": channel, "org": org.id, "role": wanted.value},
        )
        return link


async def unlink_channel(store: Store, actor: Actor, *, channel: str, now: dt.datetime) -> Channel:
    """``/supportbot channel unlink``, typed in the channel: the bot forgets whom it is
    shared with (tickets already opened there keep their threads)."""
    _require_partner_admin(actor)
    async with store.write() as conn:
        link = await threads_db.get_channel(conn, channel=channel)
        if link is None or link.partner != actor.org.id:
            raise NotFound("threads.not_linked", usage=USAGE_CHANNEL, channel=channel)
        await threads_db.delete_channel(conn, channel=channel)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="channel.unlink",
            detail={"channel": channel, "org": link.org, "role": link.role.value},
        )
        return link


def _require_partner_admin(actor: Actor) -> None:
    if not (actor.is_partner and actor.has(Role.ADMIN)):
        raise Forbidden("threads.refuse_link_admin_only")


# --------------------------------------------------------------------------- intake


@dataclass(frozen=True)
class MessageTicket:
    """What a message of a customer channel asks for, read like ``/ticket new``."""

    subject: str
    description: str
    severity: int = 3
    business: bool = False
    ea: str | None = None
    product: str | None = None


def read_message(text: str) -> MessageTicket:
    """The ticket a message describes: options (``ea:``, ``product:``) anywhere, a leading
    severity (``sev2``) or ``business``, the first line as the subject and the whole
    message, mentions of people left out, as the description."""
    plain = html.unescape(_MENTION.sub(" ", text or "")).strip()
    args = parser.split_args(plain, options=("ea", "product"), usage="tickets.usage_new")
    first = next((line for line in plain.splitlines() if line.strip()), "")
    words = parser.split_args(first, options=("ea", "product")).words
    severity, business = 3, False
    while words and (_SEVERITY_WORD.fullmatch(words[0]) or words[0].lower() == "business"):
        word = words.pop(0)
        if word.lower() == "business":
            business = True
        else:
            severity = parser.severity(word, usage="tickets.usage_new")
    ea = args.options.get("ea")
    return MessageTicket(
        subject=" ".join(words),
        description=plain,
        severity=severity,
        business=business,
        ea=parser.ea_number(ea, usage="tickets.usage_new") if ea else None,
        product=args.options.get("product"),
    )


@dataclass(frozen=True)
class Intake:
    """The result of a message turned into a ticket: the outcome, or the EAs to choose
    from (the bot asked in the thread)."""

    outcome: TicketOutcome | None = None
    choose_from: tuple[Account, ...] = ()


def request_key(channel: str, ts: str) -> str:
    """One message opens one ticket, whatever path (mention, reaction, shortcut) or
    delivery (Slack's retries, a second instance) it comes by."""
    return f"message:{channel}:{ts}"


async def open_from_message(
    store: Store,
    actor: Actor,
    *,
    link: Channel,
    ts: str,
    text: str,
    now: dt.datetime,
    ea: str | None = None,
    by: Actor | None = None,
) -> Intake:
    """A message of a customer channel becomes a ticket of that customer, by the rules
    of ``/ticket new``; the bot answers in the message's thread. ``by``: who reacted or
    used the shortcut on it, when not its author."""
    if actor.org.id not in (link.org, link.partner):
        raise Forbidden("threads.intake_not_member")
    if by is not None and by.is_partner and not await _files_for(store, by, link.org, now):
        # A partner's reaction or shortcut opens a customer's message only while its grant
        # lets it file that customer's tickets: a revoked partner does nothing more.
        raise Forbidden("threads.intake_not_member")
    key = request_key(link.channel, ts)
    async with store.read() as conn:
        already = await tickets_db.ticket_id_for_request(conn, request_key=key)
    wanted = read_message(text)
    ea = ea or wanted.ea
    if already is None and ea is None:
        fileable = [
            f.account
            for f in await tickets.fileable_accounts(store, actor, now=now)
            if f.account.customer == link.org
        ]
        if not fileable:
            raise Forbidden("tickets.no_ea_to_file")
        if len(fileable) > 1:
            await _ask_for_ea(store, link, ts, fileable, now)
            return Intake(choose_from=tuple(fileable))
        ea = fileable[0].ea
    if already is None and ea is not None:
        async with store.read() as conn:
            account = await accounts_db.get_account(conn, ea=ea)
        if account is None or account.customer != link.org:
            raise NotFound("tickets.ea_not_found", ea=ea)
        if link.partner is not None and not await _partner_files(store, link.partner, ea, now):
            # The channel is shared with a partner that no longer handles this EA: a
            # ticket opened here would be read there.
            raise Forbidden("threads.intake_partner_left", ea=ea)
    outcome = await tickets.open_ticket(
        store,
        actor,
        subject=wanted.subject or wanted.description,
        ea=ea,
        severity=wanted.severity,
        product=wanted.product,
        business=wanted.business,
        description=wanted.description,
        request_key=key,
        customer_thread=(link.channel, ts),
        now=now,
        usage="tickets.usage_new",
    )
    return Intake(outcome=outcome)


async def _partner_files(store: Store, partner: str, ea: str, now: dt.datetime) -> bool:
    async with store.read() as conn:
        grant = await accounts_db.get_grant(conn, ea=ea, partner=partner)
    return grant is not None and grant.allows(Permission.FILE_SUPPORT_REQUESTS, now.date())


async def _files_for(store: Store, actor: Actor, customer: str, now: dt.datetime) -> bool:
    return any(
        f.account.customer == customer
        for f in await tickets.fileable_accounts(store, actor, now=now)
    )


async def _ask_for_ea(
    store: Store, link: Channel, ts: str, accounts: list[Account], now: dt.datetime
) -> None:
    async with store.write() as conn:
        customer = await directory_db.get_organization(conn, id=link.org)
        locale = customer.locale if customer else "en"
        await outbox_db.enqueue(
            conn,
            kind=QUESTION_KIND,
            method="chat.postMessage",
            payload={
                "channel": link.channel,
                "thread_ts": ts,
                "text": t("threads.choose_ea", locale),
                "blocks": [b.to_dict() for b in thread_blocks.ea_picker(accounts, locale)],
            },
            at=now,
            dedupe_key=f"ask-ea:{link.channel}:{ts}",
        )


async def answer_in_thread(
    store: Store, *, channel: str, ts: str, text: str, now: dt.datetime, key: str
) -> None:
    """Say something in a message's thread (why no ticket was opened), once per key."""
    async with store.write() as conn:
        await outbox_db.enqueue(
            conn,
            kind=QUESTION_KIND,
            method="chat.postMessage",
            payload={"channel": channel, "thread_ts": ts, "text": text},
            at=now,
            dedupe_key=f"answer:{key}",
        )


# --------------------------------------------------------------------------- relays


async def _locale(change: _Change, side: ThreadSide) -> str:
    return await threads.side_locale(change, side)


async def _customer_email(change: _Change) -> str | None:
    opener = await change.cache.contact(change.ticket.opened_by)
    account = await change.cache.account(change.ticket.ea)
    return routing.customer_recipient(change.ticket, opener, account)


async def _relay(
    change: _Change,
    *,
    to: ThreadSide,
    message: str,
    author: Actor,
    text: str,
    dedupe_key: str | None = None,
    vendor_ts: str | None = None,
) -> bool:
    """Owe ``text`` in the ``to`` thread as ``author`` wrote it (escaped, named as that
    thread's reader may know them, license keys masked when that reader may not read
    them). Nothing goes to a partner thread whose partner no longer reads the ticket."""
    if not await threads.may_read(change, to):
        return False
    partner = await change.partner()
    locale = await _locale(change, to)
    label = threads.author_label(
        name=author.contact.name, org=author.org, reader=to, partner=partner
    )
    shown = (await threads.side_lens(change, to)).text(text)
    body = t(message, locale, label=label, text=threads.neutralize(shown), ticket=change.ticket.ref)
    blocks = None
    if to is ThreadSide.PARTNER and author.org.id == change.ticket.customer:
        blocks = [
            b.to_dict()
            for b in thread_blocks.relayed_customer_message(
                body, ticket_id=change.ticket.id, locale=locale
            )
        ]
    if vendor_ts is not None and not routing.is_msp(partner):
        blocks = [
            b.to_dict()
            for b in thread_blocks.relayed_vendor_answer(
                body, ticket_id=change.ticket.id, ts=vendor_ts, locale=locale
            )
        ]
    return await threads.owe_post(
        change.conn,
        ticket_id=change.ticket.id,
        side=to,
        text=body,
        blocks=blocks,
        at=change.now,
        dedupe_key=dedupe_key,
        dm_email=await _customer_email(change) if to is ThreadSide.CUSTOMER else None,
    )


def _first_line_side(ticket: Ticket) -> ThreadSide:
    """The thread of whoever answers the customer: its partner's, or the vendor's."""
    return ThreadSide.PARTNER if ticket.partner is not None else ThreadSide.VENDOR


async def thread_message(
    store: Store,
    author: Actor,
    *,
    channel: str,
    thread_ts: str,
    ts: str,
    text: str,
    now: dt.datetime,
) -> str | None:
    """Someone wrote in a ticket's thread: store it, and relay it where the rules say.
    Returns the ticket event kind recorded, or None when the message is not one for a
    ticket (not a ticket thread, not a party of it, or seen already)."""
    async with store.write() as conn:
        thread = await threads_db.thread_at(conn, channel=channel, ts=thread_ts)
        if thread is None:
            return None
        try:
            change = await _begin(conn, author, thread.ticket_id, now)
        except UserError:
            return None  # outside the author's view: as if the thread were not a ticket's
        ticket = change.ticket
        kind = _message_kind(author, ticket, thread.side)
        if kind is None:
            return None
        if not await threads_db.remember_message(
            conn,
            channel=channel,
            ts=ts,
            ticket_id=ticket.id,
            side=thread.side,
            author=author.email,
            text=text[:MAX_TEXT],
            at=now,
        ):
            return None  # the same event again
        plain = html.unescape(text)[:MAX_TEXT]
        await change.event(kind, text=plain, ts=ts)
        if kind == "customer_message":
            if ticket.status is Status.WAITING_ON_CUSTOMER:
                await change.set_status(Status.IN_PROGRESS)
                await change.event("resumed")
                await change.update_queue_message()
            await _relay(
                change,
                to=_first_line_side(ticket),
                message="threads.relayed_from_customer",
                author=author,
                text=text,
            )
        elif kind == "partner_to_customer":
            await change.first_response()
            await _relay(
                change,
                to=ThreadSide.PARTNER,
                message="threads.copied_to_customer",
                author=author,
                text=text,
            )
        elif kind == "vendor_message":
            await change.first_response()
            if ticket.partner is not None:
                await _relay(
                    change,
                    to=ThreadSide.PARTNER,
                    message="threads.relayed_from_vendor",
                    author=author,
                    text=text,
                    vendor_ts=ts,
                )
        await change.audit(f"ticket.{kind}", side=thread.side.value)
        return kind


def _message_kind(author: Actor, ticket: Ticket, side: ThreadSide) -> str | None:
    if side is ThreadSide.CUSTOMER:
        if routing.is_customer_of(author, ticket):
            return "customer_message"
        if routing.is_partner_of(author, ticket):
            return "partner_to_customer"  # said in the shared channel: the customer read it
        return None
    if side is ThreadSide.PARTNER:
        return "internal_message" if routing.is_partner_of(author, ticket) else None
    if routing.is_vendor_staff(author, ticket.vendor):
        return "vendor_message"
    if routing.is_partner_of(author, ticket):
        return "internal_message"
    return None


async def reply_to_customer(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    text: str,
    now: dt.datetime,
    source: str | None = None,
    usage: str | None = USAGE_REPLY,
) -> TicketOutcome:
    """``/ticket reply <id> <text…>`` and the *Reply to customer* shortcut: the partner
    (the vendor, for a customer without partner) writes in the customer thread."""
    async with store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        _check_may_reply_customer(actor, ticket)
        said = _required(text, ticket, usage)
        if not await _relay(
            change,
            to=ThreadSide.CUSTOMER,
            message="threads.reply",
            author=actor,
            text=said,
            dedupe_key=f"reply:customer:{source}" if source else None,
        ):
            raise Conflict("threads.already_relayed", ticket=ticket.ref)
        await change.event("reply_to_customer", text=html.unescape(said))
        await change.first_response()
        await _relay(
            change,
            to=_first_line_side(ticket),
            message="threads.copied_to_customer",
            author=actor,
            text=said,
        )
        await change.audit("ticket.reply", to="customer")
        return await change.outcome("threads.replied_to_customer")


def _check_may_reply_customer(actor: Actor, ticket: Ticket) -> None:
    may = routing.is_partner_of(actor, ticket) or (
        ticket.partner is None and routing.is_vendor_staff(actor, ticket.vendor)
    )
    if not may:
        raise Forbidden("threads.refuse_reply_customer", ticket=ticket.ref)
    if not ticket.status.is_open:
        raise Conflict("tickets.conflict_note_closed", ticket=ticket.ref)


async def prepare_reply(store: Store, actor: Actor, ticket_id: int, *, now: dt.datetime) -> Ticket:
    """Before the reply form opens: the same checks as the reply, so a refusal comes at once."""
    async with store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        _check_may_reply_customer(actor, change.ticket)
        return change.ticket


async def reply_to_vendor(
    store: Store,
    actor: Actor,
    ticket_id: int,
    *,
    text: str,
    now: dt.datetime,
    source: str | None = None,
    usage: str | None = USAGE_REPLY,
) -> TicketOutcome:
    """``/ticket reply <id> vendor <text…>``: a partner ATC writes in the vendor thread
    (R4: only ATCs talk to the vendor)."""
    async with store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        atcs = (
            await directory_db.list_contacts(conn, org=ticket.partner, role=Role.ATC)
            if ticket.partner and not actor.has(Role.ATC)
            else []
        )
        routing.check_talks_to_vendor(actor, ticket, atcs)
        said = _required(text, ticket, usage)
        if ticket.escalated_at is None:
            raise Conflict("threads.not_escalated", ticket=ticket.ref)
        if not await _relay(
            change,
            to=ThreadSide.VENDOR,
            message="threads.reply",
            author=actor,
            text=said,
            dedupe_key=f"reply:vendor:{source}" if source else None,
        ):
            raise Conflict("threads.already_relayed", ticket=ticket.ref)
        await change.event("reply_to_vendor", text=html.unescape(said))
        await _relay(
            change,
            to=ThreadSide.PARTNER,
            message="threads.copied_to_vendor",
            author=actor,
            text=said,
        )
        await change.audit("ticket.reply", to="vendor")
        vendor = await change.cache.vendor(ticket.vendor)
        return await change.outcome("threads.replied_to_vendor", vendor=vendor.name)


async def relay_vendor_answer(
    store: Store, actor: Actor, ticket_id: int, *, ts: str, now: dt.datetime
) -> TicketOutcome:
    """The one-click relay: a partner that is not an MSP passes a vendor's message on to
    the customer as it is, under the vendor engineer's name."""
    async with store.write() as conn:
        change = await _begin(conn, actor, ticket_id, now)
        ticket = change.ticket
        if not routing.is_partner_of(actor, ticket):
            raise Forbidden("threads.refuse_reply_customer", ticket=ticket.ref)
        if routing.is_msp(await change.partner()):
            raise Forbidden("threads.refuse_msp_relay", ticket=ticket.ref)
        found = await threads_db.get_message(conn, ticket_id=ticket.id, ts=ts)
        if found is None or found[0] is not ThreadSide.VENDOR:
            raise NotFound("threads.message_not_found", ticket=ticket.ref)
        _side, email, text = found
        author = await _author(conn, email)
        if author is None:
            raise NotFound("threads.message_not_found", ticket=ticket.ref)
        if not await _relay(
            change,
            to=ThreadSide.CUSTOMER,
            message="threads.reply",
            author=author,
            text=text,
            dedupe_key=f"relay-vendor:{ticket.id}:{ts}",
        ):
            raise Conflict("threads.already_relayed", ticket=ticket.ref)
        await change.event("vendor_answer_relayed", ts=ts, author=email)
        await change.audit("ticket.relay_vendor_answer")
        return await change.outcome("threads.replied_to_customer")


async def _author(conn: AsyncConnection, email: str | None) -> Actor | None:
    if email is None:
        return None
    return await load_actor(conn, email=email, default_locale="en")


def _required(text: str, ticket: Ticket, usage: str | None) -> str:
    cleaned = (text or "").strip()
    if not cleaned:
        raise UserError("tickets.text_required", usage=usage, ticket=ticket.ref)
    return cleaned[:MAX_TEXT]


async def thread_ticket(store: Store, *, channel: str, thread_ts: str) -> TicketThreadRef | None:
    """The ticket and side of a thread, for the message shortcuts."""
    async with store.read() as conn:
        thread = await threads_db.thread_at(conn, channel=channel, ts=thread_ts)
    if thread is None:
        return None
    return TicketThreadRef(ticket_id=thread.ticket_id, side=thread.side)


@dataclass(frozen=True)
class TicketThreadRef:
    ticket_id: int
    side: ThreadSide


async def describe_link(store: Store, link: Channel, locale: str, *, linked: bool) -> str:
    async with store.read() as conn:
        org = await directory_db.get_organization(conn, id=link.org)
    name = org.name if org else link.org
    if linked:
        return t("threads.linked", locale, channel=link.channel, org=name, role=link.role.value)
    return t("threads.unlinked", locale, channel=link.channel, org=name)
