"""Pure Block Kit builders (``slack_sdk.models``), one module per area.

Each module defines its action, callback and block ids once, in a StrEnum. Text comes
from ``bot.render`` (escaped for Slack); builders never format user text themselves.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from slack_sdk.models.blocks import (
    ActionsBlock,
    Block,
    ButtonElement,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.render import truncate

TEXT_LIMIT = 3000  # characters of a message's text Slack takes

SECTION_LIMIT = 3000
HEADER_LIMIT = 150
BUTTON_LIMIT = 75
MAX_BLOCKS = 50
# Distinct messages kept serialized (an EA card, an FAQ answer… for one viewer's data):
# about 20 MB at most for the largest (an entitlement page of 50 keys).
RENDERED_CAPACITY = 1024


def header(text: str) -> HeaderBlock:
    return HeaderBlock(text=PlainTextObject(text=truncate(text, HEADER_LIMIT)))


def section(text: str, *, block_id: str | None = None, fields: Sequence[str] = ()) -> SectionBlock:
    """A mrkdwn section; ``text`` must already be escaped (it comes from a template)."""
    return SectionBlock(
        text=MarkdownTextObject(text=truncate(text, SECTION_LIMIT)),
        block_id=block_id,
        fields=[MarkdownTextObject(text=truncate(f, 2000)) for f in fields[:10]] or None,
    )


def context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[MarkdownTextObject(text=truncate(x, 2000)) for x in texts[:10]])


def button(
    label: str, *, action_id: str, value: str = "", style: str | None = None, url: str | None = None
) -> ButtonElement:
    return ButtonElement(
        text=PlainTextObject(text=truncate(label, BUTTON_LIMIT)),
        action_id=action_id,
        value=value[:2000] or None,
        style=style,
        url=url,
    )


def actions(*buttons: ButtonElement, block_id: str | None = None) -> ActionsBlock:
    return ActionsBlock(elements=list(buttons[:25]), block_id=block_id)


def fit(blocks: Sequence[Block], limit: int = MAX_BLOCKS) -> list[Block]:
    """Keep within Slack's block count for a message."""
    return list(blocks[:limit])


def as_dicts(blocks: Sequence[Block]) -> list[dict[str, object]]:
    return [b.to_dict() for b in blocks]


@dataclass(frozen=True)
class Rendered:
    """A message ready to send: its text and its blocks as Slack's JSON objects (shared
    between requests: never change them)."""

    text: str
    blocks: tuple[dict[str, Any], ...]

    @functools.cached_property
    def ephemeral_json(self) -> str:
        """The message as a private answer to a slash command, the body Bolt's
        ``ack(text=, blocks=, response_type="ephemeral")`` would send: encoded once for
        a message that is answered again and again (a remembered one)."""
        body: dict[str, Any] = {
            "text": truncate(self.text, TEXT_LIMIT),
            "response_type": "ephemeral",
        }
        if self.blocks:
            body["blocks"] = list(self.blocks)
        return json.dumps(body)


class Message(Protocol):
    """What a builder of a whole message returns."""

    @property
    def text(self) -> str: ...

    @property
    def blocks(self) -> Sequence[Block]: ...


V = TypeVar("V")
Builder = Callable[[V, str], Message]


def rendered(build: Builder[V], value: V, locale: str) -> Rendered:
    """``build(value, locale)`` serialized, remembered for equal values.

    The builders are pure (same value and locale, same message) and ``to_dict()``
    validates every object again as it serializes it: a message asked for again (the
    same EA card for the same viewer, the same FAQ answer) is built and validated once.
    The values are the use cases' frozen results; one that cannot be hashed is built
    each time."""
    if isinstance(value, Hashable):
        try:
            hash(value)
        except TypeError:
            pass
        else:
            return _remembered(build, value, locale)
    return _serialize(build, value, locale)


def _serialize(build: Builder[V], value: V, locale: str) -> Rendered:
    message = build(value, locale)
    return Rendered(message.text, tuple(b.to_dict() for b in message.blocks))


_remembered = functools.lru_cache(maxsize=RENDERED_CAPACITY)(_serialize)
