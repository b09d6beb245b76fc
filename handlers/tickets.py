"""/ticket, /escalate, /reassign, the queue message buttons and the ticket modals."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import parser, tickets
from bot.blocks.tickets import (
    CHECKLIST_ITEMS,
    TicketIds,
    done_modal,
    escalate_modal,
    faq_suggestion_modal,
    list_blocks,
    new_ticket_modal,
    reason_modal,
    summary_text,
    ticket_blocks,
)
from bot.errors import Forbidden, UserError
from bot.render import t
from bot.store import Store
from bot.visibility import Actor
from handlers import threads
from handlers.common import clicked, error_text, reply
from handlers.services import Services

USAGE = "tickets.usage_ticket"
USAGE_BY_VERB = {
    "new": "tickets.usage_new",
    "show": "tickets.usage_show",
    "list": "tickets.usage_list",
    "note": "tickets.usage_note",
    "take": "tickets.usage_take",
    "assign": "tickets.usage_assign",
    "wait": "tickets.usage_wait",
    "sev": "tickets.usage_sev",
    "resolve": "tickets.usage_resolve",
    "reopen": "tickets.usage_reopen",
    "reply": "threads.usage_reply",
}
USAGE_ESCALATE = "tickets.usage_escalate"
USAGE_REASSIGN = "tickets.usage_reassign"
# A leading "sev" and digits is a severity (any case); "sev9" gets its own error rather
# than becoming the subject.
_SEVERITY_WORD = re.compile(r"sev[0-9]+", re.IGNORECASE)


def _rest(words: list[str], start: int) -> str:
    return " ".join(words[start:])


def _ticket_arg(words: list[str], usage: str) -> int:
    return parser.ticket_id(parser.require(words, 0, "id", usage), usage=usage)


async def _answer(ack: AsyncAck, outcome: tickets.TicketOutcome, locale: str) -> None:
    text = outcome.text(locale)
    await reply(ack, text, ticket_blocks(outcome.card, locale, headline=text))


# --------------------------------------------------------------------------- /ticket


async def handle_ticket(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
) -> None:
    words = parser.tokens(command.get("text", ""))
    if not words:
        accounts = await tickets.fileable_accounts(store, actor, now=now)
        if not accounts:
            raise Forbidden("tickets.no_ea_to_file", usage=USAGE)
        await reply(ack, t("tickets.opening_form", locale))
        await client.views_open(
            trigger_id=command["trigger_id"], view=new_ticket_modal(accounts, locale)
        )
        return
    verb, args = words[0].lower(), words[1:]
    usage = USAGE_BY_VERB.get(verb)
    if usage is None:
        raise UserError("unknown_subcommand", usage=USAGE, command="/ticket", value=words[0])
    if verb == "new":
        outcome = await _new(store, actor, args, command, now)
    elif verb == "show":
        card = await tickets.show_ticket(store, actor, _ticket_arg(args, usage), now=now)
        text = summary_text(card, locale)
        await reply(ack, text, ticket_blocks(card, locale))
        return
    elif verb == "list":
        await _list(ack, store, actor, args, locale, now)
        return
    elif verb == "reply":
        outcome = await threads.ticket_reply(store, actor, args, now)
    else:
        outcome = await _work(verb, usage, store, actor, args, now)
    await _answer(ack, outcome, locale)


async def _new(
    store: Store, actor: Actor, words: list[str], command: dict[str, str], now: dt.datetime
) -> tickets.TicketOutcome:
    usage = USAGE_BY_VERB["new"]
    args = parser.split_args(" ".join(words), options=("ea", "product"), usage=usage)
    severity, business = 3, False
    rest = list(args.words)
    # Options come before the subject: a leading sevN or "business" word is one.
    while rest and (_SEVERITY_WORD.fullmatch(rest[0]) or rest[0].lower() == "business"):
        word = rest.pop(0)
        if word.lower() == "business":
            business = True
        else:
            severity = parser.severity(word, usage=usage)
    ea = parser.ea_number(args.options["ea"], usage=usage) if "ea" in args.options else None
    trigger = command.get("trigger_id")
    return await tickets.open_ticket(
        store,
        actor,
        subject=" ".join(rest),
        ea=ea,
        severity=severity,
        product=args.options.get("product"),
        business=business,
        request_key=f"trigger:{trigger}" if trigger else None,
        now=now,
        usage=usage,
    )


async def _list(
    ack: AsyncAck, store: Store, actor: Actor, words: list[str], locale: str, now: dt.datetime
) -> None:
    usage = USAGE_BY_VERB["list"]
    args = parser.split_args(" ".join(words), options=("ea",), flags=tickets.SCOPES, usage=usage)
    if len(args.flags) > 1:
        raise UserError("tickets.bad_scope", usage=usage, value=" ".join(sorted(args.flags)))
    scope = next(iter(args.flags), "open")
    severity = None
    for word in args.words:
        if severity is not None:
            raise UserError("tickets.bad_scope", usage=usage, value=word)
        severity = parser.severity(word, usage=usage)
    ea = parser.ea_number(args.options["ea"], usage=usage) if "ea" in args.options else None
    found = await tickets.list_tickets(
        store, actor, now=now, scope=scope, severity=severity, ea=ea, usage=usage
    )
    headline = t(
        "tickets.list_headline",
        locale,
        scope=scope,
        count=len(found.cards),
        severity=severity,
        ea=found.ea,
    )
    text = "\n".join([headline, *(summary_text(card, locale) for card in found.cards[:20])])
    await reply(ack, text, list_blocks(found, locale, headline=headline))


async def _work(
    verb: str, usage: str, store: Store, actor: Actor, words: list[str], now: dt.datetime
) -> tickets.TicketOutcome:
    ticket_id = _ticket_arg(words, usage)
    if verb == "note":
        return await tickets.add_note(
            store, actor, ticket_id, text=_rest(words, 1), now=now, usage=usage
        )
    if verb == "take":
        return await tickets.take(store, actor, ticket_id, now=now)
    if verb == "assign":
        user = parser.mention(parser.require(words, 1, "@user", usage), usage=usage)
        return await tickets.assign(store, actor, ticket_id, assignee_slack_id=user, now=now)
    if verb == "wait":
        return await tickets.wait_on_customer(
            store, actor, ticket_id, text=_rest(words, 1), now=now
        )
    if verb == "sev":
        severity = parser.severity(parser.require(words, 1, "1-4", usage), usage=usage)
        return await tickets.change_severity(
            store, actor, ticket_id, severity=severity, reason=_rest(words, 2), now=now, usage=usage
        )
    if verb == "resolve":
        return await tickets.resolve(
            store, actor, ticket_id, resolution=_rest(words, 1), now=now, usage=usage
        )
    return await tickets.reopen(
        store, actor, ticket_id, reason=_rest(words, 1), now=now, usage=usage
    )


# --------------------------------------------------------------------------- /escalate /reassign


async def handle_escalate(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
) -> None:
    words = parser.tokens(command.get("text", ""))
    ticket_id = _ticket_arg(words, USAGE_ESCALATE)
    rest = words[1:]
    severity = None
    if rest and _SEVERITY_WORD.fullmatch(rest[0]):
        severity = parser.severity(rest.pop(0), usage=USAGE_ESCALATE)
    if not rest and severity is None:
        # The id alone: the form with the first-line checklist.
        card = await tickets.prepare_escalation(store, actor, ticket_id, now=now)
        await reply(ack, t("tickets.opening_escalation_form", locale, ticket=card.ref))
        await client.views_open(trigger_id=command["trigger_id"], view=escalate_modal(card, locale))
        return
    outcome = await tickets.escalate(
        store,
        actor,
        ticket_id,
        reason=" ".join(rest),
        severity=severity,
        now=now,
        usage=USAGE_ESCALATE,
    )
    await _answer(ack, outcome, locale)


async def handle_reassign(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
) -> None:
    words = parser.tokens(command.get("text", ""))
    ticket_id = _ticket_arg(words, USAGE_REASSIGN)
    outcome = await tickets.reassign(
        store, actor, ticket_id, reason=_rest(words, 1), now=now, usage=USAGE_REASSIGN
    )
    await _answer(ack, outcome, locale)


# --------------------------------------------------------------------------- buttons


def _button_ticket(action: dict[str, Any]) -> int:
    return parser.ticket_id(str(action.get("value", "")))


async def handle_take_button(
    ack: AsyncAck,
    action: dict[str, Any],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    respond: AsyncRespond,
) -> None:
    async with clicked(ack, respond, locale):
        outcome = await tickets.take(store, actor, _button_ticket(action), now=now)
        await respond(text=outcome.text(locale), response_type="ephemeral", replace_original=False)


async def handle_escalate_button(
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
    async with clicked(ack, respond, locale):
        card = await tickets.prepare_escalation(store, actor, _button_ticket(action), now=now)
        await client.views_open(trigger_id=body["trigger_id"], view=escalate_modal(card, locale))


async def handle_change_button(
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
    """Hand back or Resolve: both ask for a reason in a modal first."""
    kind = "hand_back" if action.get("action_id") == TicketIds.HAND_BACK else "resolve"
    async with clicked(ack, respond, locale):
        card = await tickets.prepare_change(
            store, actor, _button_ticket(action), kind=kind, now=now
        )
        await client.views_open(
            trigger_id=body["trigger_id"], view=reason_modal(kind, card, locale)
        )


# --------------------------------------------------------------------------- modals


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{block_id: element state}`` of a submitted view (one element per input block)."""
    state = (view.get("state") or {}).get("values") or {}
    return {block: next(iter(actions.values()), {}) for block, actions in state.items() if actions}


def _text(values: dict[str, dict[str, Any]], block: str) -> str:
    return str((values.get(block) or {}).get("value") or "").strip()


def _selected(values: dict[str, dict[str, Any]], block: str) -> str | None:
    option = (values.get(block) or {}).get("selected_option") or {}
    value = option.get("value")
    return str(value) if value is not None else None


async def _finish(
    ack: AsyncAck, locale: str, work: Callable[[], Awaitable[tickets.TicketOutcome]]
) -> None:
    """Close a modal flow on its result. A refusal is shown whole in the modal (a field
    error is cut at 150 characters, too short for the refusals that name whom to ask)."""
    try:
        outcome = await work()
    except UserError as error:
        await ack(response_action="update", view=done_modal(error_text(error, locale), locale))
        return
    await ack(response_action="update", view=done_modal(outcome.text(locale), locale))


def _form(view: dict[str, Any]) -> dict[str, Any]:
    values = _values(view)
    return {
        "ea": _selected(values, TicketIds.EA),
        "severity": int(_selected(values, TicketIds.SEVERITY) or 3),
        "business": _selected(values, TicketIds.QUEUE) == "business",
        "product": _text(values, TicketIds.PRODUCT) or None,
        "subject": _text(values, TicketIds.SUBJECT),
        "description": _text(values, TicketIds.DESCRIPTION) or None,
    }


async def handle_new_submit(
    ack: AsyncAck,
    view: dict[str, Any],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    services: Services,
) -> None:
    form = _form(view)
    # Before opening: an FAQ entry that seems to answer the subject already.
    found = services.faq.search(form["subject"], locale=locale)
    if found.confident and found.slug:
        title = services.faq.title(found.slug, locale)
        await ack(
            response_action="update",
            view=faq_suggestion_modal(slug=found.slug, title=title, form=form, locale=locale),
        )
        return
    await _finish(ack, locale, lambda: _open_from_form(store, actor, form, view, now))


async def handle_new_confirm(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    form = json.loads(view.get("private_metadata") or "{}")
    await _finish(ack, locale, lambda: _open_from_form(store, actor, form, view, now))


async def _open_from_form(
    store: Store, actor: Actor, form: dict[str, Any], view: dict[str, Any], now: dt.datetime
) -> tickets.TicketOutcome:
    # The view id survives the suggestion step: a double submission opens one ticket.
    return await tickets.open_ticket(
        store,
        actor,
        subject=str(form.get("subject") or ""),
        ea=form.get("ea"),
        severity=int(form.get("severity") or 3),
        product=form.get("product"),
        business=bool(form.get("business")),
        description=form.get("description"),
        request_key=f"view:{view.get('root_view_id') or view.get('id')}",
        now=now,
    )


async def handle_escalate_submit(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    values = _values(view)
    checked = {
        str(o.get("value"))
        for o in (values.get(TicketIds.CHECKLIST) or {}).get("selected_options") or []
    }
    checklist: dict[str, object] = {item: item in checked for item in CHECKLIST_ITEMS}
    impact = _text(values, TicketIds.IMPACT)
    if impact:
        checklist["impact"] = impact
    ticket_id = int(view.get("private_metadata") or 0)
    severity = int(_selected(values, TicketIds.SEVERITY) or 0) or None
    await _finish(
        ack,
        locale,
        lambda: tickets.escalate(
            store,
            actor,
            ticket_id,
            reason=_text(values, TicketIds.REASON),
            severity=severity,
            checklist=checklist,
            now=now,
        ),
    )


async def handle_reason_submit(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    values = _values(view)
    ticket_id = int(view.get("private_metadata") or 0)
    text = _text(values, TicketIds.REASON)
    if view.get("callback_id") == TicketIds.HAND_BACK_MODAL:
        await _finish(
            ack, locale, lambda: tickets.reassign(store, actor, ticket_id, reason=text, now=now)
        )
    else:
        await _finish(
            ack, locale, lambda: tickets.resolve(store, actor, ticket_id, resolution=text, now=now)
        )


def register(app: AsyncApp) -> None:
    app.command("/ticket")(handle_ticket)
    app.command("/escalate")(handle_escalate)
    app.command("/reassign")(handle_reassign)
    app.action(TicketIds.TAKE)(handle_take_button)
    app.action(TicketIds.ESCALATE)(handle_escalate_button)
    app.action(TicketIds.HAND_BACK)(handle_change_button)
    app.action(TicketIds.RESOLVE)(handle_change_button)
    app.view(TicketIds.NEW_MODAL)(handle_new_submit)
    app.view(TicketIds.NEW_CONFIRM)(handle_new_confirm)
    app.view(TicketIds.ESCALATE_MODAL)(handle_escalate_submit)
    app.view(TicketIds.HAND_BACK_MODAL)(handle_reason_submit)
    app.view(TicketIds.RESOLVE_MODAL)(handle_reason_submit)
