"""The database engine: SQLite (embedded default) or PostgreSQL, same schema, same queries."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from bot import resources
from bot.store import tables as t

MIGRATIONS = resources.migrations_dir()
SQLITE_BUSY_SECONDS = 30  # how long a writer waits for the database before giving up


def alembic_config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


class Store:
    """Owns the engine. ``write()`` opens a write transaction, ``read()`` a read one.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that two writers
    queue on the database lock instead of failing when a read lock is upgraded. Within
    one process, writers also queue on an ``asyncio.Lock`` first: SQLite takes one writer
    at a time anyway, and its busy handler (a sleep-and-retry loop) lets a waiting writer
    be overtaken again and again under load, which showed as multi-second acks; the lock
    hands the database to waiters in arrival order. Other processes still queue on the
    database lock.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": SQLITE_BUSY_SECONDS}
        else:
            kwargs.update(pool_size=10, max_overflow=20, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        self._writer_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        if self.is_sqlite:
            self._setup_sqlite()

    def _setup_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is lazy).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
            if self.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a committed transaction survives a crash of the process.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on any error."""
        if not self.is_sqlite:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._sqlite_writer(), self.engine.connect() as conn:
            await conn.execution_options(sqlite_begin="IMMEDIATE")
            async with conn.begin():
                yield conn

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[None]:
        """This process's turn to write (see the class docstring). A write opened inside
        another one in the same task would wait for ever: it fails after the time SQLite
        itself would have waited."""
        loop = asyncio.get_running_loop()
        if self._writer_lock is None or self._writer_lock[0] is not loop:
            # A lock belongs to one event loop; a CLI command or a test may run several.
            self._writer_lock = (loop, asyncio.Lock())
        lock = self._writer_lock[1]
        async with asyncio.timeout(SQLITE_BUSY_SECONDS):
            await lock.acquire()
        try:
            yield
        finally:
            lock.release()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        async with self.engine.connect() as conn, conn.begin():
            yield conn

    async def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""

        def upgrade(sync_conn: Connection) -> None:
            command.upgrade(alembic_config(sync_conn), "head")

        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            await conn.run_sync(upgrade)
            await conn.commit()

    async def schema_revision(self) -> str | None:
        def current(sync_conn: Connection) -> str | None:
            return MigrationContext.configure(sync_conn).get_current_revision()

        async with self.engine.connect() as conn:
            return await conn.run_sync(current)

    async def is_empty(self) -> bool:
        """True when no organization exists yet (a fresh database)."""
        async with self.read() as conn:
            count = (
                await conn.execute(select(func.count()).select_from(t.organizations))
            ).scalar_one()
        return count == 0

    async def dispose(self) -> None:
        await self.engine.dispose()


async def open_store(url: str, *, migrate: bool = True) -> Store:
    store = Store(url)
    if migrate:
        await store.migrate()
    return store


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)
