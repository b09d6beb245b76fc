"""aiosqlite, used so that a statement costs one trip to the connection's thread, or
none at all.

aiosqlite runs each call of a connection in a thread of its own; SQLAlchemy's adapter
makes four such calls per statement (open a cursor, execute, fetch, close), each a
queue hand-off and a wake-up of the event loop. Here a statement is executed, fetched
and closed in one call, and ``BEGIN`` waits to travel with the first statement of the
transaction: a transaction that runs no statement (every read served from the read
model) costs no trip at all, and a COMMIT or ROLLBACK with nothing to end is skipped.

The process's writing connection goes further (``write_inline``): its statements run on
the event loop's own thread. A write transaction is a few short statements on rows
already in memory, cheaper to run than one hand-off to another thread, which under load
also waits for the interpreter's lock; the two things that could hold the loop up are
kept off it: a ``BEGIN`` that finds another process writing waits in the connection's
thread, and the WAL is checkpointed by the store in a thread of its own.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite

Row = tuple[Any, ...]


class OneTripCursor:
    """What SQLAlchemy's adapter expects of an aiosqlite cursor, with the rows of the
    last statement already fetched."""

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Sequence[Any] | None = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1
        self._rows: list[Row] = []

    async def __aenter__(self) -> OneTripCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> OneTripCursor:
        result = await self._connection.run(execute, sql, parameters, False)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def executemany(self, sql: str, parameters: Any) -> OneTripCursor:
        result = await self._connection.run(execute, sql, parameters, True)
        self.description, self.rowcount, self.lastrowid, self._rows = result
        return self

    async def fetchall(self) -> list[Row]:
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Row | None:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Row]:
        size = size or self.arraysize
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def close(self) -> None:
        self._rows = []

    async def nextset(self) -> None:
        return None

    async def setinputsizes(self, *_sizes: Any) -> None:
        return None


def execute(
    raw: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[Sequence[Any] | None, int, int | None, list[Row]]:
    """One statement, run, fetched and closed: (description, rowcount, lastrowid, rows)."""
    cursor = raw.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


def insert_and_commit(
    raw: sqlite3.Connection, batches: Sequence[tuple[str, Sequence[tuple[Any, ...]]]]
) -> None:
    """Each batch's rows inserted, then committed (the transaction begun with
    ``begin_later``)."""
    try:
        for sql, rows in batches:
            raw.executemany(sql, rows)
    except BaseException:
        raw.rollback()
        raise
    raw.commit()


def begin_waiting(raw: sqlite3.Connection, begin: str, wait: str) -> None:
    """``BEGIN``, waiting for another process's write to end as long as ``wait`` (a
    ``PRAGMA busy_timeout`` statement of the store's) says."""
    raw.execute(wait)
    try:
        raw.execute(begin)
    finally:
        raw.execute("PRAGMA busy_timeout=0")


class OneTripConnection(aiosqlite.Connection):
    """An aiosqlite connection whose statements each take one trip to its thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._thread.daemon = True  # never keep the interpreter alive at exit
        self._pending_begin: str | None = None
        self._in_transaction = False
        self._deferred: list[tuple[str, tuple[Any, ...]]] = []
        # Told the text of the deferred statements as they leave (the store counts them).
        self.observer: Callable[[Sequence[str]], None] | None = None
        self.inline = False  # statements run on the caller's thread (``write_inline``)
        self._wait = ""  # inline: how long a BEGIN waits for another process's write

    def write_inline(self, *, wait: str) -> None:
        """Run this connection's statements on the calling thread from now on, with no
        hand-off. Only for a connection that one task at a time uses for short write
        transactions (the store's writing connection). A ``BEGIN`` that finds the
        database locked by another process is tried again in the connection's thread,
        waiting as long as ``wait`` (the store's ``PRAGMA busy_timeout`` statement)
        says; on the loop's thread it never waits. Commits
        no longer checkpoint the WAL (the store does, off the loop). Call it between
        transactions."""
        raw = self._conn
        raw.execute("PRAGMA busy_timeout=0")
        raw.execute("PRAGMA wal_autocheckpoint=0")
        self._wait = wait
        self.inline = True

    def begin_later(self, statement: str) -> None:
        """``BEGIN …`` is sent with the next statement, not on its own."""
        self._pending_begin = statement

    def defer(self, sql: str, parameters: tuple[Any, ...]) -> None:
        """Run ``sql`` (an INSERT whose result nobody reads) just before the next
        statement of this transaction, in the same trip, or with its COMMIT. Should it
        fail, that statement or the COMMIT fails, and the transaction rolls back."""
        self._deferred.append((sql, parameters))

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        begin, self._pending_begin = self._pending_begin, None
        deferred, self._deferred = self._deferred, []
        if deferred and self.observer is not None:
            self.observer([sql for sql, _ in deferred])

        def call(begin: str | None) -> Any:
            raw = self._conn
            try:
                if begin is not None:
                    raw.execute(begin)
                for sql, parameters in deferred:
                    raw.execute(sql, parameters)
                return fn(raw, *args)
            finally:
                self._in_transaction = raw.in_transaction

        if not self.inline:
            return await self._execute(call, begin)
        if begin is not None:
            raw = self._conn
            try:
                raw.execute(begin)
            except sqlite3.OperationalError as exc:
                if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                    raise
                await self._execute(begin_waiting, raw, begin, self._wait)
        return call(None)

    def cursor(self) -> OneTripCursor:  # type: ignore[override]
        return OneTripCursor(self)

    async def commit(self) -> None:
        if self._deferred:
            await self.run(lambda raw: raw.commit())  # BEGIN, the rows, COMMIT: one trip
            return
        if self._pending_begin is not None:
            self._pending_begin = None  # the transaction never started: nothing to commit
            return
        if self._in_transaction:
            await self.run(lambda raw: raw.commit())

    async def rollback(self) -> None:
        self._deferred = []
        if self._pending_begin is not None:
            self._pending_begin = None
            return
        if self._in_transaction:
            await self.run(lambda raw: raw.rollback())


def connector(database: str, **kwargs: Any) -> Callable[[], OneTripConnection]:
    """An ``async_creator`` for SQLAlchemy: a new connection to ``database``."""

    async def connect() -> OneTripConnection:
        # Made in the connection's thread; an inline connection is used from the loop's.
        connection = OneTripConnection(
            lambda: sqlite3.connect(database, check_same_thread=False, **kwargs)
        )
        await connection
        return connection

    return connect  # type: ignore[return-value]
