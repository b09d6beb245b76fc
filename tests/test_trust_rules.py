"""The rules that could be gamed or leaked, over HTTP through the real Bolt app: SLA
first responses, the question of ``/ticket wait``, refusals in the audit trail with a
readable reason, license keys in ticket texts, and answers that tell nothing about a
foreign record or person."""

from __future__ import annotations

import json
from typing import Any

from conftest import BotUnderTest
from test_accounts_scenarios import buttons
from ticket_fixtures import get_ticket, snapshot

from bot.blocks.accounts import AccountIds
from bot.store import audit as audit_db
from bot.store import directory as directory_db

ALICE = "alice.martin@acme.example"
CLAIRE = "claire.dubois@acme.example"
LEA = "lea.girard@nuage.example"
MARC = "marc.dupont@nuage.example"
JEAN = "jean.morel@hexagone.example"
EOIN = "eoin.byrne@vmware.example"
GRACE = "grace.holloway@riverbank.example"
TOM = "tom.walsh@harbor.example"
HELEN = "helen.carter@northwind.example"
NUAGE_Q = "C0NUAGEQ"
EVAL_KEY = "P67G1-SGUHZ-SDW8A-QS5P9-4MWZS"  # ACME dev/test, expires 2026-12-20
HEXAGONE_KEY = "QD2L8-HFV30-T6LIA-9DUT4-N2UJ0"  # nuage may not see Hexagone's keys


def ack(response: Any) -> dict[str, Any]:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    data: dict[str, Any] = response.json
    return data


def ack_text(response: Any) -> str:
    text: str = ack(response)["text"]
    return text


async def alice_opens(bot: BotUnderTest) -> None:
    reply = await bot.command(
        "/ticket", "new sev2 ea:411023871 product:vsphere vMotion fails", as_=ALICE
    )
    assert "T-1" in ack_text(reply)
    await bot.drain()


# --------------------------------------------------------------------------- SLA


async def test_only_a_reply_to_the_customer_is_a_first_response(bot_app: BotUnderTest) -> None:
    await alice_opens(bot_app)
    await bot_app.requests.command("/supportbot", "whoami", user_id=bot_app.user(MARC))
    for command, text, who in (
        ("/ticket", "take T-1", LEA),
        ("/ticket", "sev T-1 1 Production is down after all", LEA),
        ("/ticket", f"assign T-1 <@{bot_app.user(MARC)}>", LEA),
    ):
        ack_text(await bot_app.command(command, text, as_=who))
        bot_app.clock.advance(minutes=5)
        clock = (await get_ticket(bot_app.store, 1)).current_clock
        assert clock is not None and clock.responded_at is None, text
    ack_text(await bot_app.command("/ticket", "note T-1 Collecting the host logs now", as_=MARC))
    clock = (await get_ticket(bot_app.store, 1)).current_clock
    assert clock is not None and clock.responded_at == bot_app.clock()


async def test_a_question_is_a_first_response_and_resolving_is_one(bot_app: BotUnderTest) -> None:
    await alice_opens(bot_app)
    bot_app.clock.advance(minutes=7)
    ack_text(await bot_app.command("/ticket", "wait T-1 Which ESXi build runs there?", as_=LEA))
    clock = (await get_ticket(bot_app.store, 1)).current_clock
    assert clock is not None and clock.responded_at == bot_app.clock()
    await bot_app.command("/ticket", "new sev3 ea:411023871 product:vsphere Another one", as_=ALICE)
    bot_app.clock.advance(minutes=3)
    ack_text(await bot_app.command("/ticket", "resolve T-2 Duplicate of T-1", as_=LEA))
    clock = (await get_ticket(bot_app.store, 2)).current_clock
    assert clock is not None and clock.responded_at == bot_app.clock()


async def test_wait_asks_for_its_question_and_never_drops_it(bot_app: BotUnderTest) -> None:
    await alice_opens(bot_app)
    before = await snapshot(bot_app.store)
    refused = ack_text(await bot_app.command("/ticket", "wait T-1", as_=LEA))
    assert "T-1" in refused and "/ticket wait" in refused  # says what is missing, and how
    await bot_app.drain()
    assert await snapshot(bot_app.store) == before  # not waiting, clock not paused
    question = "Which ESXi build runs on the failing host, and since when?"
    ack_text(await bot_app.command("/ticket", f"wait T-1 {question}", as_=LEA))
    await bot_app.drain()
    [notice] = [c.args["text"] for c in bot_app.fake.posts(bot_app.user(ALICE))]
    assert question in notice
    shown = ack_text(await bot_app.command("/ticket", "show T-1", as_=ALICE))
    assert "T-1" in shown
    blocks = json.dumps(ack(await bot_app.command("/ticket", "show T-1", as_=ALICE)))
    assert question in blocks


# --------------------------------------------------------------------------- audit


async def test_refused_escalations_are_audited_with_a_readable_reason(
    bot_app: BotUnderTest,
) -> None:
    await alice_opens(bot_app)
    ack_text(await bot_app.command("/escalate", "T-1 sev2 Restarted the host", as_=LEA))  # R4
    await bot_app.command("/ticket", "new sev2 ea:411023871 product:horizon Pool broken", as_=ALICE)
    ack_text(await bot_app.command("/escalate", "T-2 sev2 Reproduced", as_=MARC))  # R5
    # a stranger probing a ticket: recorded, but not in that ticket's trail
    ack_text(await bot_app.command("/ticket", "show T-1", as_=JEAN))
    async with bot_app.store.read() as conn:
        first = await audit_db.entries(conn, ticket_id=1, limit=50)
        second = await audit_db.entries(conn, ticket_id=2, limit=50)
    assert [(e.action, e.detail["error"]) for e in first if e.action.endswith(".refused")] == [
        ("ticket.escalate.refused", "tickets.refuse_not_atc")
    ]
    assert [(e.action, e.detail["error"]) for e in second if e.action.endswith(".refused")] == [
        ("ticket.escalate.refused", "tickets.refuse_no_contract")
    ]
    assert all(e.actor != JEAN for e in first)

    trail = ack(await bot_app.command("/audit", "T-1", as_=MARC))
    page = json.dumps(trail, ensure_ascii=False)
    # Marc reads French: the action and the reason in words, the code alongside
    assert "a escaladé le ticket — a été refusé" in page
    assert "seul un ATC escalade (R4)" in page and "`tickets.refuse_not_atc`" in page
    for raw in ("ticket.show", "ticket.open", "ticket.escalate.refused", "ticket.list"):
        assert f" {raw} " not in page and f"· {raw}" not in page
    second_page = json.dumps(
        ack(await bot_app.command("/audit", "T-2", as_=MARC)), ensure_ascii=False
    )
    assert "a été refusé" in second_page and "aucun contrat de support actif" in second_page
    # in English for an English reader
    ack_text(await bot_app.command("/supportbot", "lang en", as_=MARC))
    english = json.dumps(ack(await bot_app.command("/audit", "T-2", as_=MARC)), ensure_ascii=False)
    assert "escalated the ticket — was refused" in english
    assert "no active support contract covers the product (R5)" in english


# --------------------------------------------------------------------------- keys


async def test_a_quote_request_never_copies_a_whole_key(bot_app: BotUnderTest) -> None:
    listed = ack(await bot_app.command("/entitlements", "renewals", as_=CLAIRE))
    [key_quote] = [
        b
        for b in buttons(listed["blocks"], AccountIds.RENEWAL_QUOTE)
        if '"kind":"key"' in b["value"]
    ]
    assert EVAL_KEY not in key_quote["value"]
    click = await bot_app.requests.block_action(
        bot_app.user(CLAIRE), AccountIds.RENEWAL_QUOTE, key_quote["value"]
    )
    await bot_app.fake.wait_for(lambda c: c.method == f"response_url:{click.response_name}")
    await bot_app.drain()
    ticket = await get_ticket(bot_app.store, 1)
    assert EVAL_KEY not in ticket.subject and EVAL_KEY[-5:] in ticket.subject
    for call in bot_app.fake.calls:
        assert EVAL_KEY not in json.dumps(call.args), call.method
    async with bot_app.store.read() as conn:
        entries = await audit_db.entries(conn, ea="411023872", limit=50)
    assert all(EVAL_KEY not in json.dumps(e.detail) for e in entries)


async def test_a_key_typed_in_a_ticket_is_masked_for_a_partner_without_view_license_keys(
    bot_app: BotUnderTest,
) -> None:
    opened = await bot_app.command(
        "/ticket", f"new sev3 ea:507781204 Key {HEXAGONE_KEY} will not activate", as_=JEAN
    )
    assert "T-1" in ack_text(opened)
    await bot_app.drain()
    [post] = bot_app.fake.posts(NUAGE_Q)
    assert HEXAGONE_KEY not in json.dumps(post.args) and HEXAGONE_KEY[-5:] in post.args["text"]
    shown = json.dumps(ack(await bot_app.command("/ticket", "show T-1", as_=LEA)))
    listed = json.dumps(ack(await bot_app.command("/ticket", "list", as_=LEA)))
    assert HEXAGONE_KEY not in shown and HEXAGONE_KEY not in listed
    # the SLA reminders in the partner's queue too
    assert await bot_app.worker.scan_reminders(bot_app.clock.advance(days=4)) >= 1
    await bot_app.drain()
    reminders = bot_app.fake.posts(NUAGE_Q)[1:]
    assert reminders and all(HEXAGONE_KEY not in json.dumps(c.args) for c in reminders)
    # the customer typed it and sees it whole; nothing typed is lost
    assert HEXAGONE_KEY in json.dumps(ack(await bot_app.command("/ticket", "show T-1", as_=JEAN)))
    assert HEXAGONE_KEY in (await get_ticket(bot_app.store, 1)).subject


# --------------------------------------------------------------------------- foreign records


async def test_assigning_to_someone_of_another_tenant_reveals_nothing_about_them(
    bot_app: BotUnderTest,
) -> None:
    await alice_opens(bot_app)
    # both strangers are known to the bot; one id is nobody's
    for email in (TOM, HELEN):
        await bot_app.requests.command("/supportbot", "whoami", user_id=bot_app.user(email))
    async with bot_app.store.read() as conn:
        for email in (TOM, HELEN):
            assert (await directory_db.get_contact(conn, email=email)) is not None
    before = await snapshot(bot_app.store)
    answers = {}
    for user in (bot_app.user(TOM), bot_app.user(HELEN), "U0NOBODY42"):
        text = ack_text(await bot_app.command("/ticket", f"assign T-1 <@{user}>", as_=LEA))
        answers[user] = text.replace(user, "<someone>")
    assert len(set(answers.values())) == 1
    for revealing in ("Tom", "Walsh", "Helen", "Carter", "harbor", "northwind"):
        assert revealing.lower() not in next(iter(answers.values())).lower()
    assert await snapshot(bot_app.store) == before


async def test_someone_elses_superuser_confirmation_reads_like_a_missing_one(
    bot_app: BotUnderTest,
) -> None:
    requested = ack_text(
        await bot_app.command(
            "/access", "superuser 411023871 marc.dupont@nuage.example", as_=CLAIRE
        )
    )
    assert "411023871" in requested
    await bot_app.drain()
    [dm] = [c for c in bot_app.fake.posts(bot_app.user(ALICE)) if c.args.get("blocks")]
    (confirm,) = buttons(dm.args["blocks"], AccountIds.SUPERUSER_CONFIRM)
    said = {}
    for value in (confirm["value"], "987654"):
        click = await bot_app.requests.block_action(
            bot_app.user(JEAN), AccountIds.SUPERUSER_CONFIRM, value
        )
        call = await bot_app.fake.wait_for(
            lambda c, name=click.response_name: c.method == f"response_url:{name}"
        )
        said[value] = call.args["text"]
    assert said[confirm["value"]] == said["987654"]
    assert "411023871" not in said["987654"]
