"""What every listener shares: the store, settings, FAQ catalog, clock and actor cache."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import Settings
from bot.faq import FaqCatalog, default_catalog
from bot.store import Store


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class ActorCache:
    """Slack user id → (email, Slack locale), for ``ttl`` seconds: spares a ``users.info``
    call on every command while still noticing a changed profile."""

    ttl: float = 600.0
    _entries: dict[str, tuple[float, str | None, str | None]] = field(default_factory=dict)

    def get(self, user_id: str) -> tuple[str | None, str | None] | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, user_id: str, email: str | None, slack_locale: str | None) -> None:
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[user_id] = (time.monotonic() + self.ttl, email, slack_locale)

    def forget(self, user_id: str) -> None:
        self._entries.pop(user_id, None)


@dataclass
class Services:
    store: Store
    settings: Settings
    clock: Callable[[], dt.datetime] = utc_now
    faq: FaqCatalog = field(default_factory=default_catalog)
    actors: ActorCache = field(default_factory=ActorCache)
