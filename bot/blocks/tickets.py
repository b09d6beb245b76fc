"""Block Kit for tickets: queue messages, the ticket card, lists, modals, App Home.

Every text comes from ``templates/messages/<locale>/tickets.j2`` (escaped there); the
builders only arrange it.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from enum import StrEnum
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from markupsafe import Markup
from slack_sdk.models.blocks import (
    Block,
    CheckboxesElement,
    DividerBlock,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    RadioButtonsElement,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot import sla
from bot.blocks import actions, button, context, fit, header, section
from bot.domain import Queue, Tier
from bot.render import t, truncate

if TYPE_CHECKING:
    from bot.tickets import ClockView, FileableAccount, HomeSummary, TicketCard, TicketList

OPTION_LIMIT = 75
TITLE_LIMIT = 24
MAX_OPTIONS = 100
METADATA_LIMIT = 3000
SUBJECT_MAX = 150
DESCRIPTION_MAX = 2500


class TicketIds(StrEnum):
    # queue message buttons (value: the ticket number)
    TAKE = "ticket.take"
    ESCALATE = "ticket.escalate"
    HAND_BACK = "ticket.hand_back"
    RESOLVE = "ticket.resolve"
    QUEUE_ACTIONS = "ticket.queue_actions"
    # modals (callback ids)
    NEW_MODAL = "ticket.new"
    NEW_CONFIRM = "ticket.new_confirm"
    ESCALATE_MODAL = "ticket.escalate_modal"
    HAND_BACK_MODAL = "ticket.hand_back_modal"
    RESOLVE_MODAL = "ticket.resolve_modal"
    # input blocks, each with one element whose action id is the same string
    EA = "ticket.ea"
    SEVERITY = "ticket.severity"
    QUEUE = "ticket.queue"
    PRODUCT = "ticket.product"
    SUBJECT = "ticket.subject"
    DESCRIPTION = "ticket.description"
    CHECKLIST = "ticket.checklist"
    IMPACT = "ticket.impact"
    REASON = "ticket.reason"
    # App Home
    HOME_MINE = "ticket.home.mine"
    HOME_QUEUE = "ticket.home.queue"


CHECKLIST_ITEMS = ("reproduced", "known_issues", "logs")


# A ticket's card and its queue message show the same few instants, again and again.
@lru_cache(maxsize=4096)
def slack_date(at: dt.datetime) -> Markup:
    """An instant Slack shows in each reader's own timezone, with a UTC fallback."""
    fallback = at.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return Markup(f"<!date^{int(at.timestamp())}^{{date_short_pretty}} {{time}}|{fallback}>")


def unescape(text: str) -> str:
    """Template output for a plain_text object: Slack shows plain text as is, so the
    mrkdwn entities would appear literally (and plain text never pings anyone)."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _plain(text: str, limit: int) -> PlainTextObject:
    return PlainTextObject(text=truncate(unescape(text), limit))


def _option(value: str, text: str, description: str | None = None) -> Option:
    return Option(
        value=value,
        text=truncate(unescape(text), OPTION_LIMIT),
        description=truncate(unescape(description), OPTION_LIMIT) if description else None,
    )


# --------------------------------------------------------------------------- pieces


def _clock_text(card: TicketCard, clock: ClockView, locale: str) -> str:
    holder = card.partner.name if clock.tier is Tier.PARTNER and card.partner else card.vendor.name
    return t(
        "tickets.clock_line",
        locale,
        tier=clock.tier.value,
        holder=holder,
        state=clock.state.value,
        due=slack_date(clock.due_at) if clock.due_at else None,
        responded=slack_date(clock.responded_at) if clock.responded_at else None,
        target=sla.describe_target(clock.target, locale),
    )


def summary_text(card: TicketCard, locale: str) -> str:
    """One line per ticket: id, severity, customer, EA, product, subject, status, due."""
    return _summary(card, locale)


def _summary(card: TicketCard, locale: str) -> str:
    clock = card.current_clock
    return t(
        "tickets.summary_line",
        locale,
        ticket=card.ref,
        severity=card.severity_label,
        customer=card.customer.name,
        ea=card.ticket.ea,
        product=card.ticket.product,
        subject=card.ticket.subject,
        status=card.ticket.status.value,
        due=slack_date(clock.due_at)
        if clock and clock.due_at and clock.responded_at is None
        else None,
        breaching=card.breaching,
    )


# --------------------------------------------------------------------------- queue


def queue_text(
    card: TicketCard, locale: str, *, shown_in: Tier | None = None, left: bool = False
) -> str:
    """The plain text of a queue message (notification text; names id and severity).
    ``left``: the ticket went to another partner, whom this queue is not told of."""
    clock = card.current_clock
    return t(
        "tickets.queue_text",
        locale,
        ticket=card.ref,
        severity=card.severity_label,
        customer=card.customer.name,
        ea=card.ticket.ea,
        product=card.ticket.product,
        subject=card.ticket.subject,
        business=card.ticket.queue is Queue.BUSINESS,
        due=slack_date(clock.due_at) if clock and clock.due_at else None,
        moved_to=card.holder_name
        if shown_in is not None and shown_in is not card.ticket.tier and not left
        else None,
        left=left,
        status=card.ticket.status.value,
    )


def queue_message(
    card: TicketCard, locale: str, *, shown_in: Tier | None = None, left: bool = False
) -> list[Block]:
    """A ticket in a tier's queue channel: who, what, how urgent, when due, and the
    buttons of that tier. Once the ticket has left that tier or that partner
    (``left``), or is resolved, the message stays as a record without buttons."""
    ticket = card.ticket
    here = shown_in or ticket.tier
    live = here is ticket.tier and ticket.status.is_open and not left
    clock = card.current_clock
    blocks: list[Block] = [
        section(
            t(
                "tickets.queue_body",
                locale,
                ticket=card.ref,
                severity=card.severity_label,
                customer=card.customer.name,
                ea=ticket.ea,
                account=card.account.name,
                product=ticket.product,
                subject=ticket.subject,
                business=ticket.queue is Queue.BUSINESS,
                partner=card.partner.name if card.partner else None,
                due=slack_date(clock.due_at) if live and clock and clock.due_at else None,
            )
        ),
        context(
            t(
                "tickets.queue_status",
                locale,
                status=ticket.status.value,
                assignee=card.assignee.name if card.assignee else None,
                assignee_id=card.assignee.slack_user_id if card.assignee else None,
                moved_to=card.holder_name if here is not ticket.tier and not left else None,
                left=left,
            )
        ),
    ]
    if live:
        value = str(ticket.id)
        buttons = [
            button(
                t("tickets.button_take", locale),
                action_id=TicketIds.TAKE,
                value=value,
                style="primary",
            )
        ]
        if ticket.tier is Tier.PARTNER:
            buttons.append(
                button(
                    t("tickets.button_escalate", locale), action_id=TicketIds.ESCALATE, value=value
                )
            )
        elif ticket.partner is not None:  # a customer without partner has nobody to hand back to
            buttons.append(
                button(
                    t("tickets.button_hand_back", locale),
                    action_id=TicketIds.HAND_BACK,
                    value=value,
                )
            )
        buttons.append(
            button(t("tickets.button_resolve", locale), action_id=TicketIds.RESOLVE, value=value)
        )
        blocks.append(actions(*buttons, block_id=TicketIds.QUEUE_ACTIONS))
    return blocks


# --------------------------------------------------------------------------- replies


def ticket_blocks(card: TicketCard, locale: str, *, headline: str | None = None) -> list[Block]:
    """``/ticket show`` and the replies to changes: the ticket, both clocks, history."""
    ticket = card.ticket
    blocks: list[Block] = []
    if headline:
        blocks.append(section(headline))
    blocks.append(
        header(unescape(t("tickets.card_title", locale, ticket=card.ref, subject=ticket.subject)))
    )
    blocks.append(
        section(
            t(
                "tickets.card_body",
                locale,
                severity=card.severity_label,
                status=ticket.status.value,
                tier=ticket.tier.value,
                holder=card.holder_name,
                business=ticket.queue is Queue.BUSINESS,
                customer=card.customer.name,
                ea=ticket.ea,
                account=card.account.name,
                product=ticket.product,
                partner=card.partner.name if card.partner else None,
                vendor=card.vendor.name if card.show_vendor else None,
                assignee=card.assignee.name if card.assignee else None,
                opened=slack_date(ticket.created_at),
                opened_by=ticket.opened_by,
            )
        )
    )
    if card.clocks:
        blocks.append(section("\n".join(_clock_text(card, c, locale) for c in card.clocks)))
    if ticket.description:
        blocks.append(section(t("tickets.card_description", locale, text=ticket.description)))
    if card.events:
        lines = [
            t(
                "tickets.event_line",
                locale,
                kind=e.kind,
                at=slack_date(e.at),
                actor=e.actor,
                data=_event_detail(e.data),
            )
            for e in card.events[-10:]
        ]
        blocks.append(DividerBlock())
        blocks.append(context(truncate("\n".join(lines), 2000)))
    return fit(blocks)


def _event_detail(data: Mapping[str, object]) -> str:
    for key in ("reason", "resolution", "text", "assignee"):
        value = data.get(key)
        if value is not None:
            return truncate(str(value), 140)
    return ""


def list_blocks(found: TicketList, locale: str, *, headline: str) -> list[Block]:
    blocks: list[Block] = [section(headline)]
    for card in found.cards[:40]:
        blocks.append(section(_summary(card, locale)))
    if len(found.cards) > 40:
        blocks.append(context(t("tickets.list_more", locale, count=len(found.cards) - 40)))
    return fit(blocks)


# --------------------------------------------------------------------------- modals


def severity_options(labels: Sequence[Mapping[int, str]], locale: str) -> list[Option]:
    """1–4 with the vendors' labels ("Sev 1", "A"…) and a one-line definition each."""
    options = []
    for severity in (1, 2, 3, 4):
        names = list(dict.fromkeys(m.get(severity, f"Sev {severity}") for m in labels)) or [
            f"Sev {severity}"
        ]
        options.append(
            _option(
                str(severity),
                t("tickets.severity_option", locale, severity=severity, labels=" / ".join(names)),
                t("tickets.severity_definition", locale, severity=severity),
            )
        )
    return options


def new_ticket_modal(accounts: Sequence[FileableAccount], locale: str) -> View:
    """The "new ticket" form: EA (only those the actor may file on), severity with the
    vendor's labels, technical or business, product, subject, description."""
    ea_options = [
        _option(a.account.ea, t("tickets.ea_option", locale, ea=a.account.ea, name=a.account.name))
        for a in accounts[:MAX_OPTIONS]
    ]
    severities = severity_options([a.vendor.severity_labels for a in accounts], locale)
    queues = [
        _option(Queue.TECHNICAL.value, t("tickets.queue_option", locale, queue="technical")),
        _option(Queue.BUSINESS.value, t("tickets.queue_option", locale, queue="business")),
    ]
    products = sorted({p for a in accounts for p in a.products})
    blocks: list[Block] = [
        InputBlock(
            block_id=TicketIds.EA,
            label=_plain(t("tickets.modal_ea", locale), 2000),
            element=StaticSelectElement(
                action_id=TicketIds.EA,
                options=ea_options,
                initial_option=ea_options[0] if len(ea_options) == 1 else None,
                placeholder=_plain(t("tickets.modal_ea_placeholder", locale), 150),
            ),
        ),
        InputBlock(
            block_id=TicketIds.SEVERITY,
            label=_plain(t("tickets.modal_severity", locale), 2000),
            element=StaticSelectElement(
                action_id=TicketIds.SEVERITY, options=severities, initial_option=severities[2]
            ),
        ),
        InputBlock(
            block_id=TicketIds.QUEUE,
            label=_plain(t("tickets.modal_queue", locale), 2000),
            element=RadioButtonsElement(
                action_id=TicketIds.QUEUE, options=queues, initial_option=queues[0]
            ),
        ),
        InputBlock(
            block_id=TicketIds.PRODUCT,
            label=_plain(t("tickets.modal_product", locale), 2000),
            optional=True,
            hint=_plain(t("tickets.modal_product_hint", locale, products=products[:8]), 2000),
            element=PlainTextInputElement(action_id=TicketIds.PRODUCT, max_length=200),
        ),
        InputBlock(
            block_id=TicketIds.SUBJECT,
            label=_plain(t("tickets.modal_subject", locale), 2000),
            element=PlainTextInputElement(action_id=TicketIds.SUBJECT, max_length=SUBJECT_MAX),
        ),
        InputBlock(
            block_id=TicketIds.DESCRIPTION,
            label=_plain(t("tickets.modal_description", locale), 2000),
            optional=True,
            element=PlainTextInputElement(
                action_id=TicketIds.DESCRIPTION, multiline=True, max_length=DESCRIPTION_MAX
            ),
        ),
    ]
    return View(
        type="modal",
        callback_id=TicketIds.NEW_MODAL,
        title=_plain(t("tickets.modal_new_title", locale), TITLE_LIMIT),
        submit=_plain(t("tickets.modal_submit_open", locale), TITLE_LIMIT),
        close=_plain(t("tickets.modal_cancel", locale), TITLE_LIMIT),
        blocks=blocks,
    )


def form_metadata(form: Mapping[str, Any]) -> str:
    """The new-ticket form carried over to the suggestion step (Slack allows 3000 chars)."""
    data = dict(form)
    text = json.dumps(data, ensure_ascii=False)
    while len(text) > METADATA_LIMIT and data.get("description"):
        description = str(data["description"])
        data["description"] = description[
            : max(0, len(description) - (len(text) - METADATA_LIMIT) - 1)
        ]
        text = json.dumps(data, ensure_ascii=False)
    return text


def faq_suggestion_modal(*, slug: str, title: str, form: Mapping[str, Any], locale: str) -> View:
    """Before a ticket is opened: an FAQ entry that seems to answer the subject, with the
    way to open the ticket anyway (the form travels in ``private_metadata``)."""
    return View(
        type="modal",
        callback_id=TicketIds.NEW_CONFIRM,
        private_metadata=form_metadata(form),
        title=_plain(t("tickets.modal_new_title", locale), TITLE_LIMIT),
        submit=_plain(t("tickets.modal_submit_anyway", locale), TITLE_LIMIT),
        close=_plain(t("tickets.modal_cancel", locale), TITLE_LIMIT),
        blocks=[
            section(t("tickets.faq_suggestion", locale, title=title, slug=slug)),
            context(t("tickets.faq_suggestion_hint", locale)),
        ],
    )


def done_modal(text: str, locale: str) -> View:
    """The last step of a modal flow: what happened (the ticket id), and a close button."""
    return View(
        type="modal",
        title=_plain(t("tickets.modal_done_title", locale), TITLE_LIMIT),
        close=_plain(t("tickets.modal_close", locale), TITLE_LIMIT),
        blocks=[section(text)],
    )


def escalate_modal(card: TicketCard, locale: str) -> View:
    """``/escalate <id>`` alone and the Escalate button: the first-line checklist (R3),
    the business impact, the severity the ATC assigns, and the reason."""
    severities = severity_options([card.vendor.severity_labels], locale)
    checklist = [
        _option(item, t("tickets.checklist_item", locale, item=item)) for item in CHECKLIST_ITEMS
    ]
    return View(
        type="modal",
        callback_id=TicketIds.ESCALATE_MODAL,
        private_metadata=str(card.ticket.id),
        title=_plain(t("tickets.modal_escalate_title", locale), TITLE_LIMIT),
        submit=_plain(t("tickets.modal_submit_escalate", locale), TITLE_LIMIT),
        close=_plain(t("tickets.modal_cancel", locale), TITLE_LIMIT),
        blocks=[
            section(_summary(card, locale)),
            InputBlock(
                block_id=TicketIds.CHECKLIST,
                label=_plain(t("tickets.modal_checklist", locale), 2000),
                optional=True,
                element=CheckboxesElement(action_id=TicketIds.CHECKLIST, options=checklist),
            ),
            InputBlock(
                block_id=TicketIds.IMPACT,
                label=_plain(t("tickets.modal_impact", locale), 2000),
                optional=True,
                element=PlainTextInputElement(
                    action_id=TicketIds.IMPACT, multiline=True, max_length=1000
                ),
            ),
            InputBlock(
                block_id=TicketIds.SEVERITY,
                label=_plain(t("tickets.modal_escalation_severity", locale), 2000),
                element=StaticSelectElement(
                    action_id=TicketIds.SEVERITY,
                    options=severities,
                    initial_option=severities[card.ticket.severity - 1],
                ),
            ),
            InputBlock(
                block_id=TicketIds.REASON,
                label=_plain(t("tickets.modal_escalation_reason", locale), 2000),
                element=PlainTextInputElement(
                    action_id=TicketIds.REASON, multiline=True, max_length=2000
                ),
            ),
        ],
    )


def reason_modal(kind: str, card: TicketCard, locale: str) -> View:
    """The Hand back and Resolve buttons: one required text (the reason, the resolution)."""
    callback = TicketIds.HAND_BACK_MODAL if kind == "hand_back" else TicketIds.RESOLVE_MODAL
    return View(
        type="modal",
        callback_id=callback,
        private_metadata=str(card.ticket.id),
        title=_plain(t("tickets.modal_reason_title", locale, kind=kind), TITLE_LIMIT),
        submit=_plain(t("tickets.modal_reason_submit", locale, kind=kind), TITLE_LIMIT),
        close=_plain(t("tickets.modal_cancel", locale), TITLE_LIMIT),
        blocks=[
            section(_summary(card, locale)),
            InputBlock(
                block_id=TicketIds.REASON,
                label=_plain(t("tickets.modal_reason_label", locale, kind=kind), 2000),
                element=PlainTextInputElement(
                    action_id=TicketIds.REASON, multiline=True, max_length=2000
                ),
            ),
        ],
    )


# --------------------------------------------------------------------------- App Home


def home_view(summary: HomeSummary, locale: str) -> View:
    blocks: list[Block] = [header(unescape(t("tickets.home_title", locale)))]
    blocks.append(
        section(
            t("tickets.home_mine", locale, count=len(summary.mine)), block_id=TicketIds.HOME_MINE
        )
    )
    blocks.extend(section(_summary(card, locale)) for card in summary.mine[:15])
    if summary.queue_name is not None:
        blocks.append(DividerBlock())
        counts = [
            (summary.queue_labels.get(sev) or f"Sev {sev}", count)
            for sev, count in sorted(summary.queue_counts.items())
        ]
        blocks.append(
            section(
                t("tickets.home_queue", locale, queue=summary.queue_name, counts=counts),
                block_id=TicketIds.HOME_QUEUE,
            )
        )
        blocks.append(section(t("tickets.home_breaching", locale, count=len(summary.breaching))))
        blocks.extend(section(_summary(card, locale)) for card in summary.breaching[:15])
    blocks.append(context(t("tickets.home_hint", locale)))
    return View(type="home", blocks=fit(blocks, 100))
