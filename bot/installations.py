"""Which Web API client speaks for a team: the installations of the bot.

Single-workspace mode (SLACK_BOT_TOKEN): one client, whatever the team. OAuth mode
(SLACK_CLIENT_ID…): the client carrying the bot token of that team's installation, or
of its enterprise's org-wide installation (Enterprise Grid), or none when the bot is not
installed there. A bot token that expires (token rotation) is refreshed through
``oauth.v2.access`` once it is within :data:`ROTATION_MINUTES` of its end, and saved.

Every client shares one aiohttp session (kept connections) and is made once per token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

import aiohttp
from slack_sdk.oauth.installation_store.models.installation import Installation
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.web.async_client import AsyncWebClient

from bot.config import Settings
from bot.store import Store
from bot.store import audit as audit_db
from bot.store import installations as installations_db
from bot.store import outbox as outbox_db

log = logging.getLogger(__name__)

# A bot token this close to its expiry is refreshed before use (Bolt's default too).
ROTATION_MINUTES = 120
MAX_CLIENTS = 10_000  # one per token; beyond that the cache starts afresh


def no_installation(enterprise_id: str | None, team_id: str | None) -> str:
    """The reason an entry for a team without installation is given up."""
    if team_id is None and enterprise_id is None:
        return "no team known and not exactly one installation: cannot tell which to use"
    where = f"team {team_id}" if team_id else f"enterprise {enterprise_id}"
    return f"no installation for {where}: the app was uninstalled or never installed there"


class Installations:
    """The clients of the bot's installations. Build with :meth:`single`, :meth:`oauth`
    or :meth:`for_settings`."""

    def __init__(
        self,
        base: AsyncWebClient,
        *,
        store: Store | None = None,
        installation_store: AsyncSQLAlchemyInstallationStore | None = None,
        state_store: AsyncSQLAlchemyOAuthStateStore | None = None,
        rotator: AsyncTokenRotator | None = None,
    ) -> None:
        self.base = base
        self.store = store
        self.installation_store = installation_store
        self.state_store = state_store
        self.rotator = rotator
        self._clients: dict[str, AsyncWebClient] = {}
        self._rotating = asyncio.Lock()

    @classmethod
    def single(cls, client: AsyncWebClient) -> Installations:
        """One workspace: ``client`` (with SLACK_BOT_TOKEN) for every team."""
        return cls(client)

    @classmethod
    def oauth(
        cls, settings: Settings, store: Store, *, session: aiohttp.ClientSession | None = None
    ) -> Installations:
        """Many workspaces: the installations and OAuth states in ``store``."""
        if not (settings.client_id and settings.client_secret and settings.state_secret):
            raise ValueError(
                "OAuth mode needs SLACK_CLIENT_ID, SLACK_CLIENT_SECRET, SLACK_STATE_SECRET"
            )
        base = AsyncWebClient(base_url=settings.api_url, session=session)
        return cls(
            base,
            store=store,
            installation_store=installations_db.installation_store(
                store, client_id=settings.client_id
            ),
            state_store=installations_db.SignedStateStore(store, secret=settings.state_secret),
            rotator=AsyncTokenRotator(
                client_id=settings.client_id, client_secret=settings.client_secret, client=base
            ),
        )

    @classmethod
    def for_settings(
        cls, settings: Settings, store: Store, *, session: aiohttp.ClientSession | None = None
    ) -> Installations:
        if settings.oauth:
            return cls.oauth(settings, store, session=session)
        return cls.single(
            AsyncWebClient(token=settings.bot_token, base_url=settings.api_url, session=session)
        )

    @property
    def is_oauth(self) -> bool:
        return self.installation_store is not None

    def client_with(self, token: str) -> AsyncWebClient:
        """The client carrying ``token``, made once."""
        client = self._clients.get(token)
        if client is None:
            if len(self._clients) >= MAX_CLIENTS:
                self._clients.clear()
            client = AsyncWebClient(
                token=token,
                base_url=self.base.base_url,
                session=self.base.session,
                timeout=self.base.timeout,
                logger=self.base.logger,
            )
            self._clients[token] = client
        return client

    async def client_for(
        self, *, enterprise_id: str | None, team_id: str | None
    ) -> AsyncWebClient | None:
        """The client to call Slack with for that team (of that enterprise), or None
        when the bot has no installation there. With neither id known: the one
        installation when there is exactly one."""
        if self.installation_store is None:
            return self.base
        installation = await self._installation(enterprise_id=enterprise_id, team_id=team_id)
        if installation is None or not installation.bot_token:
            return None
        installation = await self._fresh(installation)
        return self.client_with(str(installation.bot_token))

    async def _installation(
        self, *, enterprise_id: str | None, team_id: str | None
    ) -> Installation | None:
        assert self.installation_store is not None and self.store is not None
        if enterprise_id is None and team_id is None:
            teams = await installations_db.installed_teams(self.store, self.installation_store)
            if len(teams) != 1:
                return None
            enterprise_id, team_id = teams[0]
        if team_id is not None:
            found = await self.installation_store.async_find_installation(
                enterprise_id=enterprise_id, team_id=team_id
            )
            if found is not None:
                return found
        if enterprise_id is None:
            return None
        # Enterprise Grid: the org-wide installation serves every workspace of the org.
        return await self.installation_store.async_find_installation(
            enterprise_id=enterprise_id, team_id=None, is_enterprise_install=True
        )

    async def _fresh(self, installation: Installation) -> Installation:
        """The installation with a bot token that does not expire within the window."""
        if installation.bot_refresh_token is None or self.rotator is None:
            return installation
        assert self.installation_store is not None
        async with self._rotating:
            # Another task may have refreshed it while this one waited.
            current = await self.installation_store.async_find_installation(
                enterprise_id=installation.enterprise_id,
                team_id=installation.team_id,
                is_enterprise_install=installation.is_enterprise_install,
            )
            installation = current or installation
            refreshed = await self.rotator.perform_token_rotation(
                installation=installation, minutes_before_expiration=ROTATION_MINUTES
            )
            if refreshed is None:
                return installation
            await self.installation_store.async_save(refreshed)
            log.info(
                "bot token of team %s (enterprise %s) refreshed",
                installation.team_id,
                installation.enterprise_id,
            )
            return refreshed

    async def uninstall(
        self, *, enterprise_id: str | None, team_id: str | None, is_enterprise_install: bool
    ) -> None:
        """Forget the tokens of that installation (the app was uninstalled, or its bot
        token revoked)."""
        if self.installation_store is None:
            return
        team = None if is_enterprise_install else team_id
        await self.installation_store.async_delete_bot(enterprise_id=enterprise_id, team_id=team)
        await self.installation_store.async_delete_installation(
            enterprise_id=enterprise_id, team_id=team
        )
        # Clients of the old token stay cached but are never handed out again:
        # client_for finds no installation for that team any more.


def uninstalled_reason(enterprise_id: str | None, team_id: str | None, *, event: str) -> str:
    where = f"team {team_id}" if team_id else f"enterprise {enterprise_id}"
    return f"no installation for {where}: the app was uninstalled there ({event})"


async def uninstalled(
    store: Store,
    installations: Installations | None,
    *,
    enterprise_id: str | None,
    team_id: str | None,
    is_enterprise_install: bool,
    event: str,
    at: dt.datetime,
) -> int:
    """The app was uninstalled from a team (or an org-wide install from its enterprise),
    or its bot token revoked: forget the installation's tokens, record it, and give up
    at once what the outbox still owes through it. Returns how many entries."""
    team = None if is_enterprise_install else team_id
    if installations is not None:
        await installations.uninstall(
            enterprise_id=enterprise_id,
            team_id=team_id,
            is_enterprise_install=is_enterprise_install,
        )
    reason = uninstalled_reason(enterprise_id, team, event=event)
    async with store.write(reference=False) as conn:
        given_up = 0
        if installations is not None and installations.is_oauth:
            given_up = await outbox_db.give_up_for_team(
                conn, team_id=team, enterprise_id=enterprise_id, reason=reason
            )
        await audit_db.record(
            conn,
            at=at,
            actor=None,
            action="slack.uninstalled",
            detail={
                "event": event,
                "team": team,
                "enterprise": enterprise_id,
                "outbox_given_up": given_up,
            },
        )
    log.warning("%s: %d outbox entr%s given up", reason, given_up, "y" if given_up == 1 else "ies")
    return given_up


async def record_installed(
    store: Store,
    *,
    enterprise_id: str | None,
    team_id: str | None,
    by: str | None,
    is_enterprise_install: bool,
    at: dt.datetime | None = None,
) -> None:
    """Audit a completed installation (who installed, in which team or enterprise)."""
    await audit_db.append(
        store,
        at=at or dt.datetime.now(dt.UTC),
        actor=None,
        action="slack.installed",
        detail={
            "team": None if is_enterprise_install else team_id,
            "enterprise": enterprise_id,
            "installer": by,
            "org_wide": is_enterprise_install,
        },
    )
