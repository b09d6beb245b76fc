"""Block Kit of the ticket threads: the customer's card, the EA picker asked in a
customer's thread, and relayed vendor answers with their one-click relay button."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import TYPE_CHECKING

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    InputBlock,
    Option,
    PlainTextInputElement,
    PlainTextObject,
    StaticSelectElement,
)
from slack_sdk.models.views import View

from bot.blocks import actions, button, context, section
from bot.domain import Account
from bot.render import t, truncate
from bot.routing import is_msp

if TYPE_CHECKING:
    from bot.tickets import TicketCard

OPTION_LIMIT = 75
MAX_OPTIONS = 100


class ThreadIds(StrEnum):
    # message shortcuts (callback ids)
    TICKET_FROM_MESSAGE = "ticket_from_message"
    REPLY_TO_CUSTOMER = "reply_to_customer"
    REPLY_TO_VENDOR = "reply_to_vendor"
    # buttons and menus in threads
    PICK_EA = "thread.pick_ea"  # value: the EA; the thread names the message
    RELAY_VENDOR_ANSWER = "thread.relay_vendor_answer"  # value: "<ticket>:<message ts>"
    REPLY_TO_CUSTOMER_BUTTON = "thread.reply_to_customer"  # value: the ticket number
    INTAKE_ACTIONS = "thread.intake_actions"
    RELAY_ACTIONS = "thread.relay_actions"
    # the reply modal (callback id) and its one input block (and element)
    REPLY_MODAL = "thread.reply_modal"
    REPLY_TEXT = "thread.reply_text"


def customer_card_text(card: TicketCard, locale: str) -> str:
    return t(
        "threads.customer_card",
        locale,
        ticket=card.ref,
        subject=card.ticket.subject,
        severity=card.severity_label,
        status=t("tickets.status_name", locale, value=card.ticket.status.value),
        ea=card.ticket.ea,
        holder=_customer_facing_holder(card),
    )


def _customer_facing_holder(card: TicketCard) -> str:
    # Under R2 the MSP answers for the whole chain: its customer never reads the vendor.
    if card.partner is not None and is_msp(card.partner):
        return card.partner.name
    return card.holder_name


def customer_card(card: TicketCard, locale: str) -> list[Block]:
    """The bot's answer in the customer's thread: the ticket as the customer sees it."""
    return [
        section(customer_card_text(card, locale)),
        context(t("threads.customer_card_hint", locale, ticket=card.ref)),
    ]


def ea_picker(accounts: Sequence[Account], locale: str) -> list[Block]:
    """Asked in the thread of a message when its customer has several EAs."""
    options = [
        Option(
            value=account.ea,
            text=PlainTextObject(text=truncate(f"{account.ea} · {account.name}", OPTION_LIMIT)),
        )
        for account in accounts[:MAX_OPTIONS]
    ]
    return [
        section(t("threads.choose_ea", locale)),
        ActionsBlock(
            block_id=ThreadIds.INTAKE_ACTIONS,
            elements=[
                StaticSelectElement(
                    action_id=ThreadIds.PICK_EA,
                    placeholder=PlainTextObject(text=t("threads.choose_ea_placeholder", locale)),
                    options=options,
                )
            ],
        ),
    ]


def relayed_vendor_answer(text: str, *, ticket_id: int, ts: str, locale: str) -> list[Block]:
    """A vendor's message in the partner thread, with the button that passes it on to
    the customer as it is (partners that are not MSPs only)."""
    return [
        section(text),
        actions(
            button(
                t("threads.button_relay_to_customer", locale),
                action_id=ThreadIds.RELAY_VENDOR_ANSWER,
                value=f"{ticket_id}:{ts}",
            ),
            block_id=ThreadIds.RELAY_ACTIONS,
        ),
    ]


def relayed_customer_message(text: str, *, ticket_id: int, locale: str) -> list[Block]:
    """A customer's message in the partner thread, with the button to answer them."""
    return [
        section(text),
        actions(
            button(
                t("threads.button_reply_to_customer", locale),
                action_id=ThreadIds.REPLY_TO_CUSTOMER_BUTTON,
                value=str(ticket_id),
            ),
            block_id=ThreadIds.RELAY_ACTIONS,
        ),
    ]


def reply_modal(ticket_ref: str, ticket_id: int, locale: str) -> View:
    """*Reply to customer*: the text goes to the customer's thread under the partner's name."""
    return View(
        type="modal",
        callback_id=ThreadIds.REPLY_MODAL,
        private_metadata=str(ticket_id),
        title=PlainTextObject(text=truncate(t("threads.modal_reply_title", locale), 24)),
        submit=PlainTextObject(text=truncate(t("threads.modal_reply_submit", locale), 24)),
        close=PlainTextObject(text=truncate(t("tickets.modal_cancel", locale), 24)),
        blocks=[
            section(t("threads.modal_reply_intro", locale, ticket=ticket_ref)),
            InputBlock(
                block_id=ThreadIds.REPLY_TEXT,
                label=PlainTextObject(text=t("threads.modal_reply_label", locale)),
                element=PlainTextInputElement(
                    action_id=ThreadIds.REPLY_TEXT, multiline=True, max_length=2900
                ),
            ),
        ],
    )
