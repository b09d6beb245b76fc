"""What every listener shares: the store, settings, FAQ catalog, clock and Slack profile
cache. (Who a Slack user is comes from the store's read model, never from a cache that
could be stale.)"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from bot.config import Settings
from bot.faq import FaqCatalog, default_catalog
from bot.installations import Installations
from bot.store import Store


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


V = TypeVar("V")


class TtlCache(Generic[V]):
    """Slack user id → a value, kept ``ttl`` seconds; bounded so it never grows unchecked."""

    def __init__(self, ttl: float, *, capacity: int = 50_000) -> None:
        self.ttl = ttl
        self.capacity = capacity
        self._entries: dict[str, tuple[float, V]] = {}

    def get(self, key: str) -> V | None:
        entry = self._entries.get(key)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key: str, value: V) -> None:
        if len(self._entries) >= self.capacity:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, value)

    def forget(self, key: str) -> None:
        self._entries.pop(key, None)


def profile_cache() -> TtlCache[tuple[str | None, str | None]]:
    """(email, Slack locale) per Slack user for 10 minutes: spares a ``users.info`` call
    on every command while still noticing a changed profile."""
    return TtlCache(600.0)


@dataclass
class Services:
    store: Store
    settings: Settings
    clock: Callable[[], dt.datetime] = utc_now
    faq: FaqCatalog = field(default_factory=default_catalog)
    actors: TtlCache[tuple[str | None, str | None]] = field(default_factory=profile_cache)
    # Whose token answers which team; set by build_app when not given (one client).
    installations: Installations | None = None

    @property
    def single_workspace(self) -> bool:
        """One bot token in one workspace, run by its operator: that workspace's members
        are matched to contacts by email (see bot.identity). False for a distributed
        install, where any organization may add the app to its workspace."""
        return not self.settings.oauth
