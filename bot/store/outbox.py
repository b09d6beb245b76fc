"""The outbox: Web API calls owed to Slack, stored in the transaction of the change
that owes them, then claimed and delivered by a worker (``bot.outbox``).

Claiming is one conditional ``UPDATE … RETURNING`` of the due rows, so several bot
instances on one database never deliver the same entry twice; a lease lets another
instance take over an entry whose worker died mid-delivery.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, func, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.store import prepared
from bot.store import tables as t
from bot.store.engine import execute_hot, insert_later

PENDING, SENT, DEAD = "pending", "sent", "dead"


@dataclass(frozen=True)
class OutboxEntry:
    id: int
    kind: str
    method: str
    payload: dict[str, Any]
    ticket_id: int | None
    attempts: int
    dedupe_key: str | None
    created_at: dt.datetime


async def enqueue(
    conn: AsyncConnection,
    /,
    *,
    kind: str,
    method: str,
    payload: dict[str, Any],
    at: dt.datetime,
    ticket_id: int | None = None,
    dedupe_key: str | None = None,
    not_before: dt.datetime | None = None,
) -> bool:
    """Owe one Web API call. With a ``dedupe_key`` already used, owe nothing and return
    False: that is how each reminder is sent once, whichever instance notices it first."""
    values = {
        "kind": kind,
        "method": method,
        "payload": payload,
        "ticket_id": ticket_id,
        "dedupe_key": dedupe_key,
        "created_at": at,
        "next_attempt_at": not_before or at,
        "attempts": 0,
        "status": PENDING,
    }
    if dedupe_key is None:
        await insert_later(conn, t.outbox, values)  # no key, no conflict: always owed
        return True
    result = await conn.execute(prepared.once(conn, "enqueue", _enqueue), values)
    return bool(result.rowcount)


def _enqueue(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO NOTHING (the dedupe key)."""
    if dialect == "postgresql":
        return postgresql.insert(t.outbox).on_conflict_do_nothing()
    if dialect == "sqlite":
        return sqlite.insert(t.outbox).on_conflict_do_nothing()
    raise RuntimeError(f"unsupported database {dialect}")  # pragma: no cover


async def claim(
    conn: AsyncConnection, /, *, worker: str, now: dt.datetime, lease: dt.timedelta, limit: int = 20
) -> list[OutboxEntry]:
    """Take up to ``limit`` due entries for this worker, oldest first, in one statement.

    On PostgreSQL the due rows are locked with ``SKIP LOCKED``: workers claiming at the
    same moment take different entries instead of waiting on one another. On SQLite the
    write transaction holds the database for the statement."""
    free = or_(t.outbox.c.claimed_until.is_(None), t.outbox.c.claimed_until < now)
    due = (
        select(t.outbox.c.id)
        .where(t.outbox.c.status == PENDING)
        .where(t.outbox.c.next_attempt_at <= now)
        .where(free)
        .order_by(t.outbox.c.id)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        # A claim is a lease, not a fact: should the server crash before it is on disk,
        # the entry is simply claimed again. Not waiting for the disk here takes a
        # flush off the path from a ticket's commit to its queue post.
        await conn.execute(_NO_FLUSH)
        # Materialized, so that LIMIT applies once: a subquery may be planned as a
        # semi-join that takes every due row.
        chosen = due.with_for_update(skip_locked=True).cte("due").prefix_with("MATERIALIZED")
        wanted: Any = t.outbox.c.id.in_(select(chosen.c.id))
    else:
        wanted = t.outbox.c.id.in_(due.scalar_subquery())
    stmt = (
        update(t.outbox)
        .where(wanted)
        .where(t.outbox.c.status == PENDING)
        .where(free)
        .values(claimed_by=worker, claimed_until=now + lease)
        .returning(*_ENTRY_COLUMNS)
    )
    rows = (await conn.execute(stmt)).mappings().all()
    return sorted(
        (
            OutboxEntry(
                id=row["id"],
                kind=row["kind"],
                method=row["method"],
                payload=row["payload"],
                ticket_id=row["ticket_id"],
                attempts=row["attempts"],
                dedupe_key=row["dedupe_key"],
                created_at=row["created_at"],
            )
            for row in rows
        ),
        key=lambda entry: entry.id,
    )


_NO_FLUSH = text("SET LOCAL synchronous_commit TO OFF")
_ENTRY_COLUMNS = (
    t.outbox.c.id,
    t.outbox.c.kind,
    t.outbox.c.method,
    t.outbox.c.payload,
    t.outbox.c.ticket_id,
    t.outbox.c.attempts,
    t.outbox.c.dedupe_key,
    t.outbox.c.created_at,
)


async def mark_sent(
    conn: AsyncConnection,
    /,
    *,
    entry_id: int,
    worker: str,
    at: dt.datetime,
    result: dict[str, Any] | None = None,
) -> bool:
    done = await execute_hot(
        conn,
        prepared.once(conn, "mark_sent", _mark_sent),
        {"entry_id": entry_id, "worker": worker, "sent": at, "delivered": result},
    )
    return bool(done.rowcount)


def _mark_sent(_dialect: str) -> Any:
    """Sent, by the worker holding the claim (one per delivery: built once)."""
    return (
        update(t.outbox)
        .where(t.outbox.c.id == bindparam("entry_id"))
        .where(t.outbox.c.claimed_by == bindparam("worker"))
        .values(
            status=SENT,
            sent_at=bindparam("sent", type_=t.outbox.c.sent_at.type),
            result=bindparam("delivered", type_=t.outbox.c.result.type),
            claimed_until=None,
            attempts=t.outbox.c.attempts + 1,
        )
    )


async def mark_failed(
    conn: AsyncConnection,
    /,
    *,
    entry_id: int,
    worker: str,
    error: str,
    retry_at: dt.datetime | None,
) -> None:
    """Record a failed attempt: retry at ``retry_at``, or give up (dead) when None."""
    values: dict[str, Any] = {
        "attempts": t.outbox.c.attempts + 1,
        "last_error": error[:2000],
        "claimed_until": None,
        "claimed_by": None,
    }
    if retry_at is None:
        values["status"] = DEAD
    else:
        values["next_attempt_at"] = retry_at
    await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == entry_id)
        .where(t.outbox.c.claimed_by == worker)
        .values(**values)
    )


async def postpone(
    conn: AsyncConnection, /, *, entry_id: int, worker: str, until: dt.datetime
) -> None:
    """Put an entry back without counting an attempt (it waits on another one)."""
    await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.id == entry_id)
        .where(t.outbox.c.claimed_by == worker)
        .values(next_attempt_at=until, claimed_until=None, claimed_by=None)
    )


async def pending_count(conn: AsyncConnection, /, *, ticket_id: int | None = None) -> int:
    query = select(func.count()).select_from(t.outbox).where(t.outbox.c.status == PENDING)
    if ticket_id is not None:
        query = query.where(t.outbox.c.ticket_id == ticket_id)
    return int((await conn.execute(query)).scalar_one())


async def owed_before(
    conn: AsyncConnection, /, *, entries: Sequence[OutboxEntry]
) -> list[tuple[int, int, str]]:
    """``(id, ticket_id, kind)`` of the entries still owed for the tickets of ``entries``
    that are older than the newest of them, leaving out ``entries`` themselves (what
    keeps the messages of one stream, e.g. a queue post and its updates, in order)."""
    tickets = sorted({e.ticket_id for e in entries if e.ticket_id is not None})
    if not tickets:
        return []
    ids = [e.id for e in entries]
    query = (
        select(t.outbox.c.id, t.outbox.c.ticket_id, t.outbox.c.kind)
        .where(t.outbox.c.ticket_id.in_(tickets))
        .where(t.outbox.c.status == PENDING)
        .where(t.outbox.c.id < max(ids))
        .where(t.outbox.c.id.not_in(ids))
    )
    return [(row.id, row.ticket_id, row.kind) for row in await conn.execute(query)]


async def entries(conn: AsyncConnection, /, *, status: str | None = None) -> list[dict[str, Any]]:
    """Every entry as a plain dict (tests and diagnostics)."""
    query = select(t.outbox).order_by(t.outbox.c.id)
    if status is not None:
        query = query.where(t.outbox.c.status == status)
    return [dict(row) for row in (await conn.execute(query)).mappings()]


async def has_pending(conn: AsyncConnection, /, *, ticket_id: int, kind: str) -> bool:
    """Is an entry of this kind still owed for the ticket (e.g. its queue post)?"""
    query = (
        select(t.outbox.c.id)
        .where(t.outbox.c.ticket_id == ticket_id)
        .where(t.outbox.c.kind == kind)
        .where(t.outbox.c.status == PENDING)
        .limit(1)
    )
    return (await conn.execute(query)).first() is not None


async def give_up_for_team(
    conn: AsyncConnection, /, *, team_id: str | None, enterprise_id: str | None, reason: str
) -> int:
    """Make dead, with ``reason``, the pending entries owed through that team's (or, with
    no team, that enterprise's) installation: the app was uninstalled there, so no retry
    can deliver them. Returns how many."""
    if team_id is not None:
        which = t.outbox.c.payload["team"].as_string() == team_id
    elif enterprise_id is not None:
        which = t.outbox.c.payload["enterprise"].as_string() == enterprise_id
    else:
        return 0
    done = await conn.execute(
        update(t.outbox)
        .where(t.outbox.c.status == PENDING)
        .where(which)
        .values(status=DEAD, last_error=reason[:2000], claimed_until=None, claimed_by=None)
    )
    return int(done.rowcount or 0)
