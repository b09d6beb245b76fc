"""What operators read and repair: health figures of the outbox and the SLA clocks, and
the dead outbox entries (``supportbot outbox list|retry|drop``)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import OPEN_STATUSES
from bot.store import tables as t
from bot.store.outbox import DEAD, PENDING, SENT

# A dead entry an operator chose to give up for good. Kept, not deleted: its dedupe key
# still stands, so a reminder given up is not owed again by the next scan.
DROPPED = "dropped"


@dataclass(frozen=True)
class Figures:
    """The state /healthz and /metrics report, read in one transaction."""

    outbox_pending: int
    outbox_dead: int
    # The pending entry that has been due the longest, if any: a running worker takes
    # due entries within a second, so a large age means delivery is stuck.
    oldest_due_at: dt.datetime | None
    reminders_sent: int
    breaches_open: int

    def oldest_due_age(self, now: dt.datetime) -> float:
        """Seconds since the longest-due pending entry fell due (0 with none)."""
        if self.oldest_due_at is None:
            return 0.0
        return max((now - self.oldest_due_at).total_seconds(), 0.0)


async def ping(conn: AsyncConnection, /) -> None:
    """Raises unless the database answers."""
    await conn.execute(text("SELECT 1"))


async def figures(conn: AsyncConnection, /, *, now: dt.datetime) -> Figures:
    by_status: dict[str, int] = dict(
        (
            await conn.execute(
                select(t.outbox.c.status, func.count())
                .where(t.outbox.c.status.in_([PENDING, DEAD]))
                .group_by(t.outbox.c.status)
            )
        ).all()
    )
    oldest_due = (
        await conn.execute(
            select(func.min(t.outbox.c.next_attempt_at))
            .where(t.outbox.c.status == PENDING)
            .where(t.outbox.c.next_attempt_at <= now)
        )
    ).scalar_one()
    reminders = (
        await conn.execute(
            select(func.count())
            .select_from(t.outbox)
            .where(t.outbox.c.kind == "reminder")
            .where(t.outbox.c.status == SENT)
        )
    ).scalar_one()
    breaches = (
        await conn.execute(
            select(func.count())
            .select_from(t.ticket_clocks)
            .join(t.tickets, t.tickets.c.id == t.ticket_clocks.c.ticket_id)
            .where(t.ticket_clocks.c.responded_at.is_(None))
            .where(t.ticket_clocks.c.due_at <= now)
            .where(t.tickets.c.status.in_([s.value for s in OPEN_STATUSES]))
            .where(t.tickets.c.tier == t.ticket_clocks.c.tier)
        )
    ).scalar_one()
    return Figures(
        outbox_pending=int(by_status.get(PENDING, 0)),
        outbox_dead=int(by_status.get(DEAD, 0)),
        oldest_due_at=oldest_due,
        reminders_sent=int(reminders),
        breaches_open=int(breaches),
    )


@dataclass(frozen=True)
class DeadEntry:
    id: int
    kind: str
    method: str
    ticket_id: int | None
    attempts: int
    created_at: dt.datetime
    last_error: str | None


async def dead_entries(conn: AsyncConnection, /) -> list[DeadEntry]:
    """The entries the worker gave up on, oldest first."""
    rows = await conn.execute(
        select(
            t.outbox.c.id,
            t.outbox.c.kind,
            t.outbox.c.method,
            t.outbox.c.ticket_id,
            t.outbox.c.attempts,
            t.outbox.c.created_at,
            t.outbox.c.last_error,
        )
        .where(t.outbox.c.status == DEAD)
        .order_by(t.outbox.c.id)
    )
    return [DeadEntry(*row) for row in rows.all()]


async def retry_dead(conn: AsyncConnection, /, *, entry_id: int, now: dt.datetime) -> bool:
    """Make a dead entry pending again, due now, with a fresh count of attempts.
    False when there is no dead entry with that id."""
    result = await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == entry_id)
        .where(t.outbox.c.status == DEAD)
        .values(
            status=PENDING,
            next_attempt_at=now,
            attempts=0,
            claimed_by=None,
            claimed_until=None,
        )
    )
    return bool(result.rowcount)


async def drop_dead(conn: AsyncConnection, /, *, entry_id: int) -> bool:
    """Give a dead entry up for good. False when there is no dead entry with that id."""
    result = await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == entry_id)
        .where(t.outbox.c.status == DEAD)
        .values(status=DROPPED)
    )
    return bool(result.rowcount)
