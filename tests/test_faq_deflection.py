"""`/ticket new <subject>` whose subject an FAQ entry answers: the ticket opens, the answer
is offered beside it, and one click closes the ticket as self-served."""

from __future__ import annotations

import re
from typing import Any

from conftest import BotUnderTest

from bot.blocks.faq import FaqIds, parse_self_served_value, self_served_value
from bot.domain import Status
from bot.store import audit as audit_db
from bot.store import tickets as tickets_db

GRACE = "grace.holloway@riverbank.example"  # Riverbank customer, English, one EA
ALICE = "alice.martin@acme.example"  # ACME customer, French
BEN = "ben.foster@riverbank.example"  # another Riverbank contact


def ticket_id(body: dict[str, Any]) -> int:
    match = re.search(r"T-(\d+)", body["text"])
    assert match, body["text"]
    return int(match[1])


def self_served_button(body: dict[str, Any]) -> dict[str, Any]:
    return next(
        e
        for b in body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
        if e["action_id"] == FaqIds.SELF_SERVED
    )


async def test_a_subject_the_faq_answers_is_opened_with_the_answer_beside_it(
    bot_app: BotUnderTest,
) -> None:
    response = await bot_app.command(
        "/ticket", "new how do I redeem the OEM partner activation code", as_=GRACE
    )
    body = response.json
    number = ticket_id(body)
    async with bot_app.store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=number)
    assert ticket is not None and ticket.status is Status.NEW  # opened all the same
    assert "may already answer it" in body["text"]
    answer = next(b for b in body["blocks"] if b.get("block_id") == FaqIds.DEFLECTION_BLOCK)
    assert "activation code" in answer["text"]["text"]
    button = self_served_button(body)
    assert button["value"] == self_served_value(number, "oem-pac-redemption", "en")
    assert f"T-{number}" in button["text"]["text"]

    await bot_app.requests.block_action(bot_app.user(GRACE), FaqIds.SELF_SERVED, button["value"])
    call = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert f"T-{number}" in call.args["text"]
    async with bot_app.store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=number)
        events = await tickets_db.events_of(conn, ticket_id=number)
        entries = await audit_db.entries(conn, limit=10)
    assert ticket is not None and ticket.status is Status.RESOLVED
    resolved = [e for e in events if e.kind == "resolved"]
    assert resolved and "FAQ" in str(resolved[-1].data["resolution"])
    assert any(
        e.action == "faq.helped" and e.detail == {"slug": "oem-pac-redemption"} for e in entries
    )


async def test_the_answer_follows_the_subjects_language(bot_app: BotUnderTest) -> None:
    body = (
        await bot_app.command(
            "/ticket", "new comment renouveler nos licences a usage interne", as_=GRACE
        )
    ).json
    assert "répond peut-être" in body["text"]
    assert self_served_button(body)["value"].endswith(":fr")


async def test_a_subject_the_faq_does_not_answer_opens_a_plain_ticket(
    bot_app: BotUnderTest,
) -> None:
    body = (await bot_app.command("/ticket", "new sev2 vSAN datastore offline", as_=GRACE)).json
    ticket_id(body)
    assert all(b.get("block_id") != FaqIds.DEFLECTION_BLOCK for b in body["blocks"])
    assert all(
        e.get("action_id") != FaqIds.SELF_SERVED
        for b in body["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    )


async def test_closing_twice_or_someone_elses_ticket_is_refused(bot_app: BotUnderTest) -> None:
    body = (
        await bot_app.command("/ticket", "new where are my OEM license PAC codes", as_=GRACE)
    ).json
    value = self_served_button(body)["value"]
    await bot_app.requests.block_action(bot_app.user(GRACE), FaqIds.SELF_SERVED, value)
    await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    bot_app.fake.clear()
    await bot_app.requests.block_action(bot_app.user(GRACE), FaqIds.SELF_SERVED, value)
    again = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert "already" in again.args["text"]
    bot_app.fake.clear()
    await bot_app.requests.block_action(bot_app.user(ALICE), FaqIds.SELF_SERVED, value)
    stranger = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert f"T-{ticket_id(body)}" in stranger.args["text"]  # "not found", as if absent


def test_button_values_round_trip() -> None:
    assert parse_self_served_value(self_served_value(12, "nfr-support", "fr")) == (
        12,
        "nfr-support",
        "fr",
    )
    assert parse_self_served_value("x:nfr-support:fr") is None
    assert parse_self_served_value("12") is None
    assert parse_self_served_value("0:nfr-support:fr") is None
