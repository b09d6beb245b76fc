"""/supportbot help | whoami | lang <fr|en>"""

from __future__ import annotations

from slack_bolt.async_app import AsyncApp
from slack_bolt.context.ack.async_ack import AsyncAck

from bot import profile, vocabulary
from bot.errors import UserError
from bot.parser import tokens
from bot.store import Store
from bot.visibility import Actor
from handlers import threads
from handlers.common import reply
from handlers.services import Services

USAGE = "supportbot.usage"


async def handle_supportbot(
    ack: AsyncAck,
    command: dict[str, str],
    actor: Actor,
    store: Store,
    locale: str,
    services: Services,
) -> None:
    words = tokens(command.get("text", ""))
    verb = (vocabulary.subcommand("/supportbot", words[0]) or words[0].lower()) if words else "help"
    if verb == "help":
        text, blocks = await profile.help_for(store, actor, locale=locale)
    elif verb == "whoami":
        text, blocks = profile.whoami(actor, locale=locale)
    elif verb == "lang":
        if len(words) < 2:
            raise UserError("parse.missing", usage=USAGE, argument="fr|en")
        text, blocks = await profile.set_language(store, actor, words[1])
    elif verb == "channel":
        await threads.channel_command(ack, command, actor, store, services.clock())
        return
    else:
        raise UserError("unknown_subcommand", usage=USAGE, command="/supportbot", value=words[0])
    await reply(ack, text, blocks)


def register(app: AsyncApp) -> None:
    app.command("/supportbot")(handle_supportbot)
