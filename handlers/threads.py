"""Slack glue of the ticket threads: message events, the 🎫 reaction, the message
shortcuts, the buttons posted in threads, and ``/supportbot channel``.

Events are acknowledged by Bolt before their listener runs, so nothing here holds up
the ack; whoever wrote a message is looked up after it (their Slack id is usually known
already, else ``users.info``)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import conversations, parser
from bot.blocks.threads import ThreadIds, reply_modal
from bot.blocks.tickets import done_modal
from bot.errors import Forbidden, UserError
from bot.render import t
from bot.store import Store
from bot.tickets import TicketOutcome
from bot.visibility import Actor
from handlers.common import clicked, error_text, reply, tell
from handlers.middleware import background, person_of, resolve_actor
from handlers.services import Services

log = logging.getLogger(__name__)

TICKET_REACTION = "ticket"
# Why an author was not taken as a contact, when telling them how to be known helps.
STRANGER_REFUSALS = frozenset({"identity.link_needed", "identity.not_your_workspace"})
# Message subtypes that are someone writing; every other subtype (edits, deletions,
# joins, topics, bots…) is ignored.
WRITTEN_SUBTYPES = frozenset({None, "thread_broadcast", "file_share"})


def _written_by_a_person(event: dict[str, Any], context: AsyncBoltContext) -> bool:
    if event.get("subtype") not in WRITTEN_SUBTYPES:
        return False
    if event.get("bot_id") or event.get("bot_profile"):
        return False
    user = event.get("user")
    return isinstance(user, str) and bool(user) and user != context.bot_user_id


def _mentions_bot(text: str, context: AsyncBoltContext) -> bool:
    bot = context.bot_user_id
    return bool(bot) and f"<@{bot}" in text


async def _person(
    services: Services,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    said: dict[str, Any],
    channel: str,
) -> tuple[Actor | None, str | None]:
    """The contact who wrote (or reacted) ``said``, or None and the message key saying
    why not."""
    user_id = said.get("user")
    if not isinstance(user_id, str) or not user_id:
        return None, None
    person = person_of(
        context, user_id, single_workspace=services.single_workspace, said=said, channel=channel
    )
    actor, _email, _locale, refusal = await resolve_actor(services, client, person)
    return actor, refusal


async def _message_at(client: AsyncWebClient, channel: str, ts: str) -> dict[str, Any] | None:
    """A top-level message of a channel, read back from Slack."""
    try:
        response = await client.conversations_history(
            channel=channel, latest=ts, inclusive=True, limit=1
        )
    except SlackApiError as exc:
        log.warning("conversations.history failed in %s: %s", channel, exc.response.get("error"))
        return None
    for message in response.get("messages") or []:
        if message.get("ts") == ts:
            return dict(message)
    return None


# --------------------------------------------------------------------------- intake


async def _intake(
    services: Services,
    client: AsyncWebClient,
    context: AsyncBoltContext,
    *,
    channel: str,
    message: dict[str, Any],
    by: Actor | None,
    now: dt.datetime,
    ea: str | None = None,
    answer_errors: bool = True,
) -> tuple[conversations.Intake | None, str | None]:
    """Open the ticket a message of a customer channel asks for. Returns the intake and,
    when it was refused, the refusal's text (in the opener's language)."""
    store = services.store
    link = await conversations.customer_channel(store, channel)
    if link is None:
        raise UserError("threads.not_customer_channel")
    ts = str(message.get("ts") or "")
    thread_ts = message.get("thread_ts")
    if not ts or (thread_ts and thread_ts != ts):
        raise UserError("threads.not_top_level")
    if by is not None and by.org.id not in (link.org, link.partner):
        log.info("message %s in %s: %s is not of its customer", ts, channel, by.email)
        return None, None
    author, refusal = await _person(services, client, context, message, channel)
    # The customer's own message is theirs; a partner's reaction or shortcut on it opens
    # it in the customer's name when the author is one of theirs.
    actor = author if author is not None and author.org.id == link.org else by or author
    if actor is None:
        if refusal in STRANGER_REFUSALS and answer_errors:
            # Someone Slack names but the bot cannot tell as a contact: say how to be
            # known, in the thread of their message (once, whatever Slack redelivers).
            text = t(refusal, services.settings.default_locale, email=None)
            await conversations.answer_in_thread(
                store, channel=channel, ts=ts, text=text, now=now, key=f"{channel}:{ts}"
            )
        return None, None
    try:
        intake = await conversations.open_from_message(
            store,
            actor,
            link=link,
            ts=ts,
            text=str(message.get("text") or ""),
            now=now,
            ea=ea,
            by=by,
        )
    except Forbidden as error:
        if error.key == "threads.intake_not_member":
            log.info("message %s in %s: %s is not of its customer", ts, channel, actor.email)
            return None, None
        text = error_text(error, actor.locale)
    except UserError as error:
        text = error_text(error, actor.locale)
    else:
        return intake, None
    if answer_errors:
        await conversations.answer_in_thread(
            store, channel=channel, ts=ts, text=text, now=now, key=f"{channel}:{ts}"
        )
    return None, text


async def handle_mention(
    event: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
    now: dt.datetime,
) -> None:
    """``app_mention``: a top-level message that names the bot opens a ticket."""
    if not _written_by_a_person(event, context):
        return
    if event.get("thread_ts") and event.get("thread_ts") != event.get("ts"):
        return  # a mention in a thread is a message of that thread (handle_message)
    try:
        await _intake(
            services,
            client,
            context,
            channel=str(event.get("channel")),
            message=event,
            by=None,
            now=now,
        )
    except UserError:
        return  # not a customer channel: the bot was only named in passing


async def handle_message(
    event: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
    now: dt.datetime,
) -> None:
    """``message.channels|groups|im``: a reply in a ticket's thread is relayed; a
    top-level message naming the bot in a customer channel opens a ticket."""
    if not _written_by_a_person(event, context):
        return
    channel, ts = str(event.get("channel") or ""), str(event.get("ts") or "")
    thread_ts = event.get("thread_ts")
    text = str(event.get("text") or "")
    if thread_ts and thread_ts != ts:
        author, _refusal = await _person(services, client, context, event, channel)
        if author is None:
            return
        await conversations.thread_message(
            services.store,
            author,
            channel=channel,
            thread_ts=str(thread_ts),
            ts=ts,
            text=text,
            now=now,
        )
        return
    if _mentions_bot(text, context):
        try:
            await _intake(
                services, client, context, channel=channel, message=event, by=None, now=now
            )
        except UserError:
            return


async def handle_reaction(
    event: dict[str, Any],
    context: AsyncBoltContext,
    client: AsyncWebClient,
    services: Services,
    now: dt.datetime,
) -> None:
    """``reaction_added`` of 🎫 on a message of a customer channel, by someone of the
    customer or of its partner, opens a ticket from it."""
    item = event.get("item") or {}
    if event.get("reaction") != TICKET_REACTION or item.get("type") != "message":
        return
    channel, ts = str(item.get("channel") or ""), str(item.get("ts") or "")
    if await conversations.customer_channel(services.store, channel) is None:
        return
    by, _refusal = await _person(services, client, context, event, channel)
    if by is None:
        return
    message = await _message_at(client, channel, ts)
    if message is None:
        log.info("reaction on %s in %s: not a top-level message", ts, channel)
        return
    try:
        await _intake(services, client, context, channel=channel, message=message, by=by, now=now)
    except UserError:
        return


async def handle_ticket_shortcut(
    ack: AsyncAck,
    context: AsyncBoltContext,
    body: dict[str, Any],
    actor: Actor,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
    services: Services,
    respond: AsyncRespond,
) -> None:
    """The *Open a ticket* message shortcut."""
    async with clicked(ack, respond, locale):
        channel = str((body.get("channel") or {}).get("id") or "")
        message = dict(body.get("message") or {})
        intake, refused = await _intake(
            services,
            client,
            context,
            channel=channel,
            message=message,
            by=actor,
            now=now,
            answer_errors=False,
        )
        if refused is not None:
            await tell(respond, refused)
            return
        if intake is None:
            raise Forbidden("threads.intake_not_member")
        if intake.outcome is not None:
            text = intake.outcome.text(locale)
        else:
            text = t("threads.choose_ea", locale)
        await tell(respond, text)


async def handle_pick_ea(
    ack: AsyncAck,
    context: AsyncBoltContext,
    body: dict[str, Any],
    action: dict[str, Any],
    actor: Actor,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
    services: Services,
    respond: AsyncRespond,
) -> None:
    """The EA chosen in a message's thread: the ticket opens."""
    async with clicked(ack, respond, locale):
        ea = parser.ea_number(str((action.get("selected_option") or {}).get("value") or ""))
        channel = str((body.get("channel") or {}).get("id") or "")
        asked = body.get("message") or {}
        original = await _message_at(client, channel, str(asked.get("thread_ts") or ""))
        if original is None:
            raise UserError("threads.not_a_ticket_thread")
        intake, refused = await _intake(
            services,
            client,
            context,
            channel=channel,
            message=original,
            by=actor,
            now=now,
            ea=ea,
            answer_errors=False,
        )
        if refused is not None:
            await tell(respond, refused)
            return
        if intake is None or intake.outcome is None:
            raise Forbidden("threads.intake_not_member")
        await respond(text=intake.outcome.text(locale), replace_original=True)


# --------------------------------------------------------------------------- replies


async def _shortcut_reply(
    body: dict[str, Any],
    actor: Actor,
    store: Store,
    now: dt.datetime,
    *,
    to_vendor: bool,
    bot_user_id: str | None,
) -> str:
    channel = str((body.get("channel") or {}).get("id") or "")
    message = body.get("message") or {}
    if message.get("bot_id") or (bot_user_id and message.get("user") == bot_user_id):
        # The bot's copies name their authors as the partner sees them (a vendor's
        # engineer, say): passing one on would show the customer what R2 hides.
        raise UserError("threads.shortcut_on_bot_message")
    thread_ts = message.get("thread_ts")
    found = (
        await conversations.thread_ticket(store, channel=channel, thread_ts=str(thread_ts))
        if thread_ts
        else None
    )
    if found is None:
        raise UserError("threads.not_a_ticket_thread")
    source = f"{channel}:{message.get('ts')}"
    work = conversations.reply_to_vendor if to_vendor else conversations.reply_to_customer
    outcome = await work(
        store, actor, found.ticket_id, text=str(message.get("text") or ""), now=now, source=source
    )
    return outcome.text(actor.locale)


async def handle_reply_shortcut(
    ack: AsyncAck,
    body: dict[str, Any],
    context: AsyncBoltContext,
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    respond: AsyncRespond,
) -> None:
    """*Reply to customer* / *Reply to vendor* on a message of a ticket's thread: that
    message goes to the customer's (or the vendor's) thread."""
    to_vendor = body.get("callback_id") == ThreadIds.REPLY_TO_VENDOR
    async with clicked(ack, respond, locale):
        text = await _shortcut_reply(
            body, actor, store, now, to_vendor=to_vendor, bot_user_id=context.bot_user_id
        )
        await tell(respond, text)


async def handle_relay_button(
    ack: AsyncAck,
    action: dict[str, Any],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    respond: AsyncRespond,
) -> None:
    """*Relay to the customer* under a vendor's message in the partner thread."""
    async with clicked(ack, respond, locale):
        ticket, _, ts = str(action.get("value") or "").partition(":")
        outcome = await conversations.relay_vendor_answer(
            store, actor, parser.ticket_id(ticket), ts=ts, now=now
        )
        await tell(respond, outcome.text(locale))


async def handle_reply_button(
    ack: AsyncAck,
    body: dict[str, Any],
    action: dict[str, Any],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
    respond: AsyncRespond,
) -> None:
    """*Reply to the customer* under a customer's message in the partner thread."""
    async with clicked(ack, respond, locale):
        ticket = await conversations.prepare_reply(
            store, actor, parser.ticket_id(str(action.get("value") or "")), now=now
        )
        await client.views_open(
            trigger_id=body["trigger_id"], view=reply_modal(ticket.ref, ticket.id, locale)
        )


async def handle_reply_submit(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    values = (view.get("state") or {}).get("values") or {}
    text = str(
        ((values.get(ThreadIds.REPLY_TEXT) or {}).get(ThreadIds.REPLY_TEXT) or {}).get("value")
        or ""
    )
    try:
        outcome = await conversations.reply_to_customer(
            store,
            actor,
            parser.ticket_id(str(view.get("private_metadata") or "")),
            text=text,
            now=now,
            source=f"view:{view.get('id')}",
        )
    except UserError as error:
        await ack(response_action="update", view=done_modal(error_text(error, locale), locale))
        return
    await ack(response_action="update", view=done_modal(outcome.text(locale), locale))


async def ticket_reply(
    store: Store, actor: Actor, words: list[str], now: dt.datetime
) -> TicketOutcome:
    """``/ticket reply <id> [vendor] <text…>``."""
    usage = conversations.USAGE_REPLY
    ticket_id = parser.ticket_id(parser.require(words, 0, "id", usage), usage=usage)
    rest = words[1:]
    if rest and rest[0].lower() in ("vendor", "editeur", "éditeur"):
        return await conversations.reply_to_vendor(
            store, actor, ticket_id, text=" ".join(rest[1:]), now=now
        )
    return await conversations.reply_to_customer(
        store, actor, ticket_id, text=" ".join(rest), now=now
    )


# --------------------------------------------------------------------------- /supportbot channel


async def channel_command(
    ack: AsyncAck, command: dict[str, str], actor: Actor, store: Store, now: dt.datetime
) -> None:
    """``/supportbot channel link <org-id> [customer|escalation]`` | ``unlink``."""
    usage = conversations.USAGE_CHANNEL
    words = parser.tokens(command.get("text", ""))[1:]
    verb = words[0].lower() if words else ""
    channel = command.get("channel_id", "")
    if verb == "link":
        org = parser.require(words, 1, "org-id", usage)
        role = words[2].lower() if len(words) > 2 else None
        link = await conversations.link_channel(
            store, actor, channel=channel, org_id=org, role=role, now=now
        )
        text = await conversations.describe_link(store, link, actor.locale, linked=True)
    elif verb == "unlink":
        link = await conversations.unlink_channel(store, actor, channel=channel, now=now)
        text = await conversations.describe_link(store, link, actor.locale, linked=False)
    else:
        raise UserError("parse.missing", usage=usage, argument="link|unlink")
    await reply(ack, text)


class ChannelTurns:
    """Event work runs one at a time per channel, in the order the events arrived: two
    messages of one thread delivered together are relayed in the order they were
    written, not in whichever order their work happens to finish."""

    def __init__(self) -> None:
        self._turns: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def of(self, channel: str) -> AsyncIterator[None]:
        lock, users = self._turns.get(channel) or (asyncio.Lock(), 0)
        self._turns[channel] = (lock, users + 1)
        try:
            async with lock:  # asyncio.Lock wakes its waiters first come, first served
                yield
        finally:
            lock, users = self._turns[channel]
            if users == 1:
                del self._turns[channel]  # nobody waits: no lock kept per channel ever seen
            else:
                self._turns[channel] = (lock, users - 1)


CHANNEL_TURNS = ChannelTurns()


def _event_channel(event: object) -> str:
    if not isinstance(event, dict):
        return ""
    item = event.get("item")
    channel = event.get("channel") or (item.get("channel") if isinstance(item, dict) else "")
    return str(channel or "")


def after_ack(handler: Callable[..., Awaitable[None]]) -> Callable[..., Awaitable[None]]:
    """An event listener whose work follows the ack: the app answers a request only when
    its listener is done, and an event's answer must never wait on the Web API (Slack
    delivers it again after 3 s). Shutdown waits for this work like any in flight; work
    of one channel keeps the events' order (``ChannelTurns``)."""

    async def work(kwargs: dict[str, Any]) -> None:
        try:
            async with CHANNEL_TURNS.of(_event_channel(kwargs.get("event"))):
                await handler(**kwargs)
        except Exception:
            log.exception("event %s failed", handler.__name__)

    @functools.wraps(handler)  # Bolt injects the arguments ``handler`` names
    async def listener(**kwargs: Any) -> None:
        background(work(kwargs))

    return listener


def register(app: AsyncApp) -> None:
    app.event("app_mention")(after_ack(handle_mention))
    app.event("message")(after_ack(handle_message))
    app.event("reaction_added")(after_ack(handle_reaction))
    app.shortcut(ThreadIds.TICKET_FROM_MESSAGE)(handle_ticket_shortcut)
    app.shortcut(ThreadIds.REPLY_TO_CUSTOMER)(handle_reply_shortcut)
    app.shortcut(ThreadIds.REPLY_TO_VENDOR)(handle_reply_shortcut)
    app.action(ThreadIds.PICK_EA)(handle_pick_ea)
    app.action(ThreadIds.RELAY_VENDOR_ANSWER)(handle_relay_button)
    app.action(ThreadIds.REPLY_TO_CUSTOMER_BUTTON)(handle_reply_button)
    app.view(ThreadIds.REPLY_MODAL)(handle_reply_submit)
