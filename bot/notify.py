"""Notifications owed to Slack, written to the outbox inside the caller's transaction.

Nothing here talks to Slack: the outbox worker (``bot.outbox``) delivers later, with
retries, so a change and the messages it owes are committed together or not at all.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from bot.render import truncate
from bot.store import outbox as outbox_db
from bot.text import normalize_email

MAX_TEXT = 3000


async def to_channel(
    conn: AsyncConnection,
    /,
    *,
    channel: str,
    text: str,
    at: dt.datetime,
    blocks: list[dict[str, Any]] | None = None,
    kind: str = "channel",
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
    not_before: dt.datetime | None = None,
    team: str | None = None,
    enterprise: str | None = None,
) -> bool:
    """Owe a ``chat.postMessage`` to a channel (a tier's queue). ``team`` /
    ``enterprise``: the workspace whose installation delivers it (OAuth mode)."""
    return await _owe_post(
        conn,
        {"channel": channel, **door(team=team, enterprise=enterprise)},
        text=text,
        blocks=blocks,
        at=at,
        kind=kind,
        ticket_id=ticket_id,
        dedupe_key=dedupe_key,
        not_before=not_before,
    )


async def to_person(
    conn: AsyncConnection,
    /,
    *,
    email: str,
    text: str,
    at: dt.datetime,
    slack_user_id: str | None = None,
    blocks: list[dict[str, Any]] | None = None,
    kind: str = "dm",
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
    team: str | None = None,
    enterprise: str | None = None,
) -> bool:
    """Owe a direct message. The worker posts it with ``channel`` = the person's Slack
    user id, looking the id up by email when it is not known yet; through the
    installation of ``team`` / ``enterprise`` when given (the person's workspace)."""
    target: dict[str, Any] = {
        "user_email": normalize_email(email),
        **door(team=team, enterprise=enterprise),
    }
    if slack_user_id:
        target["channel"] = slack_user_id
    return await _owe_post(
        conn,
        target,
        text=text,
        blocks=blocks,
        at=at,
        kind=kind,
        ticket_id=ticket_id,
        dedupe_key=dedupe_key,
    )


# Payload keys naming the installation an entry goes through; the worker pops them.
TEAM, ENTERPRISE = "team", "enterprise"


def door(*, team: str | None, enterprise: str | None) -> dict[str, str]:
    """The payload keys naming the installation that delivers an entry."""
    keys: dict[str, str] = {}
    if team:
        keys[TEAM] = team
    if enterprise:
        keys[ENTERPRISE] = enterprise
    return keys


async def _owe_post(
    conn: AsyncConnection,
    target: dict[str, Any],
    *,
    text: str,
    blocks: list[dict[str, Any]] | None,
    at: dt.datetime,
    kind: str,
    ticket_id: int | None,
    dedupe_key: str | None,
    not_before: dt.datetime | None = None,
) -> bool:
    payload: dict[str, Any] = {**target, "text": truncate(text, MAX_TEXT)}
    if blocks:
        payload["blocks"] = blocks
    return await outbox_db.enqueue(
        conn,
        kind=kind,
        method="chat.postMessage",
        payload=payload,
        at=at,
        ticket_id=ticket_id,
        dedupe_key=dedupe_key,
        not_before=not_before,
    )


async def update_message(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    text: str,
    blocks: list[dict[str, Any]] | None,
    at: dt.datetime,
) -> bool:
    """Owe a ``chat.update`` of the ticket's queue message; the worker fills in the
    channel and ts once the original post has been delivered."""
    payload: dict[str, Any] = {"text": truncate(text, MAX_TEXT)}
    if blocks:
        payload["blocks"] = blocks
    return await outbox_db.enqueue(
        conn, kind="queue_update", method="chat.update", payload=payload, at=at, ticket_id=ticket_id
    )
