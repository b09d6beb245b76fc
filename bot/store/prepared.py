"""Hot statements, built once.

Building ``insert(table).values(...)`` on every call costs more than executing it:
SQLAlchemy walks the new statement to find its compiled form in its cache. A statement
built once keeps its cache key, and the values travel as parameters. Statements whose
SQL differs between the two databases (``ON CONFLICT``) are built once per dialect.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

_built: dict[tuple[str, str], Any] = {}


def once(conn: AsyncConnection, name: str, build: Callable[[str], Any]) -> Any:
    """The statement ``name`` for the connection's database, built by ``build(dialect)``
    the first time it is asked for."""
    dialect = conn.dialect.name
    key = (name, dialect)
    statement = _built.get(key)
    if statement is None:
        statement = _built[key] = build(dialect)
    return statement
