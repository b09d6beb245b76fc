"""What every listener shares: the store, settings, FAQ catalog, clock and actor cache."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bot.config import Settings
from bot.faq import FaqCatalog, default_catalog
from bot.store import Store
from bot.visibility import Actor


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
class ResolvedActors:
    """Slack user id → the actor and locale resolved for them, for ``ttl`` seconds.

    Every request needs its actor; reading it once per user every few seconds instead of
    once per request spares a database transaction on the hot path. A contact's own
    change (``/supportbot lang``) forgets the entry at once; changes made elsewhere (an
    import) show within ``ttl``.
    """

    ttl: float = 30.0
    _entries: dict[str, tuple[float, Actor, str]] = field(default_factory=dict)

    def get(self, user_id: str) -> tuple[Actor, str] | None:
        entry = self._entries.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1], entry[2]

    def put(self, user_id: str, actor: Actor, locale: str) -> None:
        if len(self._entries) > 50_000:
            self._entries.clear()
        self._entries[user_id] = (time.monotonic() + self.ttl, actor, locale)

    def forget(self, user_id: str) -> None:
        self._entries.pop(user_id, None)


@dataclass
class Services:
    store: Store
    settings: Settings
    clock: Callable[[], dt.datetime] = utc_now
    faq: FaqCatalog = field(default_factory=default_catalog)
    actors: ActorCache = field(default_factory=ActorCache)
    resolved: ResolvedActors = field(default_factory=ResolvedActors)
