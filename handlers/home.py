"""The App Home tab: the actor's open tickets with their SLA state; partners and vendor
staff also see their queue by severity and what is breaching."""

from __future__ import annotations

import datetime as dt
from typing import Any

from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.web.async_client import AsyncWebClient

from bot import tickets
from bot.blocks.tickets import home_view
from bot.store import Store
from bot.visibility import Actor


async def handle_home_opened(
    event: dict[str, Any],
    context: AsyncBoltContext,
    store: Store,
    now: dt.datetime,
    client: AsyncWebClient,
) -> None:
    if event.get("tab", "home") != "home":
        return
    actor = context.get("actor")
    if not isinstance(actor, Actor):
        return  # not a contact of ours: the middleware has already logged it
    summary = await tickets.home_summary(store, actor, now=now)
    await client.views_publish(user_id=event["user"], view=home_view(summary, actor.locale))


def register(app: AsyncApp) -> None:
    app.event("app_home_opened")(handle_home_opened)
