"""Block Kit for /faq answers, choices and topics."""

from __future__ import annotations

from enum import StrEnum
from typing import NamedTuple

from slack_sdk.models.blocks import Block, DividerBlock

from bot.blocks import actions, button, context, fit, section
from bot.faq_answers import FaqReply
from bot.render import LOCALES, t


class FaqIds(StrEnum):
    ANSWER_BLOCK_PREFIX = "faq:"  # + slug: the answer's first block (contract)
    HELPED = "faq.helped"
    NOT_HELPED = "faq.not_helped"
    OPEN_TICKET = "faq.open_ticket"
    PICK = "faq.pick"  # + ".<n>"; value: entry_value(slug, locale)
    FEEDBACK_BLOCK = "faq.feedback"
    CHOICES_BLOCK = "faq.choices"
    RELATED_BLOCK = "faq.related"
    # beside a ticket just opened: the answer that may settle it, and a button to close it
    DEFLECTION_BLOCK = "faq.deflection"
    SELF_SERVED = "faq.self_served"  # value: self_served_value(ticket_id, slug, locale)


def entry_value(slug: str, locale: str) -> str:
    """A button's value naming an entry and the language to show it in."""
    return f"{slug}:{locale}"


def parse_entry_value(value: str) -> tuple[str, str | None]:
    """(slug, locale or None) from :func:`entry_value` (a bare slug is accepted too)."""
    slug, _, locale = value.partition(":")
    return slug, locale if locale in LOCALES else None


def self_served_value(ticket_id: int, slug: str, locale: str) -> str:
    return f"{ticket_id}:{slug}:{locale}"


def parse_self_served_value(value: str) -> tuple[int, str, str | None] | None:
    """(ticket id, slug, locale) from :func:`self_served_value`, or None if malformed."""
    number, _, rest = value.partition(":")
    slug, locale = parse_entry_value(rest)
    if not number.isdigit() or not slug or not 0 < int(number) < 10**9:
        return None
    return int(number), slug, locale


def deflection_blocks(reply: FaqReply, ticket_id: int, ticket: str) -> list[Block]:
    """Under a ticket just opened: the FAQ answer that may settle it, and the button that
    closes the ticket when it does."""
    assert reply.slug is not None
    locale = reply.locale
    return [
        DividerBlock(),
        context(t("faq.deflection_intro", locale, ticket=ticket)),
        section(reply.text, block_id=FaqIds.DEFLECTION_BLOCK),
        actions(
            button(
                t("faq.self_served_button", locale, ticket=ticket),
                action_id=FaqIds.SELF_SERVED,
                value=self_served_value(ticket_id, reply.slug, locale),
                style="primary",
            )
        ),
    ]


def answer_blocks(reply: FaqReply, locale: str) -> list[Block]:
    assert reply.slug is not None
    value = entry_value(reply.slug, locale)
    blocks: list[Block] = [
        section(reply.text, block_id=f"{FaqIds.ANSWER_BLOCK_PREFIX}{reply.slug}"),
    ]
    if reply.related:
        blocks.append(context(t("faq.related_intro", locale)))
        blocks.append(
            actions(
                *(
                    button(title, action_id=f"{FaqIds.PICK}.{i}", value=entry_value(slug, locale))
                    for i, (slug, title) in enumerate(reply.related)
                ),
                block_id=FaqIds.RELATED_BLOCK,
            )
        )
    blocks.append(context(t("faq.source_footer", locale, title=reply.title)))
    blocks.append(
        actions(
            button(
                t("faq.helped_button", locale),
                action_id=FaqIds.HELPED,
                value=value,
                style="primary",
            ),
            button(t("faq.not_helped_button", locale), action_id=FaqIds.NOT_HELPED, value=value),
            button(t("faq.open_ticket_button", locale), action_id=FaqIds.OPEN_TICKET, value=value),
            block_id=FaqIds.FEEDBACK_BLOCK,
        )
    )
    return blocks


def choices_blocks(reply: FaqReply, locale: str) -> list[Block]:
    return [
        section(t("faq.weak_match_intro", locale, question=reply.question)),
        actions(
            *(
                button(title, action_id=f"{FaqIds.PICK}.{i}", value=entry_value(slug, locale))
                for i, (slug, title) in enumerate(reply.choices)
            ),
            block_id=FaqIds.CHOICES_BLOCK,
        ),
        actions(
            button(
                t("faq.open_ticket_button", locale),
                action_id=FaqIds.OPEN_TICKET,
                value=entry_value("", locale),
            )
        ),
    ]


def none_blocks(reply: FaqReply, locale: str) -> list[Block]:
    return [
        section(t("faq.no_match", locale, question=reply.question)),
        actions(
            button(
                t("faq.open_ticket_button", locale),
                action_id=FaqIds.OPEN_TICKET,
                value=entry_value("", locale),
            )
        ),
    ]


def topics_blocks(reply: FaqReply, locale: str) -> list[Block]:
    blocks: list[Block] = [section(t("faq.topics_intro", locale))]
    for theme, entries in reply.topics:
        blocks.append(DividerBlock())
        lines = "\n".join(
            f"• {e.titles.get(locale) or e.titles.get('en', e.slug)} — `/faq {e.slug}`"
            for e in entries
        )
        blocks.append(section(f"*{theme}*\n{lines}"))
    return fit(blocks)


def reply_blocks(reply: FaqReply, locale: str | None = None) -> list[Block]:
    """The reply's blocks, in its own language unless ``locale`` says otherwise."""
    locale = locale or reply.locale
    builders = {
        "answer": answer_blocks,
        "choices": choices_blocks,
        "none": none_blocks,
        "topics": topics_blocks,
    }
    return builders[reply.kind](reply, locale)


class FaqMessage(NamedTuple):
    text: str
    blocks: list[Block]


def reply_message(reply: FaqReply, locale: str) -> FaqMessage:
    """The whole reply in ``locale`` (see :func:`bot.blocks.rendered`)."""
    return FaqMessage(reply_text(reply, locale), reply_blocks(reply, locale))


def reply_text(reply: FaqReply, locale: str | None = None) -> str:
    locale = locale or reply.locale
    if reply.kind == "answer":
        return reply.text  # starts with the entry's title
    if reply.kind == "choices":
        return (
            t("faq.weak_match_intro", locale, question=reply.question)
            + " "
            + ", ".join(title for _, title in reply.choices)
        )
    if reply.kind == "none":
        return t("faq.no_match", locale, question=reply.question)
    return t("faq.topics_intro", locale)
