"""/ticket, /escalate, /reassign, the queue message buttons and the ticket modals."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_sdk.web.async_client import AsyncWebClient

from bot import faq_answers, parser, tickets, vocabulary
from bot.blocks import fit
from bot.blocks.faq import deflection_blocks
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
from handlers.common import clicked, error_text, open_form, reply, tell
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


def _rest(words: list[str], start: int) -> str:
    return " ".join(words[start:])


async def _severity(
    word: str, store: Store, actor: Actor, now: dt.datetime, ea: str | None, usage: str
) -> int:
    """A severity word, also in the labels of the vendors of the EAs the actor may file on
    (that EA's only, with ``ea:``): a label must mean the same for each of them."""
    standard = vocabulary.standard_severity(word)
    if standard is not None:
        return standard
    accounts = await tickets.fileable_accounts(store, actor, now=now)
    labels = [a.vendor.severity_labels for a in accounts if ea is None or a.account.ea == ea]
    return vocabulary.severity(word, labels=labels, usage=usage)


def _ticket_arg(words: list[str], usage: str) -> int:
    return parser.ticket_id(parser.require(words, 0, "id", usage), usage=usage)


async def _answer(
    ack: AsyncAck,
    outcome: tickets.TicketOutcome,
    locale: str,
    offer: faq_answers.FaqReply | None = None,
) -> None:
    text = outcome.text(locale)
    blocks = ticket_blocks(outcome.card, locale, headline=text)
    if offer is not None:
        # An FAQ entry may answer the new ticket: offered beside it, to close it if so.
        ticket = outcome.card.ticket
        text += "\n" + t("faq.deflection_hint", offer.locale, ticket=ticket.ref)
        blocks = fit([*blocks, *deflection_blocks(offer, ticket.id, ticket.ref)])
    await reply(ack, text, blocks)


# --------------------------------------------------------------------------- /ticket


async def handle_ticket(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    client: AsyncWebClient,
    respond: AsyncRespond,
    services: Services,
) -> None:
    words = parser.tokens(command.get("text", ""))
    if not words:
        accounts = await tickets.fileable_accounts(store, actor, now=now)
        if not accounts:
            raise Forbidden("tickets.no_ea_to_file", usage=USAGE)
        await reply(ack, t("tickets.opening_form", locale))
        await open_form(
            client,
            respond,
            trigger_id=command.get("trigger_id"),
            view=new_ticket_modal(accounts, locale),
            locale=locale,
            typed=t("tickets.usage_new", locale),
        )
        return
    verb, args = vocabulary.subcommand("/ticket", words[0]) or words[0].lower(), words[1:]
    usage = USAGE_BY_VERB.get(verb)
    if usage is None:
        raise UserError("unknown_subcommand", usage=USAGE, command="/ticket", value=words[0])
    if verb == "new":
        outcome = await _new(store, actor, args, command, now)
        offer = await faq_answers.deflection(
            store, services.faq, actor, outcome.card.ticket.subject, now=now
        )
        await _answer(ack, outcome, locale, offer)
        return
    if verb == "show":
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
    args = parser.split_args(" ".join(words), options=("ea", "product", "severity"), usage=usage)
    ea = parser.ea_number(args.options["ea"], usage=usage) if "ea" in args.options else None
    severity, business = 3, False
    if "severity" in args.options:
        severity = await _severity(args.options["severity"], store, actor, now, ea, usage)
    rest = list(args.words)
    # Options come before the subject: a leading severity word (sev2, sév2, sevA, or
    # sev9, an error) or the business word is one.
    while rest and (vocabulary.is_severity_word(rest[0]) or vocabulary.flag(rest[0]) == "business"):
        word = rest.pop(0)
        if vocabulary.flag(word) == "business":
            business = True
        else:
            severity = await _severity(word, store, actor, now, ea, usage)
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
    ea = parser.ea_number(args.options["ea"], usage=usage) if "ea" in args.options else None
    for word in args.words:
        if severity is not None:
            raise UserError("tickets.bad_scope", usage=usage, value=word)
        severity = await _severity(word, store, actor, now, ea, usage)
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
            store, actor, ticket_id, text=_rest(words, 1), now=now, usage=usage
        )
    if verb == "sev":
        word = parser.require(words, 1, "1-4", usage)
        severity = await _severity(word, store, actor, now, None, usage)
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
    respond: AsyncRespond,
) -> None:
    words = parser.tokens(command.get("text", ""))
    ticket_id = _ticket_arg(words, USAGE_ESCALATE)
    rest = words[1:]
    severity = None
    if rest and vocabulary.is_severity_word(rest[0]):
        severity = await _severity(rest.pop(0), store, actor, now, None, USAGE_ESCALATE)
    if not rest and severity is None:
        # The id alone: the form with the first-line checklist.
        card = await tickets.prepare_escalation(store, actor, ticket_id, now=now)
        await reply(ack, t("tickets.opening_escalation_form", locale, ticket=card.ref))
        await open_form(
            client,
            respond,
            trigger_id=command.get("trigger_id"),
            view=escalate_modal(card, locale),
            locale=locale,
            typed=t("tickets.usage_escalate", locale),
        )
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
        await tell(respond, outcome.text(locale))


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
        await open_form(
            client,
            respond,
            trigger_id=body.get("trigger_id"),
            view=escalate_modal(card, locale),
            locale=locale,
            typed=t("tickets.usage_escalate", locale),
        )


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
        await open_form(
            client,
            respond,
            trigger_id=body.get("trigger_id"),
            view=reason_modal(kind, card, locale),
            locale=locale,
            typed=t(
                "tickets.usage_reassign" if kind == "hand_back" else "tickets.usage_resolve", locale
            ),
        )


# --------------------------------------------------------------------------- modals


def _values(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{block_id: element state}`` of a submitted view (one element per input block).
    Whatever is not shaped like Slack's state is left out: a missing field then reads
    as empty, and the use case says what it needs."""
    state = view.get("state")
    found = state.get("values") if isinstance(state, dict) else None
    if not isinstance(found, dict):
        return {}
    values = {}
    for block, actions in found.items():
        element = next(iter(actions.values()), None) if isinstance(actions, dict) else None
        if isinstance(element, dict):
            values[block] = element
    return values


def _text(values: dict[str, dict[str, Any]], block: str) -> str:
    value = (values.get(block) or {}).get("value")
    return value.strip() if isinstance(value, str) else ""


def _selected(values: dict[str, dict[str, Any]], block: str) -> str | None:
    option = (values.get(block) or {}).get("selected_option")
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


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


def _severity_field(value: object) -> int:
    return parser.whole_number(value, low=1, high=4, key="tickets.bad_severity")


def _form(view: dict[str, Any]) -> dict[str, Any]:
    values = _values(view)
    return {
        "ea": _selected(values, TicketIds.EA),
        "severity": _severity_field(_selected(values, TicketIds.SEVERITY) or "3"),
        "business": _selected(values, TicketIds.QUEUE) == "business",
        "product": _text(values, TicketIds.PRODUCT) or None,
        "subject": _text(values, TicketIds.SUBJECT),
        "description": _text(values, TicketIds.DESCRIPTION) or None,
    }


def _carried_form(metadata: object) -> dict[str, Any]:
    """The form carried in the suggestion step's ``private_metadata``, checked field by
    field: it comes back from the client and may have been altered."""
    try:
        data = json.loads(metadata) if isinstance(metadata, str) and metadata else None
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise UserError("tickets.form_expired")
    texts = {}
    for name in ("ea", "product", "subject", "description"):
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise UserError("tickets.form_expired")
        texts[name] = value
    business = data.get("business", False)
    if not isinstance(business, bool):
        raise UserError("tickets.form_expired")
    return {**texts, "business": business, "severity": _severity_field(data.get("severity", 3))}


async def _refused_in_modal(ack: AsyncAck, locale: str, error: UserError) -> None:
    await ack(response_action="update", view=done_modal(error_text(error, locale), locale))


async def handle_new_submit(
    ack: AsyncAck,
    view: dict[str, Any],
    actor: Actor,
    store: Store,
    locale: str,
    now: dt.datetime,
    services: Services,
) -> None:
    try:
        form = _form(view)
    except UserError as error:
        await _refused_in_modal(ack, locale, error)
        return
    # Before opening: an FAQ entry that seems to answer the subject already.
    found = faq_answers.search(services.faq, actor, form["subject"])
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
    try:
        form = _carried_form(view.get("private_metadata"))
    except UserError as error:
        await _refused_in_modal(ack, locale, error)
        return
    await _finish(ack, locale, lambda: _open_from_form(store, actor, form, view, now))


async def _open_from_form(
    store: Store, actor: Actor, form: dict[str, Any], view: dict[str, Any], now: dt.datetime
) -> tickets.TicketOutcome:
    ea = form.get("ea")
    # The view id survives the suggestion step: a double submission opens one ticket.
    return await tickets.open_ticket(
        store,
        actor,
        subject=str(form.get("subject") or ""),
        ea=parser.ea_number(ea) if ea is not None else None,
        severity=int(form.get("severity") or 3),
        product=form.get("product"),
        business=bool(form.get("business")),
        description=form.get("description"),
        request_key=f"view:{view.get('root_view_id') or view.get('id')}",
        now=now,
    )


def _modal_ticket(view: dict[str, Any]) -> int:
    """The ticket a modal is about, from its ``private_metadata`` (checked: the client
    sends it back)."""
    return parser.ticket_id(view.get("private_metadata"))


async def handle_escalate_submit(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    values = _values(view)
    checked = {
        str(o.get("value"))
        for o in (values.get(TicketIds.CHECKLIST) or {}).get("selected_options") or []
        if isinstance(o, dict)
    }
    checklist: dict[str, object] = {item: item in checked for item in CHECKLIST_ITEMS}
    impact = _text(values, TicketIds.IMPACT)
    if impact:
        checklist["impact"] = impact

    async def work() -> tickets.TicketOutcome:
        chosen = _selected(values, TicketIds.SEVERITY)
        return await tickets.escalate(
            store,
            actor,
            _modal_ticket(view),
            reason=_text(values, TicketIds.REASON),
            severity=_severity_field(chosen) if chosen is not None else None,
            checklist=checklist,
            now=now,
        )

    await _finish(ack, locale, work)


async def handle_reason_submit(
    ack: AsyncAck, view: dict[str, Any], actor: Actor, store: Store, locale: str, now: dt.datetime
) -> None:
    values = _values(view)
    text = _text(values, TicketIds.REASON)
    if view.get("callback_id") == TicketIds.HAND_BACK_MODAL:
        await _finish(
            ack,
            locale,
            lambda: tickets.reassign(store, actor, _modal_ticket(view), reason=text, now=now),
        )
    else:
        await _finish(
            ack,
            locale,
            lambda: tickets.resolve(store, actor, _modal_ticket(view), resolution=text, now=now),
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
