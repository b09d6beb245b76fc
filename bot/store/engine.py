"""The database engine: SQLite (embedded default) or PostgreSQL, same schema, same queries."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Table, event, func, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.dml import Insert, UpdateBase
from sqlalchemy.sql.elements import ClauseElement

from bot import resources
from bot.store import sqlite_driver
from bot.store import tables as t
from bot.store.readmodel import (
    CHANNEL,
    OUTBOX_CHANNEL,
    REFERENCE_TABLES,
    SELECT_VERSION,
    ReadModel,
    TransactionView,
    current_view,
)

log = logging.getLogger(__name__)

MIGRATIONS = resources.migrations_dir()
SQLITE_BUSY_SECONDS = 30  # how long a writer waits for the database before giving up
WAIT_FOR_WRITERS = f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}"
PING_AFTER_IDLE_SECONDS = 5.0  # PostgreSQL: idle this long in the pool, pinged before use
POOL_SIZE = 32  # connections kept open per process (as many again may open at a peak)
# SQLite: write transactions of this process between two checkpoints of the WAL (run in a
# thread, off the event loop; SQLite's own would run in the committing call).
CHECKPOINT_EVERY_WRITES = 100
# SQLite: turns of the event loop a group commit lets go by before it takes its rows:
# at 32 concurrent reads, 19 rows per commit instead of 6 and 5-20 % less CPU per
# audited read; on an idle bot it costs a few microseconds.
GROUP_COMMIT_TURNS = 6
LISTEN_RETRY_SECONDS = 2.0  # PostgreSQL: pause before listening again after a lost connection

# The Store and read-model version a request was checked against (``Store.begin_request``):
# the request's later read transactions take the read model at that version.
_request_version: contextvars.ContextVar[tuple[Store, int] | None] = contextvars.ContextVar(
    "supportbot_request_version", default=None
)
_REFERENCE = frozenset(REFERENCE_TABLES)
# Statements that change no table (their first six characters).
_READ_ONLY_VERBS = frozenset({"SELECT", "PRAGMA", "BEGIN ", "SAVEPO", "RELEAS", "COMMIT", "ROLLBA"})
PROBE_SQL = "SELECT version FROM read_model_version WHERE id = 1"


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

    Each transaction also knows which version of the reference data it reads at, so
    that the query functions wrapped by ``bot.store.readmodel.reference_read`` answer
    from this process's read model when they may (see that module).
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = make_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            connect: dict[str, Any] = {"timeout": SQLITE_BUSY_SECONDS}
            if str(self.url.query.get("uri", "")).lower() in ("true", "1"):
                connect["uri"] = True
            kwargs["async_creator"] = sqlite_driver.connector(
                self.url.database or ":memory:", **connect
            )
            if self.url.database not in (None, "", ":memory:"):
                # Connections are kept, not opened and closed under load: an overflow
                # connection costs a thread start and a database open each time.
                kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
        else:
            kwargs.update(pool_size=POOL_SIZE, max_overflow=POOL_SIZE)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if not self.is_sqlite:
            self._ping_idle_connections()
        self._writer_lock: tuple[asyncio.AbstractEventLoop, asyncio.Lock] | None = None
        self._writer: AsyncConnection | None = None  # SQLite: see _sqlite_writer
        self.read_model = ReadModel()
        self._versioned: bool | None = None  # does the schema have the version row yet?
        self._listener: _Listener | None = None
        self._group_commit: _GroupCommit | None = None
        # SQLite: the database file the store's own sqlite3 connections open beside the
        # pool's (None: in memory, or named by a URI); the one that reads the version row.
        self._file: str | None = None
        if self.is_sqlite and self.url.database not in (None, "", ":memory:"):
            self._file = None if self.url.query else self.url.database
        self._probe: sqlite3.Connection | None = None
        # SQLite: the WAL's checkpoints (see _sqlite_writer), on a connection of their own.
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpoint: asyncio.Task[None] | None = None
        self._writes_since_checkpoint = 0
        # Called with the statements run beside SQLAlchemy: the version probe and the
        # appended rows (``transaction=True``: in a transaction of their own), the rows a
        # transaction inserted with ``insert_later`` (False). The benchmarks count them.
        self.on_direct: Callable[..., None] | None = None
        # Called after a commit that added outbox entries (and, on PostgreSQL, when
        # another instance did): the outbox worker wakes up instead of polling.
        self.outbox_waiters: set[Callable[[], None]] = set()
        self._watch_writes()
        if self.is_sqlite:
            self._setup_sqlite()

    def _ping_idle_connections(self) -> None:
        """PostgreSQL: a connection that sat idle in the pool is pinged before use, so
        that a restarted server costs no command an error; one in use a moment ago is
        not (a ping per transaction is a round trip on every command)."""
        pool_events = self.engine.sync_engine.pool

        @event.listens_for(pool_events, "checkin")
        def _checkin(_dbapi_connection: Any, record: Any) -> None:
            record.info["idle_since"] = time.monotonic()

        @event.listens_for(pool_events, "checkout")
        def _checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            idle_since = record.info.get("idle_since")
            if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
                return
            try:
                dbapi_connection.ping()
            except Exception as exc:
                # The pool drops this connection and checks out another one.
                raise DisconnectionError(f"idle connection lost: {exc}") from exc

    def _watch_writes(self) -> None:
        """Note in the transaction's view what it writes: reference data (the read model
        must not answer for it any more) and outbox entries (the worker is woken)."""

        @event.listens_for(self.engine.sync_engine, "before_cursor_execute")
        def _on_execute(
            _conn: Connection,
            _cursor: Any,
            statement: str,
            _parameters: Any,
            context: Any,
            _executemany: bool,
        ) -> None:
            view = current_view.get()
            if view is None:
                return
            compiled = getattr(context, "compiled", None)
            dml = getattr(compiled, "statement", None)
            if isinstance(dml, UpdateBase):
                _note_write(dml, view)
                return
            verb = statement.lstrip()[:6].upper()
            if verb in _READ_ONLY_VERBS or verb.startswith(("SET ", "SHOW ", "NOTIFY")):
                return
            if compiled is not None and dml is not None and not hasattr(dml, "text"):
                return  # a compiled SELECT (or other query) written with the builders
            # Plain SQL that may change anything: assume the worst.
            view.wrote_reference = True
            lowered = statement.lower()
            view.wrote_outbox = view.wrote_outbox or ("insert" in lowered and "outbox" in lowered)

    def _setup_sqlite(self) -> None:
        sync_engine = self.engine.sync_engine

        @event.listens_for(sync_engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's own is lazy).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(WAIT_FOR_WRITERS)
            if self.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                # WAL + NORMAL: a committed transaction survives a crash of the process.
                cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()
            driver = getattr(dbapi_connection, "driver_connection", None)
            if isinstance(driver, sqlite_driver.OneTripConnection):
                driver.observer = self._deferred_statements

        @event.listens_for(sync_engine, "begin")
        def _on_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            if not mode:
                return  # a lone statement, in SQLite's own implicit transaction
            driver = conn.connection.driver_connection
            if isinstance(driver, sqlite_driver.OneTripConnection):
                driver.begin_later(f"BEGIN {mode}")  # travels with the first statement
            else:
                conn.exec_driver_sql(f"BEGIN {mode}")

    @asynccontextmanager
    async def write(self, *, reference: bool = True) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits on success and rolls back on any error.

        ``reference=False``: the transaction reads no reference data (the outbox
        worker's bookkeeping), so it need not learn the read model's version; what it
        reads of it comes from the database."""
        async with self._write(versioned=reference) as conn:
            yield conn

    @asynccontextmanager
    async def _write(self, *, versioned: bool) -> AsyncIterator[AsyncConnection]:
        if not self.is_sqlite:
            async with (
                self.engine.connect() as conn,
                self._transaction(conn, write=True, versioned=versioned) as view,
            ):
                yield conn
            self._committed(view)
            return
        async with (
            self._sqlite_writer() as conn,
            self._transaction(conn, write=True, versioned=versioned) as view,
        ):
            yield conn
        self._committed(view)

    async def append(self, table: Table, row: dict[str, Any]) -> None:
        """Insert ``row`` and return once it is committed, in one transaction with the
        rows other requests append at the same moment (group commit): under load, many
        audit entries share one commit instead of queueing for the write lock one by
        one. The transaction reads no reference data, so it checks no version."""
        loop = asyncio.get_running_loop()
        if self._group_commit is None or self._group_commit.loop is not loop:
            self._group_commit = _GroupCommit(self, loop)
        await self._group_commit.add(table, row)

    async def _append_directly(self, by_table: dict[Table, list[dict[str, Any]]]) -> None:
        """SQLite: insert the rows and commit in one call on the writing connection,
        the values converted by SQLAlchemy's own bind processors (stored exactly as
        ``conn.execute(insert(table), rows)`` would store them, at a fraction of the
        cost: no statement compiled, no per-row parameter processing by the ORM layer).
        The rows touch neither reference data nor the outbox."""
        batches: list[tuple[str, list[tuple[Any, ...]]]] = []
        for table, rows in by_table.items():
            by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for row in rows:
                by_columns.setdefault(tuple(row), []).append(row)
            for columns, same in by_columns.items():
                direct = _direct_statement(_insert_of(table), columns, self.engine.dialect)
                if direct is None:
                    raise ValueError(f"not insertable directly into {table.name}: {columns}")
                batches.append((direct.sql, [direct.parameters(row) for row in same]))
        async with self._sqlite_writer() as conn:
            raw = (await conn.get_raw_connection()).driver_connection
            assert isinstance(raw, sqlite_driver.OneTripConnection)
            raw.begin_later("BEGIN IMMEDIATE")
            await raw.run(sqlite_driver.insert_and_commit, batches)
        if self.on_direct is not None:
            self.on_direct(tuple(sql for sql, _ in batches), transaction=True)

    def _deferred_statements(self, statements: Sequence[str]) -> None:
        if self.on_direct is not None:
            self.on_direct(statements, transaction=False)

    @asynccontextmanager
    async def _transaction(
        self, conn: AsyncConnection, *, write: bool, versioned: bool = True
    ) -> AsyncIterator[TransactionView]:
        async with conn.begin():
            version = await self._version_for(conn, write=write) if versioned else None
            view = TransactionView(self.read_model, version)
            token = current_view.set(view)
            try:
                yield view
            finally:
                current_view.reset(token)

    def _committed(self, view: TransactionView) -> None:
        if view.wrote_reference:
            # This process sees its own change at once, whatever the version says.
            self.read_model.forget()
        if view.wrote_outbox:
            self.wake_outbox()
            if self._listener is not None:
                self._listener.tell_others()

    def wake_outbox(self) -> None:
        for waiter in list(self.outbox_waiters):
            waiter()

    async def _version_for(self, conn: AsyncConnection, *, write: bool) -> int | None:
        """The version of the reference data this transaction reads at (None: the
        schema predates the read model, which then answers nothing)."""
        if not await self._has_version_row(conn):
            return None
        model = self.read_model
        if self.is_sqlite:
            request = _request_version.get()
            if not write and request is not None and request == (self, model.version):
                return model.version
            if not write:
                # A read outside a request (the outbox worker, the CLI): the probe, no
                # trip to the driver's thread. Its snapshot starts after the probe, so
                # it can only be newer than the version it is filed under.
                probed = self._probe_version()
                if probed is not None:
                    model.observe(probed)
                    return probed
        else:
            self._listen()
            if not write and model.version is not None and self._listener_live():
                return model.version
        # On SQLite, with BEGIN in the same trip to the driver.
        (row,) = (await execute_hot(conn, SELECT_VERSION, {})).rows
        version = int(row["version"])
        model.observe(version)
        return version

    async def _has_version_row(self, conn: AsyncConnection) -> bool:
        if self._versioned is None:
            self._versioned = await conn.run_sync(
                lambda sync: inspect(sync).has_table(t.read_model_version.name)
            )
        return self._versioned

    async def begin_request(self) -> None:
        """Check the read model at the start of a request: on SQLite one read of the
        version row, which the request's later read transactions rely on; on PostgreSQL
        nothing while the listening connection is up."""
        model = self.read_model
        if not self.is_sqlite:
            self._listen()
            if model.version is not None and self._listener_live():
                return
        version = self._probe_version() if self.is_sqlite and self._versioned else None
        if version is None:
            async with self.engine.connect() as conn:
                if self.is_sqlite:
                    await conn.execution_options(sqlite_begin="")
                if not await self._has_version_row(conn):
                    return
                version = int((await conn.execute(SELECT_VERSION)).scalar_one())
                await conn.rollback()
        model.observe(version)
        _request_version.set((self, version))

    def _probe_version(self) -> int | None:
        """SQLite: the version row read on the event loop's thread, through a connection
        of its own. In WAL mode a reader never waits for writers, and a one-row read by
        primary key takes microseconds, less than handing it to aiosqlite's thread. Should
        the database be busy all the same (no waiting here), None: read it the usual way."""
        if self._file is None:
            return None
        try:
            if self._probe is None:
                probe = _side_connection(self._file)
                probe.execute("PRAGMA busy_timeout=0")
                self._probe = probe
            row = self._probe.execute(PROBE_SQL).fetchone()
            if self.on_direct is not None:
                self.on_direct((PROBE_SQL,), transaction=True)
        except sqlite3.Error:
            self._close_probe()
            return None
        return int(row[0]) if row is not None else None

    def _close_probe(self) -> None:
        _close_quietly(self._probe)
        self._probe = None

    def _listener_live(self) -> bool:
        return self._listener is not None and self._listener.live

    def _listen(self) -> None:
        """PostgreSQL: make sure this process listens for new versions (and outbox
        entries) on the event loop it runs on."""
        if self._versioned is False:
            return
        loop = asyncio.get_running_loop()
        if self._listener is not None and self._listener.loop is loop:
            return
        self._listener = _Listener(self, loop)

    @asynccontextmanager
    async def _sqlite_writer(self) -> AsyncIterator[AsyncConnection]:
        """This process's turn to write (see the class docstring), on its writing
        connection. A write opened inside another one in the same task would wait for
        ever: it fails after the time SQLite itself would have waited.

        The process writes one transaction at a time, so one connection, kept checked
        out between writes, serves them all: a write costs no pool check-out and return,
        and its statements run on the event loop's thread, with no hand-off to the
        driver's (``OneTripConnection.write_inline``). A write that failed has been
        rolled back, and the connection serves the next one; one cancelled or broken
        is given up, and the next write takes another from the pool."""
        loop = asyncio.get_running_loop()
        if self._writer_lock is None or self._writer_lock[0] is not loop:
            # A lock belongs to one event loop; a CLI command or a test may run several.
            # So does the writing connection, opened on the loop that writes.
            await self._close_writer()
            self._writer_lock = (loop, asyncio.Lock())
        lock = self._writer_lock[1]
        async with asyncio.timeout(SQLITE_BUSY_SECONDS):
            await lock.acquire()
        try:
            conn = self._writer
            if conn is None or conn.closed or conn.invalidated:
                conn = await self.engine.connect()
                await conn.execution_options(sqlite_begin="IMMEDIATE")
                driver = (await conn.get_raw_connection()).driver_connection
                if isinstance(driver, sqlite_driver.OneTripConnection):
                    driver.write_inline(wait=WAIT_FOR_WRITERS)
                self._writer = conn
            try:
                yield conn
            except Exception:
                if not _still_usable(conn):
                    self._writer = None
                    await conn.invalidate()
                raise
            except BaseException:
                # Cancelled while the driver's thread may still be at work on it.
                self._writer = None
                await conn.invalidate()
                raise
            self._wrote()
        finally:
            lock.release()

    def _wrote(self) -> None:
        """After a write transaction: checkpoint the WAL now and then, in a thread."""
        self._writes_since_checkpoint += 1
        if self._writes_since_checkpoint < CHECKPOINT_EVERY_WRITES:
            return
        loop = asyncio.get_running_loop()
        checkpoint = self._checkpoint
        if checkpoint is not None and not checkpoint.done() and checkpoint.get_loop() is loop:
            return  # (one left running by a loop that has since ended will never finish)
        if self._file is None:
            return
        self._writes_since_checkpoint = 0
        self._checkpoint = loop.create_task(asyncio.to_thread(self._checkpoint_wal, self._file))

    def _checkpoint_wal(self, path: str) -> None:
        """Copy what the WAL holds into the database file, as far as no reader needs
        it still (PASSIVE: never waits, never holds up a writer)."""
        try:
            if self._checkpointer is None:
                self._checkpointer = _side_connection(path)
            self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error as exc:  # the next one will try again
            log.info("WAL checkpoint skipped: %s", exc)

    async def _close_writer(self) -> None:
        """Close the writing connection; not back to the pool, which is for connections
        that hand their statements to the driver's thread."""
        conn, self._writer = self._writer, None
        if conn is not None and not conn.closed:
            await conn.invalidate()
            await conn.close()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read transaction. The connection is checked out, and the transaction begun,
        at its first statement: a read answered wholly from the read model costs the
        database nothing (on PostgreSQL not even the pool's ping)."""
        conn = _LazyConnection(self.engine)
        view = TransactionView(self.read_model, None)
        token = current_view.set(view)
        try:
            view.version = await self._version_for(conn, write=False)
            yield conn
        except BaseException:
            if conn.sync_connection is not None:
                await conn.rollback()
            raise
        else:
            if conn.sync_connection is not None:
                await conn.commit()
        finally:
            current_view.reset(token)
            if conn.sync_connection is not None:
                await conn.close()
        self._committed(view)

    async def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration."""

        def upgrade(sync_conn: Connection) -> None:
            command.upgrade(alembic_config(sync_conn), "head")

        async with self.engine.connect() as conn:
            if self.is_sqlite:
                await conn.execution_options(sqlite_begin="IMMEDIATE")
            await conn.run_sync(upgrade)
            await conn.commit()
        self._versioned = True
        self.read_model.forget()

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
        self._close_probe()
        await self._close_writer()
        if self._checkpoint is not None:
            with contextlib.suppress(Exception):
                await self._checkpoint
            self._checkpoint = None
        _close_quietly(self._checkpointer)
        self._checkpointer = None
        if self._listener is not None:
            await self._listener.close()
            self._listener = None
        await self.engine.dispose()


def _side_connection(path: str) -> sqlite3.Connection:
    """SQLite: a connection of the store's own, beside the pool's, in autocommit."""
    return sqlite3.connect(path, isolation_level=None, check_same_thread=False)


def _close_quietly(connection: sqlite3.Connection | None) -> None:
    if connection is not None:
        with contextlib.suppress(sqlite3.Error):
            connection.close()


def _still_usable(conn: AsyncConnection) -> bool:
    """A writing connection whose transaction failed and was rolled back, sound."""
    if conn.closed or conn.invalidated or conn.sync_connection is None:
        return False
    driver = conn.sync_connection.connection.driver_connection
    return not (isinstance(driver, sqlite_driver.OneTripConnection) and driver.in_transaction)


class _LazyConnection(AsyncConnection):
    """An ``AsyncConnection`` that connects and begins its transaction when its first
    statement comes (``Store.read``)."""

    async def _started(self) -> None:
        if self.sync_connection is None:
            await self.start()
            await self.begin()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        await self._started()
        return await super().execute(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        await self._started()
        return await super().scalar(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        await self._started()
        return await super().scalars(*args, **kwargs)

    async def exec_driver_sql(self, *args: Any, **kwargs: Any) -> Any:
        await self._started()
        return await super().exec_driver_sql(*args, **kwargs)

    async def run_sync(self, *args: Any, **kwargs: Any) -> Any:
        await self._started()
        return await super().run_sync(*args, **kwargs)

    async def get_raw_connection(self) -> Any:
        await self._started()
        return await super().get_raw_connection()

    @property  # type: ignore[misc]
    def dialect(self) -> Any:
        return self.engine.dialect


async def insert_later(conn: AsyncConnection, table: Table, row: dict[str, Any]) -> None:
    """Insert ``row``, a row of the transaction's that nothing reads back in it.

    On SQLite it travels with the transaction's next statement or its COMMIT, converted
    by SQLAlchemy's own bind processors (``OneTripConnection.defer``): no trip to the
    driver's thread, no statement compiled. Elsewhere it is inserted at once."""
    driver = _one_trip_driver(conn)
    stmt = _insert_of(table)
    # (None: a default to fill in in Python, SQLAlchemy's job)
    direct = _direct_statement(stmt, tuple(row), conn.dialect) if driver else None
    if driver is None or direct is None:
        await conn.execute(stmt, row)
        return
    driver.defer(direct.sql, direct.parameters(row))
    view = current_view.get()
    if view is not None:
        if table.name in _REFERENCE:
            view.wrote_reference = True
        elif table.name == t.outbox.name:
            view.wrote_outbox = True


def _note_write(statement: Any, view: TransactionView | None) -> None:
    """What a transaction's view must know of an INSERT, UPDATE or DELETE it runs."""
    if view is None or not isinstance(statement, UpdateBase):
        return
    name = getattr(statement.table, "name", None)
    if name in _REFERENCE:
        view.wrote_reference = True
    elif name == "outbox" and isinstance(statement, Insert):
        view.wrote_outbox = True  # (not the worker's own claims and results)


@dataclass(frozen=True)
class HotResult:
    """What a hot statement gives back: the rows it returned (by column name, converted
    as SQLAlchemy converts them) and how many rows it changed."""

    rows: list[dict[str, Any]]
    rowcount: int

    def first(self) -> dict[str, Any] | None:
        return self.rows[0] if self.rows else None


async def execute_hot(
    conn: AsyncConnection, statement: Executable, parameters: dict[str, Any]
) -> HotResult:
    """Execute a statement built once (``bot.store.prepared``) with ``parameters``.

    On SQLite, inside a transaction, it goes straight to the driver in one trip (with
    the rows inserted later before it): its SQL compiled by SQLAlchemy once per set of
    parameter names, its parameters and returned values converted by SQLAlchemy's own
    processors; what SQLAlchemy would note of the write is noted the same way. Elsewhere,
    and for any statement the direct way cannot take, SQLAlchemy executes it."""
    driver = _one_trip_driver(conn)
    direct = _direct_statement(statement, tuple(parameters), conn.dialect) if driver else None
    if driver is None or direct is None:
        result = await conn.execute(statement, parameters)
        rows = [dict(row) for row in result.mappings()] if result.returns_rows else []
        return HotResult(rows, result.rowcount)
    # Errors as SQLAlchemy raises them: a value its processors refuse, what the database
    # refuses (IntegrityError, OperationalError…, the driver's error as ``orig``).
    try:
        values = direct.parameters(parameters)
    except Exception as exc:
        raise StatementError(str(exc), direct.sql, parameters, exc) from exc
    if driver.observer is not None:
        driver.observer([direct.sql])
    _note_write(statement, current_view.get())
    try:
        _description, rowcount, _lastrowid, raw_rows = await driver.run(
            sqlite_driver.execute, direct.sql, values, False
        )
    except sqlite3.Error as exc:
        raise DBAPIError.instance(direct.sql, values, exc, sqlite3.Error) from exc
    return HotResult([direct.row(raw) for raw in raw_rows], rowcount)


_DIRECT_STATEMENTS: dict[tuple[int, str, tuple[str, ...]], _DirectStatement | None] = {}
_MAX_DIRECT_STATEMENTS = 256


def _direct_statement(
    statement: Executable, names: tuple[str, ...], dialect: Any
) -> _DirectStatement | None:
    # Keyed by identity: a hot statement lives as long as the process (prepared.once),
    # and its entry keeps it alive. A statement built for each call is compiled each time.
    key = (id(statement), dialect.name, names)
    if key in _DIRECT_STATEMENTS:
        return _DIRECT_STATEMENTS[key]
    direct = _DirectStatement.build(statement, names, dialect)
    if len(_DIRECT_STATEMENTS) < _MAX_DIRECT_STATEMENTS:
        _DIRECT_STATEMENTS[key] = direct
    return direct


class _DirectStatement:
    """A statement in the driver's terms: its text, the order of its parameters, and
    SQLAlchemy's processors for the values it takes and returns."""

    def __init__(self, statement: Executable, compiled: SQLCompiler, dialect: Any) -> None:
        self.statement = statement  # kept alive, so that its id is never reused
        self.compiled = compiled
        self.sql: str = compiled.string
        self.order: tuple[str, ...] = tuple(compiled.positiontup or ())
        binds = compiled.binds
        # Every parameter is one the caller names (no literal, nothing computed).
        self.all_named = not compiled.escaped_bind_names and all(
            binds[name].required and binds[name].callable is None for name in self.order
        )
        self.processors = tuple(
            binds[name].type._cached_bind_processor(dialect) for name in self.order
        )
        columns = compiled._result_columns
        self.keys = tuple(column.keyname for column in columns)
        self.results = tuple(
            column.type._cached_result_processor(dialect, None) for column in columns
        )

    @classmethod
    def build(
        cls, statement: Executable, names: tuple[str, ...], dialect: Any
    ) -> _DirectStatement | None:
        """None for what only SQLAlchemy's own execution handles: parameters expanded
        at execution (``IN``), column defaults computed in Python."""
        if not isinstance(statement, ClauseElement):
            return None
        compiled = cast(SQLCompiler, statement.compile(dialect=dialect, column_keys=list(names)))
        if (
            compiled.positional is False
            or compiled.literal_execute_params
            or compiled.post_compile_params
        ):
            return None
        if getattr(compiled, "insert_prefetch", None) or getattr(compiled, "update_prefetch", None):
            return None
        return cls(statement, compiled, dialect)

    def parameters(self, given: dict[str, Any]) -> tuple[Any, ...]:
        # Every parameter given by name (a row to insert): no need for SQLAlchemy's
        # own assembly, which fills in the statement's literals and checks what is missing.
        values = given if self.all_named else self.compiled.construct_params(given)
        return tuple(
            values[name] if process is None else process(values[name])
            for name, process in zip(self.order, self.processors, strict=True)
        )

    def row(self, raw: tuple[Any, ...]) -> dict[str, Any]:
        return {
            key: value if process is None else process(value)
            for key, process, value in zip(self.keys, self.results, raw, strict=True)
        }


def _one_trip_driver(conn: AsyncConnection) -> sqlite_driver.OneTripConnection | None:
    """The SQLite driver connection under ``conn``, once its transaction has begun."""
    sync = conn.sync_connection
    if sync is None or not sync.in_transaction():
        return None
    driver = sync.connection.driver_connection
    return driver if isinstance(driver, sqlite_driver.OneTripConnection) else None


_INSERTS: dict[Table, Insert] = {}  # built once (see bot.store.prepared)


def _insert_of(table: Table) -> Insert:
    stmt = _INSERTS.get(table)
    if stmt is None:
        stmt = _INSERTS[table] = insert(table)
    return stmt


class _GroupCommit:
    """Rows waiting to be appended, written together by one task at a time: while one
    transaction commits, the next rows gather for the following one."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.pending: list[tuple[Table, dict[str, Any], asyncio.Future[None]]] = []
        self.task: asyncio.Task[None] | None = None

    async def add(self, table: Table, row: dict[str, Any]) -> None:
        future: asyncio.Future[None] = self.loop.create_future()
        self.pending.append((table, row, future))
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._flush())
            self.task.add_done_callback(self._stopped)
        # A request that gives up waiting does not take its row back: it is still written.
        await asyncio.shield(future)

    def _stopped(self, task: asyncio.Task[None]) -> None:
        """A flush cancelled (the loop shutting down) before it took these rows: their
        callers learn that they were not written."""
        if task.cancelled():
            left, self.pending = self.pending, []
            for _table, _row, future in left:
                future.cancel()

    async def _flush(self) -> None:
        while self.pending:
            batch: list[tuple[Table, dict[str, Any], asyncio.Future[None]]] = []
            try:
                # SQLite's commit runs on the loop's thread: nothing else gathers while
                # it runs. So the loop goes round a few times first: requests already
                # under way reach their own append meanwhile and share this commit.
                # (On PostgreSQL they gather while the commit waits for the server.)
                for _ in range(GROUP_COMMIT_TURNS if self.store.is_sqlite else 0):
                    await asyncio.sleep(0)
                batch, self.pending = self.pending, []
                by_table: dict[Table, list[dict[str, Any]]] = {}
                for table, row, _future in batch:
                    by_table.setdefault(table, []).append(row)
                if self.store.is_sqlite:
                    await self.store._append_directly(by_table)
                else:
                    async with self.store._write(versioned=False) as conn:
                        for table, rows in by_table.items():
                            await conn.execute(insert(table), rows)
            except BaseException as exc:
                for _table, _row, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
            else:
                for _table, _row, future in batch:
                    if not future.done():
                        future.set_result(None)


class _Listener:
    """A PostgreSQL connection of its own that LISTENs on the bot's channels: a new
    version of the reference data empties the read model, a new outbox entry wakes the
    worker. While it is down, every transaction reads the version row itself."""

    def __init__(self, store: Store, loop: asyncio.AbstractEventLoop) -> None:
        self.store = store
        self.loop = loop
        self.live = False
        self._connection: Any = None
        self._own_pid: int | None = None
        self._telling: asyncio.Task[None] | None = None
        self._task = loop.create_task(self._run())

    def _dsn(self) -> str:
        url = self.store.url.set(drivername="postgresql", query={})
        return url.render_as_string(hide_password=False)

    def _on_version(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            self.store.read_model.observe(int(payload))
        except ValueError:
            self.store.read_model.forget()

    def _on_outbox(self, _conn: Any, pid: int, _channel: str, _payload: str) -> None:
        if pid != self._own_pid:  # this instance's own worker was woken at the commit
            self.store.wake_outbox()

    def tell_others(self) -> None:
        """Other instances: this one added outbox entries. Sent after the commit from
        this connection, not by the writing transaction: a transaction that NOTIFYs
        holds a database-wide lock while it commits, which would put every ticket's
        commit in single file. One notice at a time is enough to wake them."""
        if not self.live or self._telling is not None:
            return
        self._telling = self.loop.create_task(self._tell())

    async def _tell(self) -> None:
        try:
            await self._connection.execute(f"NOTIFY {OUTBOX_CHANNEL}")
        except Exception as exc:  # the other instances still poll
            log.info("read model: could not notify the other instances (%s)", exc)
        finally:
            self._telling = None

    async def _run(self) -> None:
        import asyncpg

        while True:
            lost = asyncio.Event()
            try:
                self._connection = await asyncpg.connect(self._dsn())
                self._connection.add_termination_listener(lambda _conn, lost=lost: lost.set())
                await self._connection.add_listener(CHANNEL, self._on_version)
                await self._connection.add_listener(OUTBOX_CHANNEL, self._on_outbox)
                self._own_pid = self._connection.get_server_pid()
                # Changes made before LISTEN took effect went unheard: read the row again.
                self.store.read_model.forget()
                self.live = True
                await lost.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: retry, versions are read meanwhile
                log.warning("read model: cannot listen on PostgreSQL (%s); retrying", exc)
            finally:
                self.live = False
                self.store.read_model.forget()
            await asyncio.sleep(LISTEN_RETRY_SECONDS)

    async def close(self) -> None:
        self.live = False
        self._task.cancel()
        with contextlib.suppress(BaseException):
            await self._task
        if self._connection is not None:
            with contextlib.suppress(Exception):
                await self._connection.close()


async def open_store(url: str, *, migrate: bool = True) -> Store:
    store = Store(url)
    if migrate:
        await store.migrate()
    return store


def run(coro: Any) -> Any:
    """Run a coroutine from synchronous code (the CLI)."""
    return asyncio.run(coro)
