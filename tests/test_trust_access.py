"""Access follows the grant, always: a partner whose grant on an EA is revoked, lapses or
loses the support permissions can no longer read or work that EA's tickets, by any
command or button, and its tickets move on (to the customer's other partner allowed to
file support requests, else to the vendor tier) with an event and a notice.

Everything goes over HTTP through the real Bolt app, as the scenario tests do."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from conftest import BotUnderTest
from test_idempotency import another_instance
from ticket_fixtures import get_ticket, snapshot

from bot import tickets
from bot.blocks.tickets import TicketIds
from bot.domain import Status, Tier
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import tickets as tickets_db

CARAVELLE_EA = "845512930"
ETIENNE = "etienne.gagnon@caravelle.example"  # the EA's superuser
AMELIE = "amelie.roy@caravelle.example"  # a user of the customer: she opens the ticket
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
SOPHIE = "sophie.bernard@nuage.example"  # nuage admin
TOM = "tom.walsh@harbor.example"  # harbor agent
EOIN = "eoin.byrne@vmware.example"
NUAGE_Q, HARBOR_Q, VMW_Q = "C0NUAGEQ", "C0HARBORQ", "C0VMWGSS"
MISSING = 99  # a ticket number nobody has

# Every typed ticket command, with what follows the id; {id} is the ticket's number.
TICKET_COMMANDS = [
    ("/ticket", "show {id}"),
    ("/ticket", "note {id} Any news?"),
    ("/ticket", "take {id}"),
    ("/ticket", "assign {id} <@{lea}>"),
    ("/ticket", "wait {id} Which version runs there?"),
    ("/ticket", "sev {id} 2 Wider impact than thought"),
    ("/ticket", "resolve {id} Fixed by a patch"),
    ("/ticket", "reopen {id} Came back"),
    ("/escalate", "{id}"),
    ("/escalate", "{id} sev2 Reproduced on two hosts"),
    ("/reassign", "{id} Belongs to the partner"),
    ("/audit", "{id}"),
]
BUTTONS = [TicketIds.TAKE, TicketIds.ESCALATE, TicketIds.HAND_BACK, TicketIds.RESOLVE]


def ack_text(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    text: str = response.json["text"]
    return text


def texts(bot: BotUnderTest, channel: str) -> list[str]:
    return [c.args["text"] for c in bot.fake.posts(channel)]


async def amelie_opens(bot: BotUnderTest) -> None:
    """A vSphere ticket: R1 sends it to nuage, the seller of everything but Horizon."""
    reply = ack_text(
        await bot.command(
            "/ticket",
            f"new sev3 ea:{CARAVELLE_EA} product:vsphere Hosts lose their datastore",
            as_=AMELIE,
        )
    )
    assert "T-1" in reply
    await bot.drain()
    tk = await get_ticket(bot.store, 1)
    assert (tk.tier, tk.partner) == (Tier.PARTNER, "nuage")


async def answers(bot: BotUnderTest, email: str, ticket: int) -> list[str]:
    """What ``email`` gets for every ticket command about ``ticket``."""
    found = []
    for command, text in TICKET_COMMANDS:
        typed = text.format(id=f"T-{ticket}", lea=bot.user(LEA))
        found.append(ack_text(await bot.command(command, typed, as_=email)))
    return found


async def clicks(bot: BotUnderTest, email: str, ticket: int) -> list[str]:
    """What ``email`` is told (through the response URL) for each queue button."""
    found = []
    for action_id in BUTTONS:
        click = await bot.requests.block_action(bot.user(email), action_id, str(ticket))
        assert click.status == 200
        call = await bot.fake.wait_for(
            lambda c, name=click.response_name: c.method == f"response_url:{name}"
        )
        found.append(call.args["text"])
    return found


def as_missing(texts_for_ticket: list[str], ticket: int) -> list[str]:
    return [t.replace(f"T-{ticket}", f"T-{MISSING}") for t in texts_for_ticket]


async def test_a_revoked_partner_gets_for_every_command_and_button_what_a_missing_ticket_gets(
    bot_app: BotUnderTest,
) -> None:
    await amelie_opens(bot_app)
    assert "T-1" in ack_text(await bot_app.command("/ticket", "show T-1", as_=LEA))
    revoked = ack_text(
        await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE)
    )
    assert "T-1" in revoked  # the customer is told where its ticket went
    await bot_app.drain()
    before = await snapshot(bot_app.store)
    for email in (LEA, MARC, SOPHIE):
        seen = await answers(bot_app, email, 1)
        missing = await answers(bot_app, email, MISSING)
        assert as_missing(seen, 1) == missing, email
        pressed = await clicks(bot_app, email, 1)
        assert as_missing(pressed, 1) == await clicks(bot_app, email, MISSING), email
        listed = ack_text(await bot_app.command("/ticket", "list all", as_=email))
        assert "T-1" not in listed
    await bot_app.drain()
    # nothing they tried changed anything
    assert await snapshot(bot_app.store) == before


async def test_the_revoked_partners_tickets_move_to_the_other_partner_then_to_the_vendor(
    bot_app: BotUnderTest,
) -> None:
    await amelie_opens(bot_app)
    ack_text(await bot_app.command("/ticket", "take T-1", as_=LEA))
    await bot_app.drain()
    bot_app.fake.clear()
    reply = ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE))
    assert "T-1" in reply
    await bot_app.drain()
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.tier, tk.partner, tk.assignee, tk.status) == (
        Tier.PARTNER,
        "harbor",
        None,
        Status.NEW,
    )
    # harbor's queue gets it; nuage's old message loses its buttons and names nobody
    [post] = texts(bot_app, HARBOR_Q)
    assert "T-1" in post
    [update] = [c for c in bot_app.fake.calls_to("chat.update") if c.args["channel"] == NUAGE_Q]
    assert not [b for b in update.args["blocks"] if b["type"] == "actions"]
    assert "Harbor" not in str(update.args)
    # the customer who opened it hears of the move, in her language
    [notice] = texts(bot_app, bot_app.user(AMELIE))
    assert "T-1" in notice and "Nuage" in notice and "Harbor" in notice
    # a new first-response clock for the new holder, and the move in the history
    assert tk.current_clock is not None and tk.current_clock.responded_at is None
    async with bot_app.store.read() as conn:
        kinds = [e.kind for e in await tickets_db.events_of(conn, ticket_id=1)]
        trail = [e.action for e in await audit_db.entries(conn, ticket_id=1, limit=50)]
    assert kinds[-1] == "partner_removed" and "ticket.partner_removed" in trail
    # harbor works it now
    assert "T-1" in ack_text(await bot_app.command("/ticket", "take T-1", as_=TOM))

    # without any partner left, the vendor tier has it
    bot_app.fake.clear()
    ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} harbor", as_=ETIENNE))
    await bot_app.drain()
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.tier, tk.partner) == (Tier.VENDOR, None)
    [post] = texts(bot_app, VMW_Q)
    assert "T-1" in post
    assert "T-1" in ack_text(await bot_app.command("/ticket", "take T-1", as_=EOIN))


async def test_an_escalated_ticket_stays_with_the_vendor_and_hands_back_to_the_other_partner(
    bot_app: BotUnderTest,
) -> None:
    await amelie_opens(bot_app)
    ack_text(await bot_app.command("/escalate", "T-1 sev3 Reproduced, logs attached", as_=MARC))
    await bot_app.drain()
    ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE))
    await bot_app.drain()
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.tier, tk.partner, tk.status) == (Tier.VENDOR, "harbor", Status.ESCALATED)
    ack_text(await bot_app.command("/reassign", "T-1 Their network", as_=EOIN))
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.tier, tk.partner) == (Tier.PARTNER, "harbor")


async def test_losing_file_support_requests_moves_the_tickets_and_leaves_reading_only(
    bot_app: BotUnderTest,
) -> None:
    await amelie_opens(bot_app)
    reply = ack_text(
        await bot_app.command(
            "/access", f"grant {CARAVELLE_EA} nuage view_support_requests", as_=ETIENNE
        )
    )
    assert "T-1" in reply
    tk = await get_ticket(bot_app.store, 1)
    assert tk.partner == "harbor"
    # nuage still reads it (view_support_requests) but may not work on it
    assert "T-1" in ack_text(await bot_app.command("/ticket", "show T-1", as_=LEA))
    before = await snapshot(bot_app.store)
    refused = ack_text(await bot_app.command("/ticket", "note T-1 Still on it", as_=LEA))
    assert "file support requests" in refused or "déposer" in refused
    assert await snapshot(bot_app.store) == before
    # and without view_support_requests either, it reads like a missing ticket
    ack_text(
        await bot_app.command(
            "/access", f"grant {CARAVELLE_EA} nuage view_license_keys", as_=ETIENNE
        )
    )
    assert as_missing([ack_text(await bot_app.command("/ticket", "show T-1", as_=LEA))], 1) == [
        ack_text(await bot_app.command("/ticket", f"show T-{MISSING}", as_=LEA))
    ]


async def test_revocation_counts_at_the_next_request_even_right_after_a_cached_one(
    bot_app: BotUnderTest,
) -> None:
    """The actor is cached for a while; the grant never is: it is read on every request,
    by this instance and by any other on the same store."""
    await amelie_opens(bot_app)
    async with another_instance(bot_app) as other:
        for requests in (bot_app.requests, other):
            shown = await requests.command("/ticket", "show T-1", user_id=bot_app.user(LEA))
            assert "T-1" in ack_text(shown)
        ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE))
        for requests in (bot_app.requests, other):
            shown = await requests.command("/ticket", "show T-1", user_id=bot_app.user(LEA))
            missing = await requests.command(
                "/ticket", f"show T-{MISSING}", user_id=bot_app.user(LEA)
            )
            assert ack_text(shown).replace("T-1", f"T-{MISSING}") == ack_text(missing)


async def test_a_lapsed_grant_moves_its_tickets_at_the_next_scan(bot_app: BotUnderTest) -> None:
    await amelie_opens(bot_app)
    async with bot_app.store.write() as conn:
        grant = await accounts_db.get_grant(conn, ea=CARAVELLE_EA, partner="nuage")
        assert grant is not None
        yesterday = bot_app.clock().date() - dt.timedelta(days=1)
        await accounts_db.upsert_grant(conn, grant=dataclasses.replace(grant, until=yesterday))
    # the lapse shuts nuage out at once, before any scan
    shown = ack_text(await bot_app.command("/ticket", "show T-1", as_=LEA))
    assert shown.replace("T-1", f"T-{MISSING}") == ack_text(
        await bot_app.command("/ticket", f"show T-{MISSING}", as_=LEA)
    )
    moved = await tickets.release_lapsed_grants(bot_app.store, now=bot_app.clock())
    assert moved == ["T-1"]
    assert await tickets.release_lapsed_grants(bot_app.store, now=bot_app.clock()) == []
    tk = await get_ticket(bot_app.store, 1)
    assert tk.partner == "harbor"
    async with bot_app.store.read() as conn:
        [event] = [e for e in await tickets_db.events_of(conn, ticket_id=1) if e.actor is None]
    assert event.kind == "partner_removed" and event.data["previous"] == "nuage"
    await bot_app.drain()
    [notice] = texts(bot_app, bot_app.user(AMELIE))
    assert "T-1" in notice
