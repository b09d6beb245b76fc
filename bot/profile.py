"""/supportbot: who am I, what may I do here, which language."""

from __future__ import annotations

from slack_sdk.models.blocks import Block

from bot.blocks import context, header, section
from bot.domain import OrgKind, Role
from bot.errors import UserError
from bot.render import LOCALES, t
from bot.store import Store
from bot.store import directory as directory_db
from bot.visibility import Actor


def _kind_text(actor: Actor, locale: str) -> str:
    if actor.kind is OrgKind.PARTNER:
        partner_type = actor.org.partner_type.value if actor.org.partner_type else None
        return t("supportbot.kind_partner", locale, partner_type=partner_type)
    return t(f"supportbot.kind_{actor.kind.value}", locale)


def whoami(actor: Actor, *, locale: str) -> tuple[str, list[Block]]:
    text = t(
        "supportbot.whoami",
        locale,
        name=actor.contact.name,
        email=actor.email,
        org=actor.org.name,
        kind=_kind_text(actor, locale),
        roles=", ".join(sorted(r.value for r in actor.contact.roles)),
        locale=locale,
    )
    return text, [section(text)]


async def help_for(store: Store, actor: Actor, *, locale: str) -> tuple[str, list[Block]]:
    """The commands this actor may use, by role (what others may do is left out)."""

    def line(message: str, /, **params: object) -> str:
        return t(f"supportbot.{message}", locale, **params)

    tickets = [
        "cmd_ticket_modal",
        "cmd_ticket_new",
        "cmd_ticket_show",
        "cmd_ticket_list",
        "cmd_ticket_note",
    ]
    accounts = ["cmd_ea", "cmd_entitlements", "cmd_access"]
    extra: list[str] = []
    if actor.is_partner:
        tickets.append("cmd_ticket_work")
        accounts.insert(1, "cmd_ea_lookup")
        accounts += ["cmd_access_register", "cmd_audit"]
        if actor.has(Role.ATC):
            tickets.append("cmd_escalate")
        else:
            async with store.read() as conn:
                atcs = await directory_db.list_contacts(conn, org=actor.org.id, role=Role.ATC)
            extra.append(
                line("cmd_escalate_denied", atcs=", ".join(f"{c.name} ({c.email})" for c in atcs))
            )
    elif actor.is_vendor:
        tickets += ["cmd_ticket_work", "cmd_reassign"]
        accounts.insert(1, "cmd_ea_lookup")
        accounts.append("cmd_audit")
    else:
        if actor.has(Role.SUPERUSER) or actor.has(Role.PROCUREMENT):
            accounts += ["cmd_access_manage", "cmd_audit"]

    title = line("help_title", name=actor.contact.name)
    parts = [
        (line("section_tickets"), [line(n) for n in tickets] + extra),
        (line("section_accounts"), [line(n) for n in accounts]),
        (line("section_faq"), [line("cmd_faq")]),
        (line("section_bot"), [line("cmd_bot")]),
    ]
    blocks: list[Block] = [header(title), context(line("help_intro", kind=actor.kind.value))]
    text_lines = [title]
    for heading, lines in parts:
        body = line("help_section", title=heading) + "\n" + "\n".join(lines)
        blocks.append(section(body))
        text_lines.append(body)
    return "\n".join(text_lines), blocks


async def set_language(store: Store, actor: Actor, value: str) -> tuple[str, list[Block]]:
    locale = value.strip().lower()
    if locale not in LOCALES:
        raise UserError("bad_locale", usage="supportbot.usage", value=value)
    async with store.write() as conn:
        await directory_db.set_contact_locale(conn, email=actor.email, locale=locale)
    text = t("supportbot.lang_set", locale, locale=locale)
    return text, [section(text)]
