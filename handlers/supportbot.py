"""/supportbot help | whoami | lang <fr|en> | channel … | workspace … | link …"""

from __future__ import annotations

import datetime as dt

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import identity, parser, profile, vocabulary
from bot.errors import UserError
from bot.identity import Person
from bot.parser import tokens
from bot.render import t
from bot.store import Store
from bot.visibility import Actor
from handlers import threads
from handlers.common import reply
from handlers.services import Services

USAGE = "supportbot.usage"


async def handle_supportbot(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor | None,
    person: Person,
    store: Store,
    locale: str,
    services: Services,
) -> None:
    words = tokens(command.get("text", ""))
    verb = (vocabulary.subcommand("/supportbot", words[0]) or words[0].lower()) if words else "help"
    if verb == "link":
        text = await link_command(words[1:], actor, person, store, locale, services.clock())
        await reply(ack, text)
        return
    if actor is None:  # the middleware lets only ``link`` through without a contact
        raise UserError("identity.must_be_known")
    if verb == "help":
        text, blocks = await profile.help_for(store, actor, locale=locale)
    elif verb == "whoami":
        text, blocks = profile.whoami(actor, locale=locale)
    elif verb == "lang":
        if len(words) < 2:
            raise UserError("parse.missing", usage=USAGE, argument="fr|en")
        text, blocks = await profile.set_language(store, actor, words[1])
    elif verb == "workspace":
        text = await workspace_command(words[1:], actor, person, store, services.clock())
        await reply(ack, text)
        return
    elif verb == "channel":
        await threads.channel_command(ack, command, actor, store, services.clock())
        return
    else:
        raise UserError("unknown_subcommand", usage=USAGE, command="/supportbot", value=words[0])
    await reply(ack, text, blocks)


async def link_command(
    words: list[str],
    actor: Actor | None,
    person: Person,
    store: Store,
    locale: str,
    now: dt.datetime,
) -> str:
    """``link <email>`` asks for a code; ``link <code>`` proves it; ``link confirm <team>
    <user>`` is an admin vouching for someone."""
    if not words:
        raise UserError("parse.missing", usage=identity.USAGE_LINK, argument="email")
    if words[0].lower() == "confirm":
        if actor is None:
            raise UserError("identity.must_be_known")
        team = parser.require(words, 1, "team-id", identity.USAGE_LINK)
        user = parser.require(words, 2, "user-id", identity.USAGE_LINK)
        contact = await identity.confirm_by_admin(store, actor, team=team, user=user, now=now)
        return t("identity.confirmed", actor.locale, name=contact.name, user=user, team=team)
    if actor is not None:
        return t("identity.already_linked", actor.locale, name=actor.contact.name)
    if identity.looks_like_code(words[0]) and "@" not in words[0]:
        return await identity.confirm_code(store, person, words[0], now=now, locale=locale)
    asked = await identity.request_link(store, person, words[0], now=now, locale=locale)
    return t("identity.link_sent", locale, email=asked.email)


async def workspace_command(
    words: list[str], actor: Actor, person: Person, store: Store, now: dt.datetime
) -> str:
    """``workspace`` shows; ``workspace link <org-id> [<team-id>]``; ``workspace unlink
    [<team-id>]``. Without a team id: the workspace the command is typed in."""
    verb = words[0].lower() if words else ""
    if verb == "link":
        org_id = parser.require(words, 1, "org-id", identity.USAGE_WORKSPACE)
        team = words[2] if len(words) > 2 else person.team
        return await identity.link_workspace(store, actor, team=team, org_id=org_id, now=now)
    if verb == "unlink":
        team = words[1] if len(words) > 1 else person.team
        return await identity.unlink_workspace(store, actor, team=team, now=now)
    if verb:
        raise UserError("parse.missing", usage=identity.USAGE_WORKSPACE, argument="link|unlink")
    return await identity.workspace_status(store, actor, person)


def register(app: AsyncApp) -> None:
    app.command("/supportbot")(handle_supportbot)
