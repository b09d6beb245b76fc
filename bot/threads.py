"""The threads of a ticket and how messages travel between them.

A ticket links up to three organizations, and has one thread with each: the customer
thread (the message it was opened from in the customer's shared channel, or the bot's
direct message to the customer), the partner thread (its queue post) and the vendor
thread (the vendor's queue post, once escalated). What the bot posts in a thread is
owed through the outbox like every other message: the worker finds the thread's
channel and ``ts`` when it delivers (``thread_payload``), waits while the post that
starts the thread is still owed, and records each thread once its first post is
delivered (``record_delivery``).

Rules of the relays (``bot.conversations`` applies them):

- what is relayed is escaped (no mention pings anyone, no link markup survives) and
  carries its author's name as its reader may see it: the customer of an MSP never sees
  a vendor's name, only its partner's (R2);
- a ticket opened from a shared channel's message lives in its threads: each status
  change is one line in every thread whose reader may see it, and the cards there are
  updated in place. The customer's direct messages already carry the status notices,
  so a direct-message thread gets no second line.
"""

from __future__ import annotations

import datetime as dt
import html
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import routing
from bot.blocks import threads as thread_blocks
from bot.blocks import tickets as ticket_blocks
from bot.domain import Organization, OrgKind, Status, ThreadSide, TicketThread, Tier
from bot.render import slack_escape, t, truncate
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from bot.store import threads as threads_db
from bot.store import tickets as tickets_db
from bot.store.outbox import OutboxEntry
from bot.visibility import Lens, customer_lens, lens_for, shows_tickets

if TYPE_CHECKING:
    from bot.tickets import _Change

THREAD_OF = "_thread_of"  # payload key: the side whose thread gets the message
CARD = "_card"  # payload key: the message is (or updates) the ticket card of that thread
MAX_TEXT = 3000
CUSTOMER_NOTICE = "customer_notice"  # outbox kind of the customer's direct messages
PARENT_KINDS = {
    ThreadSide.CUSTOMER: CUSTOMER_NOTICE,
    ThreadSide.PARTNER: "queue_post",
    ThreadSide.VENDOR: "queue_post",
}


def kind_of(side: ThreadSide) -> str:
    """The outbox kind (and ordering stream) of what is posted in one side's threads."""
    return f"thread_{side.value}"


THREAD_KINDS = tuple(kind_of(side) for side in ThreadSide)


class NotReady(Exception):
    """The thread's first post is still owed: deliver this one after it."""


class Gone(Exception):
    """The message has no thread to go to, and never will."""


# --------------------------------------------------------------------------- text


def neutralize(text: str) -> Markup:
    """A Slack message's text, safe to repeat elsewhere: every ``<…>`` (mentions,
    ``<!channel>``, links) shows as the characters typed, and pings nobody."""
    return Markup(slack_escape(html.unescape(text or "")))


def author_label(
    *, name: str, org: Organization, reader: ThreadSide, partner: Organization | None
) -> str:
    """The author of a relayed message as the reader may know them."""
    if reader is ThreadSide.CUSTOMER:
        if org.kind is OrgKind.VENDOR and routing.is_msp(partner) and partner is not None:
            return partner.name  # R2: the MSP speaks for its vendor
        if org.kind is OrgKind.CUSTOMER:
            return name
    return f"{name} ({org.name})"


async def may_read(change: _Change, side: ThreadSide) -> bool:
    """Whether the reader of that side's thread may read the ticket now. The partner's
    thread is read by the partner's people: through its grant on the EA alone, read
    afresh, as every other view of the ticket (a revoked or lapsed grant reads nothing,
    even before its tickets have moved on)."""
    if side is not ThreadSide.PARTNER:
        return True
    ticket = change.ticket
    if ticket.partner is None:
        return False
    grant = await accounts_db.get_grant(change.conn, ea=ticket.ea, partner=ticket.partner)
    return grant is not None and grant.active(change.today) and shows_tickets(grant.permissions)


async def side_lens(change: _Change, side: ThreadSide) -> Lens:
    """What the reader of that side's thread may be shown: the customer reads its ticket
    through its own lens (R2 for an MSP's customer; its keys are its own), the partner's
    channel sees license keys only with view_license_keys on the EA, the vendor all."""
    ticket = change.ticket
    partner = await change.partner()
    if side is ThreadSide.CUSTOMER:
        return customer_lens(partner)
    shows_keys = await change.cache.queue_shows_keys(
        Tier.PARTNER if side is ThreadSide.PARTNER else Tier.VENDOR, ticket, change.today
    )
    return lens_for(None, customer=ticket.customer, partner=partner, shows_keys=shows_keys)


def side_of_tier(tier: Tier) -> ThreadSide:
    return ThreadSide.PARTNER if tier is Tier.PARTNER else ThreadSide.VENDOR


# --------------------------------------------------------------------------- owing posts


async def owe_post(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    side: ThreadSide,
    text: str,
    at: dt.datetime,
    blocks: list[dict[str, Any]] | None = None,
    dedupe_key: str | None = None,
    dm_email: str | None = None,
    card: bool = False,
) -> bool:
    """Owe a message in the ticket's thread of ``side``. ``dm_email``: the customer to
    start a direct-message thread with when the ticket has no customer thread yet."""
    payload: dict[str, Any] = {
        THREAD_OF: side.value,
        "text": truncate(text, MAX_TEXT),
        "unfurl_links": False,
        "unfurl_media": False,
    }
    if blocks:
        payload["blocks"] = blocks
    if dm_email:
        payload["user_email"] = dm_email
    if card:
        payload[CARD] = True
    return await outbox_db.enqueue(
        conn,
        kind=kind_of(side),
        method="chat.postMessage",
        payload=payload,
        at=at,
        ticket_id=ticket_id,
        dedupe_key=dedupe_key,
    )


async def owe_card_update(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    side: ThreadSide,
    text: str,
    blocks: list[dict[str, Any]],
    at: dt.datetime,
) -> None:
    payload = {
        THREAD_OF: side.value,
        CARD: True,
        "text": truncate(text, MAX_TEXT),
        "blocks": blocks,
    }
    await outbox_db.enqueue(
        conn,
        kind=kind_of(side),
        method="chat.update",
        payload=payload,
        at=at,
        ticket_id=ticket_id,
    )


# --------------------------------------------------------------------------- the worker's side


async def thread_payload(store: Store, entry: OutboxEntry) -> dict[str, Any]:
    """The payload of a thread message as Slack gets it: its channel and ``thread_ts``
    (or, for a card update, the card's ``ts``). Raises NotReady while the thread's first
    post is owed, Gone when there is no thread to post in."""
    payload = dict(entry.payload)
    side = ThreadSide(payload.pop(THREAD_OF))
    payload.pop(CARD, None)
    if entry.ticket_id is None:
        raise Gone("a thread message without a ticket")
    async with store.read() as conn:
        thread = (await threads_db.threads_of(conn, ticket_id=entry.ticket_id)).get(side)
        parent_owed = await outbox_db.has_pending(
            conn, ticket_id=entry.ticket_id, kind=PARENT_KINDS[side]
        )
    if entry.method == "chat.update":
        if thread is not None and thread.card_ts is not None:
            payload["channel"], payload["ts"] = thread.channel, thread.card_ts
            return payload
        if parent_owed:
            raise NotReady
        raise Gone(f"T-{entry.ticket_id} has no card in its {side.value} thread")
    if thread is not None and thread.ts is not None:
        payload.pop("user_email", None)
        payload["channel"], payload["thread_ts"] = thread.channel, thread.ts
        return payload
    if parent_owed:
        raise NotReady
    if side is ThreadSide.CUSTOMER and payload.get("user_email"):
        return payload  # a direct message to the customer starts the customer thread
    raise Gone(f"T-{entry.ticket_id} has no {side.value} thread")


async def record_delivery(conn: AsyncConnection, entry: OutboxEntry, data: dict[str, Any]) -> None:
    """After a delivery: a queue post becomes its ticket's queue message, and the post
    that starts a thread becomes that thread."""
    from bot.tickets import QUEUE_POST  # bot.tickets imports this module

    channel, ts = data.get("channel"), data.get("ts")
    if entry.ticket_id is None or not isinstance(channel, str) or not isinstance(ts, str):
        return
    if entry.method != "chat.postMessage":
        return
    if entry.kind == QUEUE_POST:
        # The ticket's queue message is this post; the update says who the partner is.
        found, partner_id = await tickets_db.set_queue_message(
            conn, ticket_id=entry.ticket_id, channel=channel, ts=ts
        )
        if not found:
            return
        partner = await directory_db.get_organization(conn, id=partner_id) if partner_id else None
        side = (
            ThreadSide.PARTNER
            if partner is not None and partner.queue_channel == channel
            else ThreadSide.VENDOR
        )
        await threads_db.add_thread(
            conn, ticket_id=entry.ticket_id, side=side, channel=channel, ts=ts, card_ts=ts
        )
    elif entry.kind in (CUSTOMER_NOTICE, kind_of(ThreadSide.CUSTOMER)):
        await threads_db.add_thread(
            conn, ticket_id=entry.ticket_id, side=ThreadSide.CUSTOMER, channel=channel, ts=ts
        )
        if entry.payload.get(CARD):
            await threads_db.set_card(
                conn, ticket_id=entry.ticket_id, side=ThreadSide.CUSTOMER, card_ts=ts
            )


# --------------------------------------------------------------------------- hooks of changes


async def side_locale(change: _Change, side: ThreadSide) -> str:
    ticket = change.ticket
    org_id = {
        ThreadSide.CUSTOMER: ticket.customer,
        ThreadSide.PARTNER: ticket.partner or ticket.vendor,
        ThreadSide.VENDOR: ticket.vendor,
    }[side]
    org = await change.cache.org(org_id)
    return org.locale if org is not None else "en"


def _in_a_channel(channel: str) -> bool:
    return not channel.startswith("D")


def lives_in_a_channel(found: dict[ThreadSide, TicketThread]) -> bool:
    """A ticket opened from a shared channel's message: its conversation is in threads,
    so its status changes and cards show there. (A ticket opened by command keeps its
    queue message, updated in place, and the customer's notices.)"""
    customer = found.get(ThreadSide.CUSTOMER)
    return customer is not None and _in_a_channel(customer.channel)


async def status_changed(change: _Change, previous: str) -> None:
    """One line in every thread of the ticket whose reader may see the change."""
    ticket = change.ticket
    found = await threads_db.threads_of(change.conn, ticket_id=ticket.id)
    if not lives_in_a_channel(found):
        return
    partner = await change.partner()
    vendor = await change.cache.vendor(ticket.vendor)
    for side, thread in found.items():
        if side is ThreadSide.CUSTOMER and not _in_a_channel(thread.channel):
            continue
        if not await may_read(change, side):
            continue
        lens = await side_lens(change, side)
        # R2: an escalation is the MSP's business; its customer reads no change there.
        status, was = lens.status(ticket.status), lens.status(Status(previous))
        if status is was:
            continue
        locale = await side_locale(change, side)
        by = author_label(
            name=change.actor.contact.name, org=change.actor.org, reader=side, partner=partner
        )
        text = t(
            "threads.status_line",
            locale,
            ticket=ticket.ref,
            status=status.value,
            previous=was.value,
            by=by,
            msp=routing.is_msp(partner) and side is ThreadSide.CUSTOMER,
            to_customer=side is ThreadSide.CUSTOMER,
            holder=partner.name
            if side is ThreadSide.CUSTOMER and routing.is_msp(partner) and partner
            else (vendor.name if ticket.tier is Tier.VENDOR else (partner.name if partner else "")),
        )
        await owe_post(change.conn, ticket_id=ticket.id, side=side, text=text, at=change.now)


async def refresh_cards(change: _Change) -> None:
    """Update in place the cards of the ticket's threads that the queue message update
    does not reach: the customer's, and the queue posts of the tiers it has left."""
    ticket = change.ticket
    found = await threads_db.threads_of(change.conn, ticket_id=ticket.id)
    if not lives_in_a_channel(found):
        return
    for side, thread in found.items():
        if not await may_read(change, side):
            continue
        card = await change.card(lens=await side_lens(change, side))
        locale = await side_locale(change, side)
        if side is ThreadSide.CUSTOMER:
            if not _in_a_channel(thread.channel):
                continue  # a direct-message thread has notices, not a card
            # The card reply may still be owed: the update follows it (same stream).
            text = thread_blocks.customer_card_text(card, locale)
            blocks = thread_blocks.customer_card(card, locale)
        else:
            tier = Tier.PARTNER if side is ThreadSide.PARTNER else Tier.VENDOR
            if tier is change.before.tier:
                continue  # the queue message update reaches this card already
            text = ticket_blocks.queue_text(card, locale, shown_in=tier)
            blocks = ticket_blocks.queue_message(card, locale, shown_in=tier)
        await owe_card_update(
            change.conn,
            ticket_id=ticket.id,
            side=side,
            text=text,
            blocks=[b.to_dict() for b in blocks],
            at=change.now,
        )


async def open_customer_thread(change: _Change, channel: str, ts: str) -> None:
    """A ticket opened from a message of a customer channel: that message's thread is
    the customer thread, and the bot answers there with the ticket card."""
    ticket = change.ticket
    await threads_db.add_thread(
        change.conn, ticket_id=ticket.id, side=ThreadSide.CUSTOMER, channel=channel, ts=ts
    )
    card = await change.card(lens=await side_lens(change, ThreadSide.CUSTOMER))
    locale = await side_locale(change, ThreadSide.CUSTOMER)
    await owe_post(
        change.conn,
        ticket_id=ticket.id,
        side=ThreadSide.CUSTOMER,
        text=thread_blocks.customer_card_text(card, locale),
        blocks=[b.to_dict() for b in thread_blocks.customer_card(card, locale)],
        at=change.now,
        card=True,
    )
