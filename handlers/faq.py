"""/faq [question…] and the buttons under an answer."""

from __future__ import annotations

import re
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import faq_answers, tickets
from bot.blocks import as_dicts, rendered
from bot.blocks.faq import (
    FaqIds,
    parse_entry_value,
    parse_self_served_value,
    reply_blocks,
    reply_message,
    reply_text,
)
from bot.blocks.tickets import new_ticket_modal
from bot.render import t
from bot.visibility import Actor
from handlers.common import clicked, open_form, send, tell
from handlers.services import Services


async def handle_faq(
    ack: AsyncAck, command: dict[str, str], actor: Actor, services: Services, now: Any
) -> None:
    answer = await faq_answers.ask(
        services.store, services.faq, actor, command.get("text", ""), now=now
    )
    await send(ack, rendered(reply_message, answer, answer.locale))


async def handle_pick(
    ack: AsyncAck,
    action: dict[str, Any],
    actor: Actor,
    services: Services,
    respond: AsyncRespond,
    now: Any,
) -> None:
    await ack()
    slug, locale = parse_entry_value(str(action.get("value", "")))
    if slug not in services.faq.entries:
        return
    answer = await faq_answers.answer(
        services.store, services.faq, actor, slug, now=now, locale=locale
    )
    await respond(
        text=reply_text(answer),
        blocks=as_dicts(reply_blocks(answer)),
        response_type="ephemeral",
        replace_original=True,
    )


async def handle_feedback(
    ack: AsyncAck,
    action: dict[str, Any],
    actor: Actor,
    services: Services,
    respond: AsyncRespond,
    now: Any,
) -> None:
    await ack()
    slug, locale = parse_entry_value(str(action.get("value", "")))
    helpful = action.get("action_id") == FaqIds.HELPED
    if slug in services.faq.entries:
        await faq_answers.record_feedback(services.store, actor, slug, helpful, now=now)
    key = "faq.thanks_feedback" if helpful else "faq.not_helped_followup"
    await tell(respond, t(key, locale or actor.locale))


async def handle_open_ticket(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    actor: Actor,
    services: Services,
    respond: AsyncRespond,
    client: AsyncWebClient,
    now: Any,
) -> None:
    """The answer did not settle it: open the same "new ticket" form as `/ticket`."""
    await ack()
    slug, locale = parse_entry_value(str(action.get("value", "")))
    locale = locale or actor.locale
    if slug in services.faq.entries:
        await faq_answers.record_feedback(services.store, actor, slug, False, now=now)
    accounts = await tickets.fileable_accounts(services.store, actor, now=now)
    if accounts and body.get("trigger_id"):
        await open_form(
            client,
            respond,
            trigger_id=body.get("trigger_id"),
            view=new_ticket_modal(accounts, locale),
            locale=locale,
            typed=t("tickets.usage_new", locale),
        )
        return
    await respond(
        text=t("faq.open_ticket_hint", locale),
        response_type="ephemeral",
        replace_original=False,
    )


async def handle_self_served(
    ack: AsyncAck,
    action: dict[str, Any],
    actor: Actor,
    services: Services,
    respond: AsyncRespond,
    now: Any,
) -> None:
    """The FAQ answer offered beside a new ticket settled it: the asker closes the ticket."""
    parsed = parse_self_served_value(str(action.get("value", "")))
    if parsed is None or parsed[1] not in services.faq.entries:
        await ack()
        return
    ticket_id, slug, locale = parsed
    locale = locale or actor.locale
    async with clicked(ack, respond, locale):
        outcome = await faq_answers.resolve_self_served(
            services.store, services.faq, actor, ticket_id, slug, locale=locale, now=now
        )
        await tell(respond, outcome.text(locale))


def register(app: AsyncApp) -> None:
    app.command("/faq")(handle_faq)
    app.action(re.compile(rf"^{re.escape(FaqIds.PICK)}\.\d+$"))(handle_pick)
    app.action(FaqIds.HELPED)(handle_feedback)
    app.action(FaqIds.NOT_HELPED)(handle_feedback)
    app.action(FaqIds.OPEN_TICKET)(handle_open_ticket)
    app.action(FaqIds.SELF_SERVED)(handle_self_served)
