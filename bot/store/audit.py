"""The audit trail: who did what, when, on which EA, ticket or grant."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import AuditEntry
from bot.store import tables as t
from bot.store.engine import Store, insert_later


async def record(
    conn: AsyncConnection,
    /,
    *,
    at: dt.datetime,
    actor: str | None,
    action: str,
    ea: str | None = None,
    ticket_id: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record an entry in the transaction of ``conn`` (sent with its next statement or
    its commit: nothing reads it back in the same transaction without one)."""
    await insert_later(
        conn,
        t.audit_entries,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "ea": ea,
            "ticket_id": ticket_id,
            "detail": detail or {},
        },
    )


async def append(
    store: Store,
    /,
    *,
    at: dt.datetime,
    actor: str | None,
    action: str,
    ea: str | None = None,
    ticket_id: int | None = None,
    detail: dict[str, object] | None = None,
) -> None:
    """Record an entry in a transaction of its own, shared with the entries concurrent
    requests record at the same moment (group commit); returns once it is committed."""
    await store.append(
        t.audit_entries,
        {
            "at": at,
            "actor": actor,
            "action": action,
            "ea": ea,
            "ticket_id": ticket_id,
            "detail": detail or {},
        },
    )


async def entries(
    conn: AsyncConnection,
    /,
    *,
    ea: str | None = None,
    ticket_id: int | None = None,
    limit: int = 20,
) -> list[AuditEntry]:
    """The newest ``limit`` entries about one EA or one ticket, newest first."""
    query = select(t.audit_entries)
    if ea is not None:
        query = query.where(t.audit_entries.c.ea == ea)
    if ticket_id is not None:
        query = query.where(t.audit_entries.c.ticket_id == ticket_id)
    query = query.order_by(t.audit_entries.c.id.desc()).limit(limit)
    return [
        AuditEntry(
            id=row["id"],
            at=row["at"],
            actor=row["actor"],
            action=row["action"],
            ea=row["ea"],
            ticket_id=row["ticket_id"],
            detail=row["detail"],
        )
        for row in (await conn.execute(query)).mappings()
    ]
