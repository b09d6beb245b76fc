"""The read model: directory and reference data served from memory, never stale where
access is decided.

Organizations, contacts, accounts, grants, licence summaries, contracts, subscriptions,
agreements and SLA targets change rarely and are read by every command. Each query
function of ``bot.store`` that reads them is wrapped with :func:`reference_read`: its
answer is kept per process, under the version of the reference data it was read at.

- Every change to a reference table bumps ``read_model_version.version`` in the same
  transaction (database triggers, so that no write path can forget it; on PostgreSQL
  the trigger also sends ``NOTIFY supportbot_read_model`` with the new version).
- A transaction knows which version it reads at: on SQLite the version row is read at
  the start of each request and inside every write transaction (``BEGIN IMMEDIATE``
  makes that read part of the write); on PostgreSQL a listening connection learns each
  new version as it is committed, and every write transaction reads the row itself.
- A cached answer is used only when it belongs to the version the transaction reads
  at; a new version empties the cache. A transaction that has itself changed reference
  data reads the database for the rest of its life, and empties the cache when it
  commits.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import functools
from collections.abc import Awaitable, Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any, ParamSpec, TypeVar, cast

from sqlalchemy import select

from bot.store import tables as t

CHANNEL = "supportbot_read_model"  # PostgreSQL NOTIFY channel of the reference data
OUTBOX_CHANNEL = "supportbot_outbox"  # PostgreSQL NOTIFY channel of new outbox entries
VERSION_ROW = 1

# Tables whose content the read model serves: a change to any of them bumps the version.
REFERENCE_TABLES = (
    "organizations",
    "vendors",
    "contacts",
    "accounts",
    "grants",
    "folders",
    "licenses",
    "contracts",
    "subscriptions",
    "agreements",
    "agreement_benefits",
    "agreement_benefit_admins",
    "agreement_partners",
    "sla_targets",
    "workspaces",
    "slack_identities",
)

SELECT_VERSION = select(t.read_model_version.c.version).where(
    t.read_model_version.c.id == VERSION_ROW
)


class ReadModel:
    """One process's cached answers, all of one version of the reference data."""

    def __init__(self, *, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self.version: int | None = None  # None: unknown, to be read from the database
        self._entries: dict[Hashable, Any] = {}
        self.hits = 0
        self.misses = 0

    def observe(self, version: int) -> None:
        """The database is at ``version``: answers of any other version are dropped."""
        if version != self.version:
            self._entries.clear()
            self.version = version

    def forget(self) -> None:
        """Drop every answer; the next transaction reads the version again."""
        self._entries.clear()
        self.version = None

    def get(self, key: Hashable) -> Any:
        return self._entries.get(key, _MISSING)

    def put(self, key: Hashable, value: Any) -> None:
        if len(self._entries) >= self.capacity:
            self._entries.clear()
        self._entries[key] = value


_MISSING = object()


@dataclass
class TransactionView:
    """What one transaction may take from the read model."""

    model: ReadModel
    version: int | None
    wrote_reference: bool = False
    wrote_outbox: bool = False
    # Tickets this transaction inserted, as the database returned them: reading one back
    # in the same transaction needs no statement (``bot.store.tickets``).
    tickets: dict[int, Any] = field(default_factory=dict)

    @property
    def usable(self) -> bool:
        return (
            not self.wrote_reference
            and self.version is not None
            and self.model.version == self.version
        )


current_view: contextvars.ContextVar[TransactionView | None] = contextvars.ContextVar(
    "supportbot_read_view", default=None
)


def _freeze(value: Any) -> Any:
    """A hashable stand-in for an argument; collections of ids become sorted tuples (the
    query functions treat them as sets)."""
    if value is None or isinstance(value, str | int | dt.date):  # most arguments: fast
        return value
    if isinstance(value, list | set | frozenset | tuple | dict | Iterator):
        return tuple(sorted(set(value)))
    return value


def _copy(value: Any) -> Any:
    """Callers may change the list or dict they get; the cached one must not change."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    return value


P = ParamSpec("P")
R = TypeVar("R")


def reference_read(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Serve this query function from the read model when the transaction allows it.

    The function must read reference tables only, take the connection first and
    everything else by keyword, and return immutable domain objects (or lists and
    dicts of them)."""
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        view = current_view.get()
        if view is None or not view.usable:
            return await fn(*args, **kwargs)
        frozen = {k: _freeze(v) for k, v in kwargs.items()}
        key = (name, *frozen.items())  # keyword order is the call site's: stable enough
        return _copy(await remembered(key, lambda: fn(*args, **frozen)))

    return wrapper


async def remembered(
    key: Hashable,
    compute: Callable[[], Awaitable[R]],
    *,
    keep: Callable[[R], bool] | None = None,
) -> R:
    """``compute()``, kept in the read model under ``key`` like the answers of the query
    functions: for a use case's result made of reference data alone (an EA card for one
    viewer on one day), whose reads would all be answered from memory anyway. Kept only
    for the version the transaction reads at, so exactly as fresh as those reads; a
    result that raises (a refusal) is never kept. ``key`` names the use case and every
    input, the viewer (actor) and the day included; one that cannot be hashed is
    computed each time. ``keep``: whether a computed value may be kept (False for one
    that read something besides reference data)."""
    view = current_view.get()
    try:
        hash(key)
    except TypeError:
        return await compute()
    if view is None or not view.usable:
        return await compute()
    found = view.model.get(key)
    if found is not _MISSING:
        view.model.hits += 1
        return cast(R, found)
    view.model.misses += 1
    value = await compute()
    if view.usable and (keep is None or keep(value)):
        view.model.put(key, value)
    return value
