"""PostgreSQL-specific behaviour of the store: migrations on an empty server database,
time zones, and what several bot instances sharing one database rely on (two ``Store``
objects are two instances' connection pools).

Runs with ``SUPPORTBOT_TEST_DATABASE=postgres`` (CI's second pass over the suite).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from conftest import backend, postgres_url
from sqlalchemy import Connection, event, func, select, text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.domain import Queue, Tier
from bot.importer import import_file
from bot.store import Store
from bot.store import audit as audit_db
from bot.store import outbox as outbox_db
from bot.store import tables as t
from bot.store import tickets as tickets_db
from bot.store.engine import alembic_config

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(
        backend() != "postgres",
        reason="PostgreSQL-specific; runs with SUPPORTBOT_TEST_DATABASE=postgres",
    ),
]

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yml"
TOKYO = dt.timezone(dt.timedelta(hours=9))


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


async def admin(sql: str) -> None:
    engine = create_async_engine(postgres_url(), isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(sql))
    finally:
        await engine.dispose()


@pytest.fixture
async def empty_database() -> AsyncIterator[str]:
    """A database of its own, with no table at all."""
    name = f"supportbot_empty_{os.getpid()}"
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin(f'CREATE DATABASE "{name}"')
    yield postgres_url().rsplit("/", 1)[0] + f"/{name}"
    await admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def two_stores(database_url: str) -> AsyncIterator[tuple[Store, Store]]:
    """Two instances' stores on one migrated database."""
    first, second = Store(database_url), Store(database_url)
    await first.migrate()
    yield first, second
    await first.dispose()
    await second.dispose()


async def count(store: Store, table: Any) -> int:
    async with store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


# --- migrations ----------------------------------------------------------------------------


async def test_migrations_build_the_schema_on_an_empty_database(empty_database: str) -> None:
    store = Store(empty_database)
    try:
        assert await store.schema_revision() is None
        await store.migrate()
        assert await store.schema_revision() == head_revision()
        assert await store.is_empty()

        def differences(sync_conn: Connection) -> list[Any]:
            context = MigrationContext.configure(
                sync_conn, opts={"include_name": t.in_domain_schema}
            )
            return list(compare_metadata(context, t.metadata))

        async with store.engine.connect() as conn:
            # The migrated schema is exactly what the queries are written against.
            assert await conn.run_sync(differences) == []
    finally:
        await store.dispose()


async def test_migrating_again_changes_nothing(empty_database: str) -> None:
    store = Store(empty_database)
    try:
        await store.migrate()
        await import_file(store, DEMO)
        before = {table.name: await count(store, table) for table in t.metadata.sorted_tables}
        await store.migrate()
        # A second instance starting up migrates too, at the same time as the first.
        other = Store(empty_database)
        try:
            await asyncio.gather(store.migrate(), other.migrate())
        finally:
            await other.dispose()
        after = {table.name: await count(store, table) for table in t.metadata.sorted_tables}
        assert await store.schema_revision() == head_revision()
        assert after == before
        assert before["contacts"] > 0
    finally:
        await store.dispose()


# --- time -----------------------------------------------------------------------------------


async def test_datetime_columns_are_timestamptz(store: Store) -> None:
    async with store.read() as conn:
        rows = (
            await conn.execute(
                text(
                    "SELECT table_name, column_name, data_type FROM information_schema.columns "
                    "WHERE table_schema = current_schema() AND data_type LIKE 'timestamp%'"
                )
            )
        ).all()
    assert rows, "no timestamp column found"
    # Slack's installation tables are slack_sdk's, as it defines them: naive UTC
    # timestamps that its stores write and compare themselves.
    ours = [row for row in rows if row[0] not in t.SLACK_TABLES]
    assert {data_type for _, _, data_type in ours} == {"timestamp with time zone"}, ours
    assert {data_type for name, _, data_type in rows if name in t.SLACK_TABLES} == {
        "timestamp without time zone"
    }


async def test_datetimes_round_trip_aware_utc_whatever_the_session_time_zone(
    database_url: str, now: dt.datetime
) -> None:
    store = Store(database_url)

    @event.listens_for(store.engine.sync_engine, "connect")
    def far_east(dbapi_connection: Any, _record: Any) -> None:
        # A server or role configured with another time zone must change nothing.
        cursor = dbapi_connection.cursor()
        cursor.execute("SET TIME ZONE 'Asia/Tokyo'")
        cursor.close()

    try:
        await store.migrate()
        local = now.astimezone(TOKYO) + dt.timedelta(microseconds=123)
        async with store.write() as conn:
            await audit_db.record(
                conn, at=local, actor="a@b.example", action="probe", ea="411023871"
            )
        async with store.read() as conn:
            [entry] = await audit_db.entries(conn, ea="411023871")
            zone = (await conn.execute(text("SHOW TIME ZONE"))).scalar_one()
        assert zone == "Asia/Tokyo"
        assert entry.at == now + dt.timedelta(microseconds=123)
        assert entry.at.tzinfo == dt.UTC
        assert entry.at.hour == now.hour
    finally:
        await store.dispose()


# --- several instances on one database ---------------------------------------------------------


async def test_outbox_claims_are_exclusive_across_two_stores(
    two_stores: tuple[Store, Store], now: dt.datetime
) -> None:
    first, second = two_stores
    async with first.write() as conn:
        for n in range(120):
            await outbox_db.enqueue(
                conn,
                kind="channel",
                method="chat.postMessage",
                payload={"channel": "C0Q", "text": f"message {n}"},
                at=now,
            )
    lease = dt.timedelta(seconds=60)
    claimed: dict[str, list[int]] = {"first": [], "second": []}

    async def connected(store: Store) -> None:
        async with store.read() as conn:
            await conn.execute(text("SELECT 1"))
            await asyncio.sleep(0.05)

    # Open every pool's connections first, so both instances race from the start.
    await asyncio.gather(*(connected(s) for s in (first, second) for _ in range(3)))

    unclaimed = select(func.count()).select_from(t.outbox).where(t.outbox.c.claimed_by.is_(None))

    async def worker(name: str, store: Store) -> None:
        # Both instances race for the same rows, a few at a time, until none is left
        # (a round that lost every row of its batch to the other side claims nothing).
        while True:
            async with store.write() as conn:
                batch = await outbox_db.claim(conn, worker=name, now=now, lease=lease, limit=7)
                left = (await conn.execute(unclaimed)).scalar_one()
            claimed[name].extend(entry.id for entry in batch)
            if not left:
                return
            await asyncio.sleep(0)

    await asyncio.gather(
        *(
            worker(name, store)
            for name, store in (("first", first), ("second", second))
            for _ in range(3)
        )
    )
    everything = claimed["first"] + claimed["second"]
    assert len(everything) == len(set(everything)) == 120
    assert claimed["first"] and claimed["second"], "one instance took every entry"
    async with first.read() as conn:
        rows = await outbox_db.entries(conn)
    owner = {row["id"]: row["claimed_by"] for row in rows}
    assert all(owner[i] == "first" for i in claimed["first"])
    assert all(owner[i] == "second" for i in claimed["second"])


async def test_one_request_key_opens_one_ticket_across_two_stores(
    two_stores: tuple[Store, Store], now: dt.datetime
) -> None:
    first, second = two_stores
    await import_file(first, DEMO)

    async def open_with(store: Store) -> int | None:
        async with store.write() as conn:
            return await tickets_db.insert_ticket(
                conn,
                request_key="1337.1700000000.retry",
                ea="411023871",
                customer="acme",
                partner="nuage",
                vendor="vmw",
                tier=Tier.PARTNER,
                queue=Queue.TECHNICAL,
                severity=3,
                subject="Slack retried this request",
                product=None,
                description=None,
                opened_by="alice.martin@acme.example",
                at=now,
            )

    results = await asyncio.gather(*(open_with(s) for s in (first, second) for _ in range(4)))
    assert sum(r is not None for r in results) == 1
    assert await count(first, t.tickets) == 1


# --- connections lost while idle -------------------------------------------------------------


async def test_a_connection_lost_while_idle_is_replaced_before_use(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pooled connections are pinged once they have been idle a while: a server restart
    (here: every session of the pool terminated) costs no command an error."""
    from bot.store import engine as engine_module

    async with store.write() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    await admin(f"SELECT pg_terminate_backend({int(pid)})")
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_SECONDS", 0.0)
    async with store.write() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
        assert (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one() != pid
