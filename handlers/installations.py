"""OAuth mode's Slack glue: Bolt's install flow (``GET /slack/install``,
``GET /slack/oauth_redirect``), each request authorized with its own team's (or
enterprise's) installation, and uninstalls (``app_uninstalled``, ``tokens_revoked``)."""

from __future__ import annotations

import functools
import logging
from typing import Any

import yaml
from aiohttp import web
from markupsafe import escape
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.authorization.async_authorize import AsyncInstallationStoreAuthorize
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from bot import installations as installs
from bot import resources
from bot.config import Settings
from bot.installations import ROTATION_MINUTES, Installations
from bot.render import LOCALES, t
from handlers.services import Services
from handlers.threads import after_ack

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"


@functools.cache
def bot_scopes() -> tuple[str, ...]:
    """The bot scopes the manifest declares: what each installation asks for."""
    manifest = yaml.safe_load(resources.manifest().read_text(encoding="utf-8"))
    return tuple(manifest["oauth_config"]["scopes"]["bot"])


def every_language(key: str, **params: object) -> str:
    """A text shown before the person's language is known: in each language."""
    return "\n".join(t(key, locale, **params) for locale in LOCALES)


def _page(title_key: str, text_key: str, *, status: int, **params: object) -> BoltResponse:
    sections = "".join(
        f'<section lang="{locale}"><h1>{escape(t(title_key, locale))}</h1>'
        f"<p>{escape(t(text_key, locale, **params))}</p></section>"
        for locale in LOCALES
    )
    body = f'<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>{sections}</body></html>'
    return BoltResponse(
        status=status, body=body, headers={"content-type": ["text/html; charset=utf-8"]}
    )


def oauth_options(settings: Settings, doors: Installations) -> dict[str, Any]:
    """The AsyncApp arguments of OAuth mode."""
    assert doors.installation_store is not None and doors.state_store is not None
    assert settings.client_id is not None and settings.client_secret is not None
    store = doors.store
    assert store is not None

    async def installed(args: AsyncSuccessArgs) -> BoltResponse:
        found = args.installation
        await installs.record_installed(
            store,
            enterprise_id=found.enterprise_id,
            team_id=found.team_id,
            by=found.user_id,
            is_enterprise_install=bool(found.is_enterprise_install),
        )
        team = found.team_name or found.enterprise_name or found.team_id or found.enterprise_id
        return _page("installs.installed_title", "installs.installed", status=200, team=team)

    async def failed(args: AsyncFailureArgs) -> BoltResponse:
        log.warning("installation refused: %s", args.reason)
        return _page(
            "installs.install_failed_title",
            "installs.install_failed",
            status=args.suggested_status_code,
            reason=args.reason,
        )

    oauth_settings = AsyncOAuthSettings(
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        scopes=list(bot_scopes()),
        user_scopes=[],
        redirect_uri=settings.install_redirect_uri,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        # Straight to Slack's consent screen: no page of Bolt's own (English only).
        install_page_rendering_enabled=False,
        callback_options=AsyncCallbackOptions(success=installed, failure=failed),
        installation_store=doors.installation_store,
        state_store=doors.state_store,
        token_rotation_expiration_minutes=ROTATION_MINUTES,
    )
    # Bolt's authorize, with token rotation calling SLACK_API_URL (Bolt's own would call
    # slack.com whatever the setting); auth.test once per token, then remembered.
    authorize = AsyncInstallationStoreAuthorize(
        logger=log,
        installation_store=doors.installation_store,
        client_id=settings.client_id,
        client_secret=settings.client_secret,
        token_rotation_expiration_minutes=ROTATION_MINUTES,
        cache_enabled=True,
        client=doors.base,
    )
    return {
        "oauth_settings": oauth_settings,
        "authorize": authorize,
        "user_facing_authorize_error_message": every_language("installs.not_installed"),
    }


def add_routes(web_application: web.Application, app: AsyncApp) -> None:
    """``GET /slack/install`` and ``GET /slack/oauth_redirect`` in OAuth mode."""
    flow = app.oauth_flow
    if flow is None:
        return

    def bolt_request(request: web.Request) -> AsyncBoltRequest:
        return AsyncBoltRequest(
            body="",
            query=request.query_string,
            headers=request.headers,  # type: ignore[arg-type]
        )

    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_installation(bolt_request(request)))

    async def redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(bolt_request(request)))

    web_application.router.add_get(flow.install_path, install)
    web_application.router.add_get(flow.redirect_uri_path, redirect)


async def handle_uninstalled(context: AsyncBoltContext, body: dict[str, Any]) -> None:
    await _uninstall(context, event="app_uninstalled")


async def handle_tokens_revoked(
    context: AsyncBoltContext, body: dict[str, Any], event: dict[str, Any]
) -> None:
    if not (event.get("tokens") or {}).get("bot"):
        return  # user tokens only: the bot asks for none, its own token still works
    await _uninstall(context, event="tokens_revoked")


async def _uninstall(context: AsyncBoltContext, *, event: str) -> None:
    services = context.get("services")
    if not isinstance(services, Services):
        return
    await installs.uninstalled(
        services.store,
        services.installations,
        enterprise_id=context.enterprise_id,
        team_id=context.team_id,
        is_enterprise_install=bool(context.is_enterprise_install),
        event=event,
        at=services.clock(),
    )


def register(app: AsyncApp) -> None:
    # Acknowledged first: forgetting the tokens and giving up the outbox entries follows.
    app.event("app_uninstalled")(after_ack(handle_uninstalled))
    app.event("tokens_revoked")(after_ack(handle_tokens_revoked))
