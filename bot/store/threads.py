"""Shared channels, the threads of each ticket, and the messages seen in them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import Channel, ChannelRole, ThreadSide, TicketThread
from bot.store import prepared
from bot.store import tables as t
from bot.store.engine import execute_hot

# --- channels ----------------------------------------------------------------------------


def _channel(row: RowMapping) -> Channel:
    return Channel(
        channel=row["channel"],
        org=row["org"],
        role=ChannelRole(row["role"]),
        partner=row["partner"],
    )


async def get_channel(conn: AsyncConnection, /, *, channel: str) -> Channel | None:
    row = (
        (await conn.execute(select(t.channels).where(t.channels.c.channel == channel)))
        .mappings()
        .first()
    )
    return _channel(row) if row is not None else None


async def list_channels(conn: AsyncConnection, /) -> list[Channel]:
    rows = (await conn.execute(select(t.channels).order_by(t.channels.c.channel))).mappings()
    return [_channel(row) for row in rows]


async def escalation_channel(
    conn: AsyncConnection, /, *, partner: str, vendor: str
) -> Channel | None:
    """The channel a partner shares with a vendor's support, if any."""
    row = (
        (
            await conn.execute(
                select(t.channels)
                .where(t.channels.c.role == ChannelRole.ESCALATION.value)
                .where(t.channels.c.partner == partner)
                .where(t.channels.c.org == vendor)
                .order_by(t.channels.c.channel)
                .limit(1)
            )
        )
        .mappings()
        .first()
    )
    return _channel(row) if row is not None else None


async def insert_channel(
    conn: AsyncConnection,
    /,
    *,
    channel: Channel,
    linked_by: str | None = None,
    at: dt.datetime | None = None,
) -> None:
    await conn.execute(
        insert(t.channels).values(
            channel=channel.channel,
            org=channel.org,
            role=channel.role.value,
            partner=channel.partner,
            linked_by=linked_by,
            linked_at=at,
        )
    )


async def delete_channel(conn: AsyncConnection, /, *, channel: str) -> None:
    await conn.execute(delete(t.channels).where(t.channels.c.channel == channel))


# --- ticket threads ------------------------------------------------------------------------


def _thread(row: RowMapping) -> TicketThread:
    return TicketThread(
        ticket_id=row["ticket_id"],
        side=ThreadSide(row["side"]),
        channel=row["channel"],
        ts=row["ts"],
        card_ts=row["card_ts"],
    )


async def threads_of(conn: AsyncConnection, /, *, ticket_id: int) -> dict[ThreadSide, TicketThread]:
    rows = (
        await conn.execute(
            select(t.ticket_threads).where(t.ticket_threads.c.ticket_id == ticket_id)
        )
    ).mappings()
    found = [_thread(row) for row in rows]
    return {thread.side: thread for thread in found}


async def thread_at(conn: AsyncConnection, /, *, channel: str, ts: str) -> TicketThread | None:
    """The ticket thread whose parent message is ``ts`` in ``channel``."""
    row = (
        (
            await conn.execute(
                select(t.ticket_threads)
                .where(t.ticket_threads.c.channel == channel)
                .where(t.ticket_threads.c.ts == ts)
            )
        )
        .mappings()
        .first()
    )
    return _thread(row) if row is not None else None


async def add_thread(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    side: ThreadSide,
    channel: str,
    ts: str | None,
    card_ts: str | None = None,
) -> bool:
    """Record a side's thread unless the ticket has one there already (its first thread
    stays the conversation); True when it was recorded."""
    values = {
        "ticket_id": ticket_id,
        "side": side.value,
        "channel": channel,
        "ts": ts,
        "card_ts": card_ts,
    }
    stmt = prepared.once(conn, "add_thread", _add_thread)
    return bool((await execute_hot(conn, stmt, values)).rowcount)


def _add_thread(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (one per delivered queue post: built once)."""
    if dialect == "postgresql":
        return postgresql.insert(t.ticket_threads).on_conflict_do_nothing()
    return sqlite.insert(t.ticket_threads).on_conflict_do_nothing()


async def forget_thread(conn: AsyncConnection, /, *, ticket_id: int, side: ThreadSide) -> None:
    """The ticket no longer lives in that side's thread (its reader lost the ticket): the
    next post that starts a thread there becomes it."""
    await conn.execute(
        delete(t.ticket_threads)
        .where(t.ticket_threads.c.ticket_id == ticket_id)
        .where(t.ticket_threads.c.side == side.value)
    )


async def set_card(
    conn: AsyncConnection, /, *, ticket_id: int, side: ThreadSide, card_ts: str
) -> None:
    await conn.execute(
        update(t.ticket_threads)
        .where(t.ticket_threads.c.ticket_id == ticket_id)
        .where(t.ticket_threads.c.side == side.value)
        .values(card_ts=card_ts)
    )


# --- messages seen in threads --------------------------------------------------------------


async def remember_message(
    conn: AsyncConnection,
    /,
    *,
    channel: str,
    ts: str,
    ticket_id: int,
    side: ThreadSide,
    author: str | None,
    text: str,
    at: dt.datetime,
) -> bool:
    """Record a message of a ticket's thread; False (nothing written) when it was seen
    already — the same event delivered twice."""
    values = {
        "channel": channel,
        "ts": ts,
        "ticket_id": ticket_id,
        "side": side.value,
        "author": author,
        "text": text,
        "at": at,
    }
    stmt: Any
    if conn.dialect.name == "postgresql":
        stmt = postgresql.insert(t.thread_messages).values(**values).on_conflict_do_nothing()
    else:
        stmt = sqlite.insert(t.thread_messages).values(**values).on_conflict_do_nothing()
    return bool((await conn.execute(stmt)).rowcount)


async def get_message(
    conn: AsyncConnection, /, *, ticket_id: int, ts: str
) -> tuple[ThreadSide, str | None, str] | None:
    """(side, author email, text) of a message seen in one of the ticket's threads."""
    row = (
        await conn.execute(
            select(t.thread_messages.c.side, t.thread_messages.c.author, t.thread_messages.c.text)
            .where(t.thread_messages.c.ticket_id == ticket_id)
            .where(t.thread_messages.c.ts == ts)
        )
    ).first()
    if row is None:
        return None
    return ThreadSide(row[0]), row[1], row[2]
