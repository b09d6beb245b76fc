"""Block Kit for /faq answers, choices and topics."""

from __future__ import annotations

from enum import StrEnum

from slack_sdk.models.blocks import Block, DividerBlock

from bot.blocks import actions, button, context, fit, section
from bot.faq_answers import FaqReply
from bot.render import t


class FaqIds(StrEnum):
    ANSWER_BLOCK_PREFIX = "faq:"  # + slug: the answer's first block (contract)
    HELPED = "faq.helped"
    NOT_HELPED = "faq.not_helped"
    OPEN_TICKET = "faq.open_ticket"
    PICK = "faq.pick"  # value: a slug
    FEEDBACK_BLOCK = "faq.feedback"
    CHOICES_BLOCK = "faq.choices"


def answer_blocks(reply: FaqReply, locale: str) -> list[Block]:
    assert reply.slug is not None
    return [
        section(reply.text, block_id=f"{FaqIds.ANSWER_BLOCK_PREFIX}{reply.slug}"),
        context(t("faq.source_footer", locale, title=reply.title)),
        actions(
            button(
                t("faq.helped_button", locale),
                action_id=FaqIds.HELPED,
                value=reply.slug,
                style="primary",
            ),
            button(
                t("faq.not_helped_button", locale), action_id=FaqIds.NOT_HELPED, value=reply.slug
            ),
            button(
                t("faq.open_ticket_button", locale), action_id=FaqIds.OPEN_TICKET, value=reply.slug
            ),
            block_id=FaqIds.FEEDBACK_BLOCK,
        ),
    ]


def choices_blocks(reply: FaqReply, locale: str) -> list[Block]:
    return [
        section(t("faq.weak_match_intro", locale, question=reply.question)),
        actions(
            *(
                button(title, action_id=f"{FaqIds.PICK}.{i}", value=slug)
                for i, (slug, title) in enumerate(reply.choices)
            ),
            block_id=FaqIds.CHOICES_BLOCK,
        ),
        actions(
            button(t("faq.open_ticket_button", locale), action_id=FaqIds.OPEN_TICKET, value="")
        ),
    ]


def none_blocks(reply: FaqReply, locale: str) -> list[Block]:
    return [
        section(t("faq.no_match", locale, question=reply.question)),
        actions(
            button(t("faq.open_ticket_button", locale), action_id=FaqIds.OPEN_TICKET, value="")
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


def reply_blocks(reply: FaqReply, locale: str) -> list[Block]:
    builders = {
        "answer": answer_blocks,
        "choices": choices_blocks,
        "none": none_blocks,
        "topics": topics_blocks,
    }
    return builders[reply.kind](reply, locale)


def reply_text(reply: FaqReply, locale: str) -> str:
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
