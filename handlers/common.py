"""Small pieces every command family uses to answer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import aiohttp
from slack_bolt.context.ack.async_ack import AsyncAck
from slack_bolt.context.respond.async_respond import AsyncRespond
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import Rendered
from bot.errors import UserError
from bot.render import t

log = logging.getLogger(__name__)


async def reply(ack: AsyncAck, text: str, blocks: Sequence[Block] | None = None) -> None:
    """Answer a slash command privately: a plain text that makes sense alone, and blocks."""
    await send(ack, Rendered(text, tuple(b.to_dict() for b in blocks or ())))


async def send(ack: AsyncAck, message: Rendered) -> None:
    """Answer a slash command privately with a message already serialized: the answer
    ``ack(text=…, blocks=…, response_type="ephemeral")`` would make, its JSON written once
    per message (``Rendered.ephemeral_json``)."""
    ack.response = BoltResponse(status=200, body=message.ephemeral_json)


def usage_text(key: str, locale: str) -> str:
    return t(key, locale)


def error_text(error: UserError, locale: str) -> str:
    """The user's message for a refusal or bad input, with the usage line if any."""
    key = error.key if "." in error.key else f"errors.{error.key}"
    text = t(key, locale, **error.params)
    if error.usage:
        text += f"\n{t('errors.usage_prefix', locale)} {usage_text(error.usage, locale)}"
    return text


async def tell(respond: AsyncRespond, text: str) -> None:
    """A private answer after the ack (through the response URL), leaving the message
    that was clicked as it is."""
    await respond(text=text, response_type="ephemeral", replace_original=False)


@asynccontextmanager
async def clicked(ack: AsyncAck, respond: AsyncRespond, locale: str) -> AsyncIterator[None]:
    """Acknowledge a button click, then run the block; a refusal raised inside is
    answered privately through the click's response URL.

    Raising after the ack would reach Slack as no answer at all: Bolt drops the
    acknowledgement of a listener that fails, so the click would time out.
    """
    await ack()
    try:
        yield
    except UserError as error:
        await tell(respond, error_text(error, locale))


async def open_form(
    client: AsyncWebClient,
    respond: AsyncRespond,
    *,
    trigger_id: object,
    view: View,
    locale: str,
    typed: str,
) -> bool:
    """Open a modal after the ack. When Slack refuses (an expired trigger, an outage),
    the user is told through the response URL what happened and how to do the same by
    typing the command (``typed``, already rendered); False then."""
    try:
        if not isinstance(trigger_id, str) or not trigger_id:
            raise ValueError("no trigger id")
        await client.views_open(trigger_id=trigger_id, view=view)
        return True
    except (SlackApiError, aiohttp.ClientError, TimeoutError, ValueError) as exc:
        log.warning("views.open failed: %s", _slack_error(exc))
    await respond(
        text=t("errors.form_failed", locale, typed=typed),
        response_type="ephemeral",
        replace_original=False,
    )
    return False


def _slack_error(exc: Exception) -> str:
    if isinstance(exc, SlackApiError) and isinstance(exc.response.data, dict):
        return str(exc.response.data.get("error") or exc.response.status_code)
    return type(exc).__name__
