"""/ea, /entitlements, /access, /audit and the buttons of their messages."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond

from bot import access, audit, entitlements, vocabulary
from bot.blocks import accounts as blocks
from bot.blocks import as_dicts, rendered
from bot.errors import UserError
from bot.parser import date, ea_number, require, split_args, ticket_id, tokens
from bot.store import Store
from bot.visibility import Actor
from handlers.common import clicked, reply, send

USAGE_EA = entitlements.USAGE_EA
USAGE_ENTITLEMENTS = entitlements.USAGE_ENTITLEMENTS
USAGE_ACCESS = access.USAGE
USAGE_AUDIT = audit.USAGE


def _unknown(command: str, value: str, usage: str) -> UserError:
    return UserError("unknown_subcommand", usage=usage, command=command, value=value)


async def _respond(respond: AsyncRespond, message: blocks.Reply, *, replace: bool) -> None:
    await respond(
        text=message.text,
        blocks=as_dicts(message.blocks),
        response_type="ephemeral",
        replace_original=replace,
    )


async def _button(
    ack: AsyncAck,
    respond: AsyncRespond,
    locale: str,
    work: Callable[[], Awaitable[blocks.Reply]],
    *,
    replace: bool,
) -> None:
    """Acknowledge a click, then answer through its response URL (refusals too)."""
    async with clicked(ack, respond, locale):
        await _respond(respond, await work(), replace=replace)


# --- slash commands ------------------------------------------------------------------------


async def handle_ea(
    ack: AsyncAck, command: dict[str, Any], actor: Actor, store: Store, now: dt.datetime
) -> None:
    words = tokens(command.get("text", ""))
    if not words:
        message = blocks.my_accounts(
            await entitlements.my_accounts(store, actor, now=now), actor.locale
        )
    elif vocabulary.subcommand("/ea", words[0]) == "lookup":
        query = " ".join(words[1:])
        if not query:
            raise UserError("parse.missing", usage=USAGE_EA, argument="name | email | domain")
        result = await entitlements.lookup_accounts(store, actor, query=query, now=now)
        message = blocks.lookup(result, actor.locale)
    else:
        ea = ea_number(words[0], usage=USAGE_EA)
        if len(words) > 1:
            raise _unknown("/ea", words[1], USAGE_EA)
        card = await entitlements.account_card(store, actor, ea=ea, now=now)
        await send(ack, rendered(blocks.account_card, card, actor.locale))
        return
    await reply(ack, message.text, message.blocks)


async def handle_entitlements(
    ack: AsyncAck, command: dict[str, Any], actor: Actor, store: Store, now: dt.datetime
) -> None:
    args = split_args(
        command.get("text", ""), options=("product", "type", "folder"), usage=USAGE_ENTITLEMENTS
    )
    first = require(args.words, 0, "EA", USAGE_ENTITLEMENTS)
    if vocabulary.subcommand("/entitlements", first) == "renewals":
        if args.options or len(args.words) > 2:
            extra = (
                args.words[2] if len(args.words) > 2 else ":".join(next(iter(args.options.items())))
            )
            raise _unknown("/entitlements renewals", extra, USAGE_ENTITLEMENTS)
        days = (
            entitlements.parse_days(args.words[1])
            if len(args.words) > 1
            else entitlements.DEFAULT_RENEWAL_DAYS
        )
        result = await entitlements.renewals(store, actor, days=days, now=now)
        message = blocks.renewals(result, actor.locale)
    else:
        ea = ea_number(first, usage=USAGE_ENTITLEMENTS)
        if len(args.words) > 1:
            raise _unknown("/entitlements", args.words[1], USAGE_ENTITLEMENTS)
        kind = args.options.get("type")
        filters = entitlements.Filters(
            product=args.options.get("product"),
            type=entitlements.parse_type(kind) if kind else None,
            folder=args.options.get("folder"),
        )
        page = await entitlements.entitlements(store, actor, ea=ea, filters=filters, now=now)
        await send(ack, rendered(blocks.entitlements, page, actor.locale))
        return
    await reply(ack, message.text, message.blocks)


async def handle_access(
    ack: AsyncAck, command: dict[str, Any], actor: Actor, store: Store, now: dt.datetime
) -> None:
    args = split_args(command.get("text", ""), options=("until",), usage=USAGE_ACCESS)
    words = args.words
    first = require(words, 0, "EA", USAGE_ACCESS)
    verb = vocabulary.subcommand("/access", first) or first.lower()
    if "until" in args.options and verb != "grant":
        raise _unknown("/access", f"until:{args.options['until']}", USAGE_ACCESS)
    if verb == "grant":
        ea = ea_number(require(words, 1, "EA", USAGE_ACCESS), usage=USAGE_ACCESS)
        partner = require(words, 2, "partner-id", USAGE_ACCESS)
        permissions = access.parse_permissions(words[3:])
        until = date(args.options["until"], usage=USAGE_ACCESS) if "until" in args.options else None
        granted = await access.grant_access(
            store, actor, ea=ea, partner=partner, permissions=permissions, until=until, now=now
        )
        message = blocks.granted(granted, actor.locale)
    elif verb == "revoke":
        ea = ea_number(require(words, 1, "EA", USAGE_ACCESS), usage=USAGE_ACCESS)
        partner = require(words, 2, "partner-id", USAGE_ACCESS)
        if len(words) > 3:
            raise _unknown("/access revoke", words[3], USAGE_ACCESS)
        revoked = await access.revoke_access(store, actor, ea=ea, partner=partner, now=now)
        message = blocks.revoked(revoked, actor.locale)
    elif verb == "register":
        authorization = require(words, 1, "authorization-no", USAGE_ACCESS)
        agreement = require(words, 2, "license-no", USAGE_ACCESS)
        email = access.parse_email(require(words, 3, "customer-email", USAGE_ACCESS))
        registered = await access.register_agreement_partner(
            store,
            actor,
            authorization=authorization,
            agreement=agreement,
            customer_email=email,
            now=now,
        )
        message = blocks.registered(registered, actor.locale)
    elif verb == "superuser":
        ea = ea_number(require(words, 1, "EA", USAGE_ACCESS), usage=USAGE_ACCESS)
        email = access.parse_email(require(words, 2, "email", USAGE_ACCESS))
        requested = await access.request_superuser_transfer(
            store, actor, ea=ea, email=email, now=now
        )
        message = blocks.superuser_requested(requested, actor.locale)
    else:
        ea = ea_number(words[0], usage=USAGE_ACCESS)
        if len(words) > 1:
            raise _unknown("/access", words[1], USAGE_ACCESS)
        overview = await access.access_overview(store, actor, ea=ea, now=now)
        message = blocks.access_overview(overview, actor.locale)
    await reply(ack, message.text, message.blocks)


async def handle_audit(
    ack: AsyncAck, command: dict[str, Any], actor: Actor, store: Store, now: dt.datetime
) -> None:
    words = tokens(command.get("text", ""))
    target = require(words, 0, "EA | ticket id", USAGE_AUDIT)
    if len(words) > 2:
        raise _unknown("/audit", words[2], USAGE_AUDIT)
    limit = audit.parse_count(words[1]) if len(words) > 1 else audit.DEFAULT_ENTRIES
    # Nine digits is an EA number (the contract's format); anything else a ticket id.
    if target.isascii() and target.isdigit() and len(target) == 9:
        trail = await audit.audit_trail(
            store, actor, ea=ea_number(target, usage=USAGE_AUDIT), limit=limit, now=now
        )
    else:
        trail = await audit.audit_trail(
            store, actor, ticket_id=ticket_id(target, usage=USAGE_AUDIT), limit=limit, now=now
        )
    message = blocks.audit_trail(trail, actor.locale)
    await reply(ack, message.text, message.blocks)


# --- buttons ------------------------------------------------------------------------------


async def _more(actor: Actor, store: Store, value: str | None, now: dt.datetime) -> blocks.Reply:
    ea, filters, offset = blocks.parse_more_value(value)
    page = await entitlements.entitlements(
        store, actor, ea=ea, filters=filters, offset=offset, now=now
    )
    return blocks.entitlements(page, actor.locale)


async def handle_more(
    ack: AsyncAck,
    action: dict[str, Any],
    respond: AsyncRespond,
    actor: Actor,
    store: Store,
    now: dt.datetime,
) -> None:
    work = partial(_more, actor, store, action.get("value"), now)
    await _button(ack, respond, actor.locale, work, replace=True)


def _click_key(body: dict[str, Any], action: dict[str, Any]) -> str | None:
    """One key per person, message and button: a double click (two interactions, two
    trigger ids) is one request, like the same click delivered twice."""
    message_ts = (body.get("container") or {}).get("message_ts")
    user = (body.get("user") or {}).get("id")
    if not message_ts or not user:
        return body.get("trigger_id")
    return hashlib.sha256(f"{user}|{message_ts}|{action.get('value')}".encode()).hexdigest()[:40]


async def _quote(
    actor: Actor, store: Store, value: str | None, click: str | None, now: dt.datetime
) -> blocks.Reply:
    ea, kind, ref = blocks.parse_quote_value(value)
    quote = await entitlements.request_renewal_quote(
        store,
        actor,
        ea=ea,
        kind=kind,
        ref=ref,
        now=now,
        # the same click, delivered twice or double-clicked, opens one ticket
        request_key=f"quote:{click}" if click else None,
    )
    return blocks.quote_requested(quote.ticket, quote.ea, actor.locale)


async def handle_quote(
    ack: AsyncAck,
    action: dict[str, Any],
    body: dict[str, Any],
    respond: AsyncRespond,
    actor: Actor,
    store: Store,
    now: dt.datetime,
) -> None:
    work = partial(_quote, actor, store, action.get("value"), _click_key(body, action), now)
    await _button(ack, respond, actor.locale, work, replace=False)


async def _remove_agreement_partner(
    actor: Actor, store: Store, value: str | None, now: dt.datetime
) -> blocks.Reply:
    agreement, partner = blocks.parse_agreement_value(value)
    removed = await access.remove_agreement_partner(
        store, actor, agreement=agreement, partner=partner, now=now
    )
    return blocks.agreement_partner_removed(removed, actor.locale)


async def handle_remove_agreement_partner(
    ack: AsyncAck,
    action: dict[str, Any],
    respond: AsyncRespond,
    actor: Actor,
    store: Store,
    now: dt.datetime,
) -> None:
    work = partial(_remove_agreement_partner, actor, store, action.get("value"), now)
    await _button(ack, respond, actor.locale, work, replace=True)


async def _revoke(actor: Actor, store: Store, value: str | None, now: dt.datetime) -> blocks.Reply:
    ea, partner = blocks.parse_revoke_value(value)
    revoked = await access.revoke_access(store, actor, ea=ea, partner=partner, now=now)
    return blocks.revoked(revoked, actor.locale)


async def handle_revoke_from_notice(
    ack: AsyncAck,
    action: dict[str, Any],
    respond: AsyncRespond,
    actor: Actor,
    store: Store,
    now: dt.datetime,
) -> None:
    work = partial(_revoke, actor, store, action.get("value"), now)
    await _button(ack, respond, actor.locale, work, replace=True)


async def _decide(
    actor: Actor, store: Store, action: dict[str, Any], now: dt.datetime
) -> blocks.Reply:
    decision = await access.decide_superuser_transfer(
        store,
        actor,
        confirmation_id=blocks.parse_confirmation_value(action.get("value")),
        confirm=action.get("action_id") == blocks.AccountIds.SUPERUSER_CONFIRM,
        now=now,
    )
    return blocks.superuser_decided(decision, actor.locale)


async def handle_superuser_decision(
    ack: AsyncAck,
    action: dict[str, Any],
    respond: AsyncRespond,
    actor: Actor,
    store: Store,
    now: dt.datetime,
) -> None:
    work = partial(_decide, actor, store, action, now)
    await _button(ack, respond, actor.locale, work, replace=True)


def register(app: AsyncApp) -> None:
    app.command("/ea")(handle_ea)
    app.command("/entitlements")(handle_entitlements)
    app.command("/access")(handle_access)
    app.command("/audit")(handle_audit)
    app.action(blocks.AccountIds.ENTITLEMENTS_MORE)(handle_more)
    app.action(blocks.AccountIds.RENEWAL_QUOTE)(handle_quote)
    app.action(blocks.AccountIds.AGREEMENT_REMOVE_PARTNER)(handle_remove_agreement_partner)
    app.action(blocks.AccountIds.REVOKE_PARTNER)(handle_revoke_from_notice)
    app.action(blocks.AccountIds.SUPERUSER_CONFIRM)(handle_superuser_decision)
    app.action(blocks.AccountIds.SUPERUSER_DECLINE)(handle_superuser_decision)
