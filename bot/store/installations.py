"""Slack installations and OAuth states (OAuth mode), in the bot's own database.

slack_sdk's SQLAlchemy stores own the tables (``slack_installations``, ``slack_bots``,
``slack_oauth_states``, created by migration 0006). They run on the Store's engine,
with their write transactions opened through :meth:`Store.write`: on SQLite that takes
the process's writer turn and ``BEGIN IMMEDIATE``, so that saving a rotated token never
fails on a database another request is writing to (a deferred transaction that reads
and then writes would). Their reads are plain connections of the engine.

The state store signs each state it issues with SLACK_STATE_SECRET: a state that was
not issued here is refused before the database is asked.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import cast

from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from bot.store.engine import Store

log = logging.getLogger(__name__)

STATE_SECONDS = 600  # an install link's state is good for ten minutes


class _StoreEngine:
    """What slack_sdk's stores use of an ``AsyncEngine`` (``begin``, ``connect``),
    with the writes going through the Store's write transactions."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def begin(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.store.write(reference=False)

    def connect(self) -> AbstractAsyncContextManager[AsyncConnection]:
        return self.store.engine.connect()


def installation_store(store: Store, *, client_id: str) -> AsyncSQLAlchemyInstallationStore:
    return AsyncSQLAlchemyInstallationStore(
        client_id=client_id, engine=cast(AsyncEngine, _StoreEngine(store)), logger=log
    )


class SignedStateStore(AsyncSQLAlchemyOAuthStateStore):
    """OAuth states kept in the database (one use each, expiring), signed with a
    secret of the deployment."""

    def __init__(self, store: Store, *, secret: str, expiration_seconds: int = STATE_SECONDS):
        super().__init__(
            expiration_seconds=expiration_seconds,
            engine=cast(AsyncEngine, _StoreEngine(store)),
            logger=log,
        )
        self._secret = secret.encode("utf-8")

    def _signature(self, state: str) -> str:
        return hmac.new(self._secret, state.encode("utf-8"), hashlib.sha256).hexdigest()[:32]

    async def async_issue(self, *args: object, **kwargs: object) -> str:
        state = await super().async_issue(*args, **kwargs)
        return f"{state}.{self._signature(state)}"

    async def async_consume(self, state: str) -> bool:
        issued, _, signature = state.rpartition(".")
        if not issued or not hmac.compare_digest(signature, self._signature(issued)):
            log.warning("refused an OAuth state that was not issued here")
            return False
        return await super().async_consume(issued)


@asynccontextmanager
async def _reading(store: Store) -> AsyncIterator[AsyncConnection]:
    async with store.engine.connect() as conn:
        yield conn


async def installed_teams(
    store: Store, installations: AsyncSQLAlchemyInstallationStore
) -> list[tuple[str | None, str | None]]:
    """``(enterprise_id, team_id)`` of every installation that has a bot token (team
    None: an org-wide install of that enterprise), at most two: enough to tell "exactly
    one" from "several"."""
    bots = installations.bots
    query = (
        select(bots.c.enterprise_id, bots.c.team_id)
        .where(and_(bots.c.client_id == installations.client_id, bots.c.bot_token.is_not(None)))
        .group_by(bots.c.enterprise_id, bots.c.team_id)
        .order_by(func.min(bots.c.id))
        .limit(2)
    )
    async with _reading(store) as conn:
        return [(row.enterprise_id, row.team_id) for row in await conn.execute(query)]
