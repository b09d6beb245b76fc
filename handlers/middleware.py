"""One middleware resolves who is acting, once per request, and puts into the Bolt
context what listeners ask for by name: ``actor``, ``store``, ``locale``, ``services``,
``now``."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.config import LOCALES
from bot.render import t
from bot.store import directory as directory_db
from bot.visibility import Actor, load_actor
from handlers.lifecycle import UNKNOWN_USER, set_outcome
from handlers.services import Services

log = logging.getLogger(__name__)

PROFILE_TIMEOUT = 2.0  # seconds users.info may take on a person's first request


def slack_locale(value: str | None) -> str | None:
    """Slack's ``fr-FR`` → ``fr``; a language the bot does not speak → None."""
    if not value:
        return None
    language = value.split("-")[0].lower()
    return language if language in LOCALES else None


async def slack_profile(
    client: AsyncWebClient, services: Services, user_id: str
) -> tuple[str | None, str | None]:
    """(email, Slack locale) of a Slack user, cached for a while."""
    cached = services.actors.get(user_id)
    if cached is not None:
        return cached
    try:
        # Bounded: this runs before the ack, which Slack waits for three seconds at most.
        response = await asyncio.wait_for(
            client.users_info(user=user_id, include_locale=True), PROFILE_TIMEOUT
        )
    except SlackApiError as exc:
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        log.warning(
            "users.info failed for %s: %s", user_id, data.get("error") or exc.response.status_code
        )
        return None, None
    except (aiohttp.ClientError, TimeoutError) as exc:
        log.warning("users.info unreachable for %s: %s", user_id, exc)
        return None, None
    user = response.get("user") or {}
    email = (user.get("profile") or {}).get("email")
    locale = slack_locale(user.get("locale"))
    services.actors.put(user_id, (email, locale))
    return email, locale


async def resolve_actor(
    services: Services, client: AsyncWebClient, user_id: str
) -> tuple[Actor | None, str | None, str]:
    """(actor or None, the email Slack gave, the locale to answer in)."""
    default = services.settings.default_locale
    # Every request comes here: a known Slack user is read from the read model (its
    # version was checked at the start of the request), no statement at all.
    async with services.store.read() as conn:
        contact = await directory_db.get_contact_by_slack_id(conn, user_id=user_id)
        org = None
        if contact is not None:
            org = await directory_db.get_organization(conn, id=contact.org)
    slack_email: str | None = None
    slack_lang: str | None = None
    if contact is None or contact.locale is None:
        slack_email, slack_lang = await slack_profile(client, services, user_id)
    email = contact.email if contact is not None else slack_email
    if email is None:
        return None, None, slack_lang or default
    actor: Actor | None = None
    if contact is not None and org is not None:
        locale = contact.locale or org.locale or default
        actor = Actor(contact=contact, org=org, locale=locale, slack_user_id=user_id)
    elif contact is None:
        async with services.store.read() as conn:
            actor = await load_actor(
                conn, email=email, default_locale=default, slack_user_id=user_id
            )
    if actor is None:
        return None, email, slack_lang or default
    if contact is None:
        # Remember the link: the next request resolves without the Web API.
        async with services.store.write() as conn:
            await directory_db.link_slack_user(conn, email=actor.email, user_id=user_id)
    locale = actor.contact.locale or slack_lang or actor.org.locale or default
    if locale != actor.locale:
        actor = Actor(contact=actor.contact, org=actor.org, locale=locale, slack_user_id=user_id)
    return actor, email, locale


_background: set[asyncio.Task[Any]] = set()


def background(coro: Coroutine[Any, Any, Any]) -> None:
    """Run after the ack; keep a reference so the task is not collected mid-flight."""
    task = asyncio.ensure_future(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)


async def wait_background(within: float) -> bool:
    """Wait for the work started after acknowledgements (at shutdown), ``within`` seconds
    at most; False when some is still running then."""
    if not _background:
        return True
    _done, late = await asyncio.wait(set(_background), timeout=within)
    return not late


def ephemeral_response(text: str) -> BoltResponse:
    return BoltResponse(
        status=200,
        body=json.dumps({"response_type": "ephemeral", "text": text}),
        headers={"content-type": ["application/json;charset=utf-8"]},
    )


def register(app: AsyncApp, services: Services) -> None:
    @app.middleware
    async def inject_actor(
        context: AsyncBoltContext,
        request: AsyncBoltRequest,
        body: dict[str, Any],
        client: AsyncWebClient,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        context["services"] = services
        context["store"] = services.store
        context["now"] = services.clock()
        context["locale"] = services.settings.default_locale
        user_id = context.user_id
        if user_id is None or body.get("type") == "url_verification":
            return await next()
        # Events about others (or the bot itself) carry no actor of ours.
        if (
            body.get("type") == "event_callback"
            and body.get("event", {}).get("type") != "app_home_opened"
        ):
            return await next()
        # The version of the directory and reference data this request relies on.
        await services.store.begin_request()
        actor, email, locale = await resolve_actor(services, client, user_id)
        context["locale"] = locale
        if actor is None:
            log.info("unknown Slack user %s (%s)", user_id, email or "no email")
            set_outcome(context, UNKNOWN_USER)
            message = t("errors.unknown_contact", locale, email=email)
            if body.get("command"):
                return ephemeral_response(message)
            if body.get("type") == "view_submission":
                return BoltResponse(
                    status=200,
                    body=json.dumps({"response_action": "errors", "errors": {}}),
                    headers={"content-type": ["application/json;charset=utf-8"]},
                )
            # Interactions: acknowledge, then tell them where Slack lets us (never silence).
            response_url = body.get("response_url")
            if response_url:
                background(
                    AsyncWebhookClient(response_url).send(text=message, response_type="ephemeral")
                )
            return BoltResponse(status=200, body="")
        context["actor"] = actor
        return await next()
