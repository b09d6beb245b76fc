"""Slack's Web API failing for a while: 500s, 429 with Retry-After, answers that never
come back. Commands keep answering (an ack never waits on the Web API for a contact
whose Slack id is known), nothing owed is lost, and once Slack recovers every outbox
entry reaches Slack exactly once — except a post whose answer was lost in a timeout,
which Slack may already have shown: that one is sent again (at least once, see
SECURITY.md)."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import Counter
from typing import Any

import aiohttp
from conftest import BotUnderTest, user_id_for
from slack_sdk.web.async_client import AsyncWebClient
from test_hardening import command_body, row_counts, signed

from bot.outbox import OutboxWorker
from bot.store import Store
from bot.store import outbox as outbox_db

ALICE = "alice.martin@acme.example"  # ACME superuser
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
GRACE = "grace.holloway@riverbank.example"  # Riverbank (no partner)
BRUNO = "bruno.leroy@acme.example"  # never used the bot before the outage
ACME_DEV = "411023872"  # Bruno's EA
PEOPLE = (ALICE, LEA, MARC, EOIN, GRACE)
API_METHODS = (
    "auth.test",
    "users.info",
    "users.lookupByEmail",
    "conversations.open",
    "chat.postMessage",
    "chat.update",
    "views.open",
    "views.publish",
)
SLACK_ACK_DEADLINE = 3.0  # seconds Slack waits for an answer to a command


async def entries(store: Store, status: str | None = None) -> list[dict[str, Any]]:
    async with store.read() as conn:
        return await outbox_db.entries(conn, status=status)


def owed(entry: dict[str, Any]) -> tuple[str, str, str]:
    """What Slack should receive for an outbox entry: (method, channel, text); a
    chat.update's channel comes from its ticket, so it is left out."""
    payload = entry["payload"]
    if entry["method"] == "chat.update":
        return ("chat.update", "", payload["text"])
    channel = payload.get("channel") or user_id_for(payload["user_email"])
    return (entry["method"], channel, payload["text"])


def received(bot: BotUnderTest) -> Counter[tuple[str, str, str]]:
    got: Counter[tuple[str, str, str]] = Counter()
    for call in bot.fake.calls:
        if call.method == "chat.postMessage":
            got[(call.method, call.args["channel"], call.args["text"])] += 1
        elif call.method == "chat.update":
            got[(call.method, "", call.args["text"])] += 1
    return got


async def assert_each_entry_delivered_once(bot: BotUnderTest) -> int:
    everything = await entries(bot.store)
    assert everything, "the scenario owes messages"
    assert {e["status"] for e in everything} == {"sent"}, [
        (e["id"], e["status"], e["last_error"]) for e in everything if e["status"] != "sent"
    ]
    assert received(bot) == Counter(owed(e) for e in everything)
    return len(everything)


async def ack(bot: BotUnderTest, command: str, text: str, *, as_: str) -> str:
    """The command's answer, within the time Slack waits for it."""
    body = command_body(bot, command, text, as_=as_)
    timeout = aiohttp.ClientTimeout(total=SLACK_ACK_DEADLINE)
    async with bot.requests.session.post(
        bot.url, data=body, headers=signed(bot, body), timeout=timeout
    ) as response:
        assert response.status == 200
        data = await response.json()
    assert data["response_type"] == "ephemeral" and data["text"]
    return str(data["text"])


async def warm_up(bot: BotUnderTest) -> None:
    """A bot that has been running: Slack ids of these contacts known, auth.test done."""
    for email in PEOPLE:
        await ack(bot, "/supportbot", "whoami", as_=email)


async def work_through_the_outage(bot: BotUnderTest) -> None:
    """A morning of support while Slack is down; every answer names what it is about."""
    assert "T-1" in await ack(
        bot, "/ticket", "new sev2 ea:411023871 product:vsphere vMotion fails", as_=ALICE
    )
    assert "T-1" in await ack(bot, "/ticket", "take T-1", as_=LEA)
    assert "T-1" in await ack(bot, "/ticket", "note T-1 Reproduced on a second host", as_=LEA)
    assert "T-1" in await ack(bot, "/escalate", "T-1 sev2 Reproduced, logs attached", as_=MARC)
    assert "T-2" in await ack(bot, "/ticket", "new sev1 product:vsphere Hosts down", as_=GRACE)
    assert "T-1" in await ack(bot, "/reassign", "T-1 Storage misconfiguration on site", as_=EOIN)
    assert "411023871" in await ack(
        bot, "/access", "grant 411023871 harbor view_license_keys", as_=ALICE
    )


async def test_commands_answer_during_an_outage_and_everything_arrives_once_after(
    bot_app: BotUnderTest,
) -> None:
    await warm_up(bot_app)
    profile_lookups = len(bot_app.fake.calls_to("users.info"))
    for method in ("chat.postMessage", "chat.update", "users.lookupByEmail", "users.info"):
        bot_app.fake.fail_next(method, status=500, times=12)
    bot_app.fake.fail_next("chat.postMessage", status=429, retry_after=120, times=4)

    await work_through_the_outage(bot_app)
    # Slack is still down: the worker tries, fails, and keeps everything
    for _ in range(3):
        assert await bot_app.worker.run_once() == 0
        bot_app.clock.advance(seconds=5)
    pending = await entries(bot_app.store, "pending")
    assert pending and await entries(bot_app.store, "sent") == []
    assert any(e["attempts"] >= 1 for e in pending)
    assert all(e["last_error"] for e in pending if e["attempts"])
    # no answer needed users.info: those Slack ids were known
    assert len(bot_app.fake.calls_to("users.info")) == profile_lookups
    assert not [c for c in bot_app.fake.faulted if c.method == "users.info"]

    await bot_app.drain(rounds=200)
    failures = Counter(c.method for c in bot_app.fake.faulted)
    assert failures["chat.postMessage"] == 12 + 4 and failures["chat.update"] == 12
    assert await assert_each_entry_delivered_once(bot_app) >= 10


async def test_a_429_waits_for_its_retry_after(bot_app: BotUnderTest) -> None:
    await warm_up(bot_app)
    bot_app.fake.fail_next("chat.postMessage", status=429, retry_after=90)
    await ack(bot_app, "/ticket", "new sev3 ea:411023871 Licence count looks wrong", as_=ALICE)
    start = bot_app.clock()
    assert await bot_app.worker.run_once() == 0
    (entry,) = await entries(bot_app.store)
    assert entry["next_attempt_at"] == start + dt.timedelta(seconds=90)
    assert "429" in entry["last_error"]
    bot_app.clock.advance(seconds=89)
    assert await bot_app.worker.run_once() == 0
    assert bot_app.fake.posts() == []
    bot_app.clock.advance(seconds=1)
    assert await bot_app.worker.run_once() == 1
    assert await assert_each_entry_delivered_once(bot_app) == 1


async def test_acks_never_wait_on_a_slow_web_api(bot_app: BotUnderTest) -> None:
    await warm_up(bot_app)
    calls_before = len(bot_app.fake.calls)
    for method in API_METHODS:
        bot_app.fake.delay(method, 10.0)
    try:
        await work_through_the_outage(bot_app)
        assert "411023871" in await ack(bot_app, "/ea", "411023871", as_=ALICE)
        assert await ack(bot_app, "/faq", "how do I find my EA number", as_=LEA)
    finally:
        for method in API_METHODS:
            bot_app.fake.delay(method, 0)
    assert bot_app.fake.calls[calls_before:] == []  # no answer touched the Web API
    await bot_app.drain()
    await assert_each_entry_delivered_once(bot_app)


async def test_first_contact_during_an_outage_still_gets_an_answer(
    bot_app: BotUnderTest,
) -> None:
    """A person the bot has never seen needs users.info to be recognised: with Slack
    failing or hanging, they are told in time, nothing is changed, and they are
    recognised once Slack answers again."""
    await warm_up(bot_app)
    before = await row_counts(bot_app.store)
    bot_app.fake.fail_next("users.info", status=500)
    refused = await ack(bot_app, "/ticket", f"new sev2 ea:{ACME_DEV} Upgrade failed", as_=BRUNO)
    assert "Slack" in refused
    bot_app.fake.delay("users.info", 5.0)
    try:
        assert "Slack" in await ack(bot_app, "/ticket", "list", as_=BRUNO)
    finally:
        bot_app.fake.delay("users.info", 0)
    assert await row_counts(bot_app.store) == before
    recognised = await ack(bot_app, "/supportbot", "whoami", as_=BRUNO)
    assert "Bruno" in recognised


async def test_a_post_whose_answer_is_lost_is_sent_again(bot_app: BotUnderTest) -> None:
    """Slack took the post but its answer never came back (timeout): the outbox cannot
    know, so it sends again. The one duplicate per lost answer is the at-least-once
    window; nothing is lost."""
    await warm_up(bot_app)
    impatient = AsyncWebClient(token="xoxb-test", base_url=bot_app.fake.api_url, timeout=1)
    worker = OutboxWorker(bot_app.store, impatient, worker_id="impatient", clock=bot_app.clock)
    await ack(bot_app, "/ticket", "new sev2 ea:411023871 Datastore offline", as_=ALICE)
    bot_app.fake.delay("chat.postMessage", 2.0)
    try:
        assert await worker.run_once() == 0
    finally:
        bot_app.fake.delay("chat.postMessage", 0)
    (entry,) = await entries(bot_app.store)
    assert entry["status"] == "pending" and entry["attempts"] == 1
    assert "Timeout" in entry["last_error"]
    await asyncio.sleep(1.5)  # the answer Slack was late with is gone
    bot_app.clock.advance(minutes=1)
    assert await worker.run_once() == 1
    (entry,) = await entries(bot_app.store)
    assert entry["status"] == "sent"
    assert received(bot_app)[owed(entry)] == 2
