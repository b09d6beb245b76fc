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
from slack_bolt.middleware.async_middleware import AsyncMiddleware
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot import vocabulary
from bot.config import LOCALES
from bot.identity import Person, identify
from bot.render import t
from bot.visibility import Actor
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


def person_of(
    context: AsyncBoltContext,
    user_id: str,
    *,
    single_workspace: bool,
    said: dict[str, Any] | None = None,
    channel: str | None = None,
) -> Person:
    """The Slack person behind a request, or behind ``said`` (a message or event it
    carries): their own team — in a Slack Connect channel the ``user_team`` of what they
    said, not the workspace the request came through — and enterprise."""
    team = (said or {}).get("user_team") or context.actor_team_id or context.team_id or ""
    team = str(team)
    return Person(
        user=user_id,
        team=team,
        enterprise=context.actor_enterprise_id or context.enterprise_id,
        channel=channel or context.channel_id,
        at_home=at_home(context, team, single_workspace=single_workspace),
    )


def at_home(context: AsyncBoltContext, team: str, *, single_workspace: bool) -> bool:
    """A member of the workspace the request came through, in a single-workspace
    install: not someone the payload shows as of another team (an external member of a
    Slack Connect channel: ``user_team``, ``user.team_id``)."""
    return single_workspace and (not context.team_id or team == context.team_id)


async def resolve_actor(
    services: Services, client: AsyncWebClient, person: Person
) -> tuple[Actor | None, str | None, str, str | None]:
    """(actor or None, the email Slack gave, the locale to answer in, and when there is
    no actor the message key saying why)."""
    default = services.settings.default_locale
    profile: tuple[str | None, str | None] | None = None

    async def slack_email() -> str | None:
        nonlocal profile
        profile = await slack_profile(client, services, person.user)
        return profile[0]

    # A known person is read from the read model (its version was checked at the start
    # of the request): no statement, no Web API call.
    found = await identify(services.store, person, slack_email=slack_email)
    email = found.email
    slack_lang = profile[1] if profile is not None else None
    if found.contact is None:
        return None, email, slack_lang or default, found.refusal
    contact, org = found.contact, found.org
    assert org is not None  # identify reads the contact's organization with it
    if contact.locale is None and profile is None:
        email, slack_lang = await slack_profile(client, services, person.user)
    locale = contact.locale or slack_lang or org.locale or default
    actor = Actor(contact=contact, org=org, locale=locale, slack_user_id=person.user)
    return actor, email or contact.email, locale, None


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


def _links_an_identity(body: dict[str, Any]) -> bool:
    if body.get("command") != "/supportbot":
        return False
    # The one command a person the bot does not know yet may run.
    words = str(body.get("text") or "").split()
    return bool(words) and vocabulary.subcommand("/supportbot", words[0]) == "link"


class ActorMiddleware(AsyncMiddleware):
    """Who is acting, once per request (a class: Bolt calls it as it is, without
    building the keyword arguments a function middleware asks for)."""

    def __init__(self, services: Services) -> None:
        self.services = services

    async def async_process(
        self,
        *,
        req: AsyncBoltRequest,
        resp: BoltResponse,
        next: Callable[[], Awaitable[BoltResponse]],
    ) -> BoltResponse | None:
        services = self.services
        context, body = req.context, req.body
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
        event = body.get("event")
        person = person_of(
            context,
            user_id,
            single_workspace=services.single_workspace,
            said=event if isinstance(event, dict) else None,
        )
        context["person"] = person
        client = context.client
        actor, email, locale, refusal = await resolve_actor(services, client, person)
        context["locale"] = locale
        if actor is None and _links_an_identity(body):
            context["actor"] = None
            return await next()  # ``/supportbot link``: how an unknown person is known
        if actor is None:
            log.info(
                "unknown Slack user %s of %s (%s): %s",
                user_id,
                person.team,
                email or "no email",
                refusal,
            )
            set_outcome(context, UNKNOWN_USER)
            message = t(refusal or "errors.unknown_contact", locale, email=email)
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


def register(app: AsyncApp, services: Services) -> None:
    app.use(ActorMiddleware(services))
