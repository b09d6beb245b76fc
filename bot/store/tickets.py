"""Tickets, their first-response clocks and their events."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Select,
    String,
    and_,
    bindparam,
    cast,
    exists,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import OPEN_STATUSES, Queue, Status, Ticket, TicketClock, TicketEvent, Tier
from bot.store import prepared
from bot.store import tables as t
from bot.store.engine import execute_hot, insert_later
from bot.store.readmodel import current_view

TICKET_FIELDS = (
    "tier",
    "queue",
    "severity",
    "status",
    "subject",
    "product",
    "description",
    "assignee",
    "resolved_at",
    "escalated_at",
    "vendor_case",
    "partner",
    "queue_message_channel",
    "queue_message_ts",
)


def _iso(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat() if value is not None else None


def _from_iso(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value is not None else None


def _clock(row: RowMapping | Mapping[str, Any]) -> TicketClock:
    pauses = tuple((_from_iso(start), _from_iso(end)) for start, end in row["pauses"])
    return TicketClock(
        id=row["id"],
        ticket_id=row["ticket_id"],
        tier=Tier(row["tier"]),
        started_at=row["started_at"],
        target_minutes=row["target_minutes"],
        around_the_clock=row["around_the_clock"],
        due_at=row["due_at"],
        responded_at=row["responded_at"],
        pauses=tuple((s, e) for s, e in pauses if s is not None),
    )


def _ticket(row: RowMapping | Mapping[str, Any], clocks: Sequence[TicketClock]) -> Ticket:
    return Ticket(
        id=row["id"],
        ea=row["ea"],
        customer=row["customer"],
        partner=row["partner"],
        vendor=row["vendor"],
        tier=Tier(row["tier"]),
        queue=Queue(row["queue"]),
        severity=row["severity"],
        status=Status(row["status"]),
        subject=row["subject"],
        product=row["product"],
        description=row["description"],
        opened_by=row["opened_by"],
        assignee=row["assignee"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        resolved_at=row["resolved_at"],
        escalated_at=row["escalated_at"],
        vendor_case=row["vendor_case"],
        queue_message_channel=row["queue_message_channel"],
        queue_message_ts=row["queue_message_ts"],
        clocks=tuple(clocks),
    )


async def _with_clocks(conn: AsyncConnection, rows: Sequence[RowMapping]) -> list[Ticket]:
    if not rows:
        return []
    ids = [row["id"] for row in rows]
    clock_rows = (
        await conn.execute(
            select(t.ticket_clocks)
            .where(t.ticket_clocks.c.ticket_id.in_(ids))
            .order_by(t.ticket_clocks.c.id)
        )
    ).mappings()
    by_ticket: dict[int, list[TicketClock]] = {}
    for clock_row in clock_rows:
        by_ticket.setdefault(clock_row["ticket_id"], []).append(_clock(clock_row))
    return [_ticket(row, by_ticket.get(row["id"], [])) for row in rows]


async def insert_ticket(
    conn: AsyncConnection,
    /,
    *,
    request_key: str | None,
    ea: str,
    customer: str,
    partner: str | None,
    vendor: str,
    tier: Tier,
    queue: Queue,
    severity: int,
    subject: str,
    product: str | None,
    description: str | None,
    opened_by: str,
    at: dt.datetime,
) -> int | None:
    """Insert a new ticket and return its number; None when ``request_key`` was
    already used (a retried or doubled request), in which case nothing is written.

    The unique key settles it, in the same statement: no look-up first, and the race
    between two instances ends the same way. The inserted row is kept for the rest of
    the transaction, so that reading the ticket back costs no statement."""
    values = {
        "request_key": request_key,
        "ea": ea,
        "customer": customer,
        "partner": partner,
        "vendor": vendor,
        "tier": tier.value,
        "queue": queue.value,
        "severity": severity,
        "status": Status.NEW.value,
        "subject": subject,
        "product": product,
        "description": description,
        "opened_by": opened_by,
        "created_at": at,
        "updated_at": at,
    }
    stmt = prepared.once(conn, "insert_ticket", _insert_ticket)
    row = (await execute_hot(conn, stmt, values)).first()
    if row is None:
        return None  # the same request was stored first (by another instance, or a retry)
    written = _written()
    if written is not None:
        written[row["id"]] = _ticket(row, ())
    return int(row["id"])


def _insert_ticket(dialect: str) -> Any:
    """INSERT … ON CONFLICT (request_key) DO NOTHING RETURNING every column."""
    if dialect == "postgresql":
        stmt: Any = postgresql.insert(t.tickets)
    elif dialect == "sqlite":
        stmt = sqlite.insert(t.tickets)
    else:  # pragma: no cover - the two supported backends are above
        raise RuntimeError(f"unsupported database {dialect}")
    return stmt.on_conflict_do_nothing(index_elements=[t.tickets.c.request_key]).returning(
        *t.tickets.c
    )


_INSERT_CLOCK = insert(t.ticket_clocks).returning(*t.ticket_clocks.c)


def _written() -> dict[int, Ticket] | None:
    """The tickets the current transaction inserted (None outside ``Store`` transactions)."""
    view = current_view.get()
    return None if view is None else view.tickets


def _changed() -> None:
    """A ticket or clock changed in this transaction: read them from the database again."""
    written = _written()
    if written:
        written.clear()


async def ticket_id_for_request(conn: AsyncConnection, /, *, request_key: str) -> int | None:
    row = await conn.execute(select(t.tickets.c.id).where(t.tickets.c.request_key == request_key))
    found = row.scalar_one_or_none()
    return int(found) if found is not None else None


async def update_ticket(
    conn: AsyncConnection, /, *, ticket_id: int, at: dt.datetime, **changes: Any
) -> None:
    unknown = set(changes) - set(TICKET_FIELDS)
    if unknown:
        raise ValueError(f"not ticket fields: {sorted(unknown)}")
    values = {k: (v.value if hasattr(v, "value") else v) for k, v in changes.items()}
    _changed()
    await conn.execute(
        update(t.tickets).where(t.tickets.c.id == ticket_id).values(updated_at=at, **values)
    )


async def get_ticket(conn: AsyncConnection, /, *, ticket_id: int) -> Ticket | None:
    written = _written()
    if written and ticket_id in written:
        return written[ticket_id]
    row = (
        (await conn.execute(select(t.tickets).where(t.tickets.c.id == ticket_id)))
        .mappings()
        .first()
    )
    if row is None:
        return None
    return (await _with_clocks(conn, [row]))[0]


async def list_tickets(
    conn: AsyncConnection,
    /,
    *,
    eas: Iterable[str] | None = None,
    customer: str | None = None,
    partner: str | None = None,
    vendor: str | None = None,
    vendor_visible: bool = False,
    tier: Tier | None = None,
    open_only: bool = False,
    severity: int | None = None,
    assignee: str | None = None,
    limit: int = 200,
) -> list[Ticket]:
    """Tickets matching every filter given, newest first.

    ``vendor_visible`` keeps the tickets a vendor engineer may see: at vendor tier now,
    or escalated before (R8).
    """
    query: Select[Any] = select(t.tickets)
    if eas is not None:
        query = query.where(t.tickets.c.ea.in_(sorted(set(eas))))
    if customer is not None:
        query = query.where(t.tickets.c.customer == customer)
    if partner is not None:
        query = query.where(t.tickets.c.partner == partner)
    if vendor is not None:
        query = query.where(t.tickets.c.vendor == vendor)
    if vendor_visible:
        query = query.where(
            or_(t.tickets.c.tier == Tier.VENDOR.value, t.tickets.c.escalated_at.is_not(None))
        )
    if tier is not None:
        query = query.where(t.tickets.c.tier == tier.value)
    if open_only:
        query = query.where(t.tickets.c.status.in_([s.value for s in OPEN_STATUSES]))
    if severity is not None:
        query = query.where(t.tickets.c.severity == severity)
    if assignee is not None:
        query = query.where(t.tickets.c.assignee == assignee)
    query = query.order_by(t.tickets.c.id.desc()).limit(limit)
    rows = list((await conn.execute(query)).mappings())
    return await _with_clocks(conn, rows)


async def all_tickets(conn: AsyncConnection, /) -> list[Ticket]:
    rows = list((await conn.execute(select(t.tickets).order_by(t.tickets.c.id))).mappings())
    return await _with_clocks(conn, rows)


# --- clocks ---------------------------------------------------------------------------


async def insert_clock(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    tier: Tier,
    started_at: dt.datetime,
    target_minutes: int,
    around_the_clock: bool,
    due_at: dt.datetime | None,
    warn_at: dt.datetime | None,
) -> int:
    result = await execute_hot(
        conn,
        _INSERT_CLOCK,
        {
            "ticket_id": ticket_id,
            "tier": tier.value,
            "started_at": started_at,
            "target_minutes": target_minutes,
            "around_the_clock": around_the_clock,
            "due_at": due_at,
            "warn_at": warn_at,
            "pauses": [],
        },
    )
    (row,) = result.rows
    clock = _clock(row)
    written = _written()
    if written and ticket_id in written:
        ticket = written[ticket_id]
        written[ticket_id] = dataclasses.replace(ticket, clocks=(*ticket.clocks, clock))
    return clock.id


async def update_clock(
    conn: AsyncConnection,
    /,
    *,
    clock_id: int,
    due_at: dt.datetime | None,
    warn_at: dt.datetime | None,
    responded_at: dt.datetime | None = None,
    pauses: Sequence[tuple[dt.datetime, dt.datetime | None]] | None = None,
    target_minutes: int | None = None,
    around_the_clock: bool | None = None,
) -> None:
    values: dict[str, Any] = {"due_at": due_at, "warn_at": warn_at}
    if responded_at is not None:
        values["responded_at"] = responded_at
    if pauses is not None:
        values["pauses"] = [[_iso(start), _iso(end)] for start, end in pauses]
    if target_minutes is not None:
        values["target_minutes"] = target_minutes
    if around_the_clock is not None:
        values["around_the_clock"] = around_the_clock
    _changed()
    await conn.execute(
        update(t.ticket_clocks).where(t.ticket_clocks.c.id == clock_id).values(**values)
    )


async def clocks_reaching(
    conn: AsyncConnection,
    /,
    *,
    mark: str,
    now: dt.datetime,
    limit: int = 100,
    unreminded: bool = False,
) -> list[tuple[TicketClock, Ticket]]:
    """Running clocks whose ``mark`` ("warn" or "due") has passed, with their open
    ticket — what the reminder scanner looks at.

    With ``unreminded``, clocks whose reminder for that mark is already in the outbox
    (dedupe key ``reminder:<clock id>:warn|breach``) are left out, so a backlog of old
    breaches never hides a new one behind ``limit``; a "warn" mark whose due time has
    passed too is left out as well (the breach reminder says more)."""
    column = t.ticket_clocks.c.warn_at if mark == "warn" else t.ticket_clocks.c.due_at
    query = (
        select(t.ticket_clocks.c.id, t.ticket_clocks.c.ticket_id)
        .join(t.tickets, t.tickets.c.id == t.ticket_clocks.c.ticket_id)
        .where(t.ticket_clocks.c.responded_at.is_(None))
        .where(and_(column.is_not(None), column <= now))
        .where(t.tickets.c.status.in_([s.value for s in OPEN_STATUSES]))
        .where(t.tickets.c.tier == t.ticket_clocks.c.tier)
        .order_by(column)
        .limit(limit)
    )
    if unreminded:
        suffix = ":warn" if mark == "warn" else ":breach"
        key = literal("reminder:") + cast(t.ticket_clocks.c.id, String) + literal(suffix)
        query = query.where(~exists().where(t.outbox.c.dedupe_key == key))
        if mark == "warn":
            query = query.where(
                or_(t.ticket_clocks.c.due_at.is_(None), t.ticket_clocks.c.due_at > now)
            )
    pairs = (await conn.execute(query)).all()
    found: list[tuple[TicketClock, Ticket]] = []
    for clock_id, ticket_id in pairs:
        ticket = await get_ticket(conn, ticket_id=ticket_id)
        if ticket is None:
            continue
        clock = next((c for c in ticket.clocks if c.id == clock_id), None)
        if clock is not None:
            found.append((clock, ticket))
    return found


# --- events ---------------------------------------------------------------------------


async def add_event(
    conn: AsyncConnection,
    /,
    *,
    ticket_id: int,
    at: dt.datetime,
    actor: str | None,
    kind: str,
    data: dict[str, object] | None = None,
) -> None:
    await insert_later(
        conn,
        t.ticket_events,
        {"ticket_id": ticket_id, "at": at, "actor": actor, "kind": kind, "data": data or {}},
    )


def _event(row: RowMapping) -> TicketEvent:
    return TicketEvent(
        ticket_id=row["ticket_id"],
        at=row["at"],
        actor=row["actor"],
        kind=row["kind"],
        data=row["data"],
    )


async def events_of(conn: AsyncConnection, /, *, ticket_id: int) -> list[TicketEvent]:
    query = (
        select(t.ticket_events)
        .where(t.ticket_events.c.ticket_id == ticket_id)
        .order_by(t.ticket_events.c.id)
    )
    return [_event(row) for row in (await conn.execute(query)).mappings()]


async def all_events(conn: AsyncConnection, /) -> dict[int, list[TicketEvent]]:
    query = select(t.ticket_events).order_by(t.ticket_events.c.ticket_id, t.ticket_events.c.id)
    events: dict[int, list[TicketEvent]] = {}
    for row in (await conn.execute(query)).mappings():
        events.setdefault(row["ticket_id"], []).append(_event(row))
    return events


# --- queue messages and look-ups of the ticket use cases -------------------------------


async def set_queue_message(
    conn: AsyncConnection, /, *, ticket_id: int, channel: str, ts: str
) -> tuple[bool, str | None]:
    """Remember where the ticket's current queue message lives (set by the outbox worker
    once the post is delivered; ``updated_at`` is left alone, nothing changed for people).
    Returns whether the ticket exists, and its partner (what else the worker needs)."""
    _changed()
    row = (
        await execute_hot(
            conn,
            prepared.once(conn, "set_queue_message", _set_queue_message),
            {"ticket": ticket_id, "channel": channel, "ts": ts},
        )
    ).first()
    return (row is not None, row["partner"] if row is not None else None)


def _set_queue_message(_dialect: str) -> Any:
    return (
        update(t.tickets)
        .where(t.tickets.c.id == bindparam("ticket"))
        .values(queue_message_channel=bindparam("channel"), queue_message_ts=bindparam("ts"))
        .returning(t.tickets.c.partner)
    )


async def lock_ticket(conn: AsyncConnection, /, *, ticket_id: int) -> None:
    """Hold the ticket's row until the transaction ends, so that two changes of one
    ticket run one after the other and the second sees what the first did (PostgreSQL:
    ``SELECT … FOR UPDATE``; SQLite's write transactions are serialised already)."""
    await conn.execute(select(t.tickets.c.id).where(t.tickets.c.id == ticket_id).with_for_update())


async def open_ticket_holders(conn: AsyncConnection, /) -> list[tuple[str, str]]:
    """(EA, partner) of every open ticket that has a first-line partner, once each."""
    query = (
        select(t.tickets.c.ea, t.tickets.c.partner)
        .where(t.tickets.c.partner.is_not(None))
        .where(t.tickets.c.status.in_([s.value for s in OPEN_STATUSES]))
        .distinct()
        .order_by(t.tickets.c.ea, t.tickets.c.partner)
    )
    return [(str(row.ea), str(row.partner)) for row in await conn.execute(query)]
