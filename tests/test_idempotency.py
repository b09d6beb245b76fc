"""One user action, one effect: double submissions, Slack's retries and repeated
deliveries never open a second ticket, grant twice or send a notification twice.

Three layers are at work, and each is checked here:
- the replay guard (handlers/guard.py) acknowledges a repeated delivery (same trigger id
  or event id) without running it again, per process;
- ticket creation is keyed in the store (request key = trigger id or view id), which
  holds across bot instances and under concurrency, on SQLite and PostgreSQL;
- every other change checks the state it starts from (a ticket already taken or
  resolved, a request already decided, a partner already removed) inside its
  transaction, so a second click is refused with a message and changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import SIGNING_SECRET, BotUnderTest
from slack_sdk.web.async_client import AsyncWebClient
from slackreq import Response, SlackRequests
from test_hardening import action_body, command_body, js, new_trigger, post, row_counts, signed

from bot import tickets
from bot.blocks.accounts import AccountIds
from bot.blocks.tickets import TicketIds
from bot.store import Store
from bot.store import outbox as outbox_db
from bot.store import tickets as tickets_db
from bot.visibility import load_actor
from handlers.app import build_app, web_app
from handlers.services import Services

ALICE = "alice.martin@acme.example"  # ACME superuser (customer of nuage)
CLAIRE = "claire.dubois@acme.example"  # ACME procurement, agreement contact of V4471203
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
SOPHIE = "sophie.bernard@nuage.example"  # nuage admin
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
NUAGE_Q, HARBOR_Q, VMW_Q = "C0NUAGEQ", "C0HARBORQ", "C0VMWGSS"
ACME_PROD = "411023871"
NEW_TICKET = f"new sev2 ea:{ACME_PROD} product:vsphere vMotion fails between two hosts"


def new_ticket_state(subject: str) -> dict[str, dict[str, Any]]:
    return {
        "ticket.ea": {
            "ticket.ea": {"type": "static_select", "selected_option": {"value": ACME_PROD}}
        },
        "ticket.severity": {
            "ticket.severity": {"type": "static_select", "selected_option": {"value": "2"}}
        },
        "ticket.queue": {
            "ticket.queue": {"type": "radio_buttons", "selected_option": {"value": "technical"}}
        },
        "ticket.product": {"ticket.product": "vsan"},
        "ticket.subject": {"ticket.subject": subject},
        "ticket.description": {"ticket.description": "Since this morning"},
    }


async def outbox(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        return await outbox_db.entries(conn)


async def events_of(store: Store, ticket_id: int) -> list[str]:
    async with store.read() as conn:
        return [e.kind for e in await tickets_db.events_of(conn, ticket_id=ticket_id)]


async def ticket_total(store: Store) -> int:
    return (await row_counts(store))["tickets"]


def one_ref(text: str) -> str:
    """The one ticket an answer names."""
    (ref,) = set(re.findall(r"\bT-\d+\b", text))
    return ref


async def the_ref(bot: BotUnderTest) -> str:
    """The number of the only ticket stored. Concurrent requests with one key may use up
    a number on PostgreSQL (a losing insert still draws from the sequence)."""
    async with bot.store.read() as conn:
        (ticket,) = await tickets_db.list_tickets(conn)
    return ticket.ref


def buttons(blocks: list[dict[str, Any]], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found += [e for e in block.get("elements", []) if e.get("action_id") == action_id]
        accessory = block.get("accessory")
        if accessory and accessory.get("action_id") == action_id:
            found.append(accessory)
    return found


async def answer_to(bot: BotUnderTest, name: str) -> str:
    call = await bot.fake.wait_for(lambda c: c.method == f"response_url:{name}")
    return str(call.args.get("text", ""))


async def click_twice(
    bot: BotUnderTest, action_id: str, value: str, *, as_: str, channel_id: str = "C0TEST"
) -> tuple[str, str]:
    """The same button clicked twice (two interactions, two trigger ids); the answers."""
    answers = []
    for n in (1, 2):
        name = f"click-{action_id}-{n}"
        body = action_body(
            bot, action_id, value, as_=as_, response_name=name, channel_id=channel_id
        )
        assert (await post(bot, body, signed(bot, body))).status == 200
        answers.append(await answer_to(bot, name))
    return answers[0], answers[1]


async def open_one(bot: BotUnderTest) -> None:
    reply = await bot.command("/ticket", NEW_TICKET, as_=ALICE)
    assert "T-1" in js(reply)["text"]
    await bot.drain()


# --- modals -------------------------------------------------------------------------------


@pytest.mark.parametrize("together", [False, True], ids=["one-after-the-other", "at-once"])
async def test_a_double_submitted_form_opens_one_ticket(
    bot_app: BotUnderTest, together: bool
) -> None:
    user = bot_app.user(ALICE)
    state = new_ticket_state("Disk group degraded after a reboot")

    def submit() -> Awaitable[Response]:
        return bot_app.requests.view_submission(user, "ticket.new", state, view_id="VDOUBLE01")

    answers: list[Response]
    if together:
        answers = list(await asyncio.gather(submit(), submit(), submit()))
    else:
        answers = [await submit(), await submit()]
    for answer in answers:
        assert js(answer)["response_action"] == "update"
    assert await ticket_total(bot_app.store) == 1
    assert {one_ref(json.dumps(js(a)["view"])) for a in answers} == {await the_ref(bot_app)}
    await bot_app.drain()
    assert len(bot_app.fake.posts(NUAGE_Q)) == 1
    assert len(await outbox(bot_app.store)) == 1


async def test_the_faq_suggestion_confirmed_twice_opens_one_ticket(bot_app: BotUnderTest) -> None:
    subject = "Can an end customer of an MSP contact the vendor directly?"
    user = bot_app.user(ALICE)
    suggested = await bot_app.requests.view_submission(
        user, "ticket.new", new_ticket_state(subject), view_id="VFAQ0001"
    )
    metadata = js(suggested)["view"]["private_metadata"]
    answers = await asyncio.gather(
        *(
            bot_app.requests.view_submission(
                user, "ticket.new_confirm", {}, private_metadata=metadata, view_id="VFAQ0001"
            )
            for _ in range(2)
        )
    )
    assert await ticket_total(bot_app.store) == 1
    assert {one_ref(json.dumps(js(a)["view"])) for a in answers} == {await the_ref(bot_app)}


async def test_an_escalation_form_submitted_twice_escalates_once(bot_app: BotUnderTest) -> None:
    await open_one(bot_app)
    state: dict[str, dict[str, Any]] = {
        "ticket.checklist": {
            "ticket.checklist": {"type": "checkboxes", "selected_options": [{"value": "logs"}]}
        },
        "ticket.impact": {"ticket.impact": "Payroll blocked"},
        "ticket.severity": {
            "ticket.severity": {"type": "static_select", "selected_option": {"value": "2"}}
        },
        "ticket.reason": {"ticket.reason": "Reproduced on a second cluster"},
    }
    marc = bot_app.user(MARC)
    first, second = [
        await bot_app.requests.view_submission(
            marc, TicketIds.ESCALATE_MODAL, state, private_metadata="1", view_id="VESC0001"
        )
        for _ in range(2)
    ]
    assert "T-1" in json.dumps(js(first)["view"]) and "T-1" in json.dumps(js(second)["view"])
    assert (await events_of(bot_app.store, 1)).count("escalated") == 1
    await bot_app.drain()
    assert len(bot_app.fake.posts(VMW_Q)) == 1


async def test_a_resolve_form_submitted_twice_resolves_once(bot_app: BotUnderTest) -> None:
    await open_one(bot_app)
    state = {"ticket.reason": {"ticket.reason": "Driver updated, vMotion works again"}}
    lea = bot_app.user(LEA)
    answers = await asyncio.gather(
        *(
            bot_app.requests.view_submission(
                lea, TicketIds.RESOLVE_MODAL, state, private_metadata="1", view_id="VRES0001"
            )
            for _ in range(2)
        )
    )
    assert all(js(a)["response_action"] == "update" for a in answers)
    assert (await events_of(bot_app.store, 1)).count("resolved") == 1
    await bot_app.drain()
    resolved_dms = [c for c in bot_app.fake.posts(bot_app.user(ALICE)) if "T-1" in c.args["text"]]
    assert len(resolved_dms) == 1


# --- buttons ------------------------------------------------------------------------------


async def test_take_clicked_twice_takes_once(bot_app: BotUnderTest) -> None:
    await open_one(bot_app)
    first, second = await click_twice(bot_app, TicketIds.TAKE, "1", as_=LEA, channel_id=NUAGE_Q)
    assert "T-1" in first and "T-1" in second and first != second
    assert (await events_of(bot_app.store, 1)).count("taken") == 1
    await bot_app.drain()
    entries = await outbox(bot_app.store)
    assert [e["kind"] for e in entries].count("queue_update") == 1
    assert len(bot_app.fake.calls_to("chat.update")) == 1


async def test_one_click_delivered_twice_runs_once(bot_app: BotUnderTest) -> None:
    """The same interaction (same trigger id) arriving twice, freshly signed each time."""
    await open_one(bot_app)
    trigger = new_trigger()
    for n in (1, 2):
        body = action_body(
            bot_app, TicketIds.TAKE, "1", as_=LEA, trigger_id=trigger, response_name=f"take-{n}"
        )
        assert (await post(bot_app, body, signed(bot_app, body))).status == 200
    await answer_to(bot_app, "take-1")
    await asyncio.sleep(0.1)
    assert bot_app.fake.responses("take-2") == []
    assert (await events_of(bot_app.store, 1)).count("taken") == 1


async def test_superuser_confirm_clicked_twice_moves_the_role_once(bot_app: BotUnderTest) -> None:
    asked = await bot_app.command("/access", f"superuser {ACME_PROD} {MARC}", as_=MARC)
    assert ACME_PROD in js(asked)["text"]
    await bot_app.drain()
    (dm,) = bot_app.fake.posts(bot_app.user(ALICE))
    (confirm,) = buttons(dm.args["blocks"], AccountIds.SUPERUSER_CONFIRM)
    before = await row_counts(bot_app.store)
    first, second = await click_twice(
        bot_app, AccountIds.SUPERUSER_CONFIRM, confirm["value"], as_=ALICE
    )
    assert "Marc Dupont" in first and first != second
    after = await row_counts(bot_app.store)
    changed = {name for name in after if after[name] != before[name]}
    assert changed <= {"audit_entries", "outbox"}
    await bot_app.drain()
    told = len(await outbox(bot_app.store)) - before["outbox"]
    # the new superuser and the one who asked (Marc both), the previous one (Alice)
    assert told == 2
    assert len(bot_app.fake.posts()) == before["outbox"] + told


async def test_remove_partner_clicked_twice_removes_it_once(bot_app: BotUnderTest) -> None:
    done = await bot_app.command("/access", f"register AUTH-11930427 V4471203 {CLAIRE}", as_=SOPHIE)
    assert "V4471203" in js(done)["text"]
    await bot_app.drain()
    (dm,) = bot_app.fake.posts(bot_app.user(CLAIRE))
    (remove,) = buttons(dm.args["blocks"], AccountIds.AGREEMENT_REMOVE_PARTNER)
    first, second = await click_twice(
        bot_app, AccountIds.AGREEMENT_REMOVE_PARTNER, remove["value"], as_=CLAIRE
    )
    assert "V4471203" in first and first != second
    await bot_app.drain()
    assert len(bot_app.fake.posts(NUAGE_Q)) == 1


async def test_revoke_from_the_notice_clicked_twice_revokes_once(bot_app: BotUnderTest) -> None:
    await bot_app.command("/access", f"grant {ACME_PROD} harbor view_license_keys", as_=ALICE)
    await bot_app.drain()
    (dm,) = bot_app.fake.posts(bot_app.user(ALICE))
    (revoke,) = buttons(dm.args["blocks"], AccountIds.REVOKE_PARTNER)
    first, second = await click_twice(
        bot_app, AccountIds.REVOKE_PARTNER, revoke["value"], as_=ALICE
    )
    assert "Harbor" in first and first != second
    await bot_app.drain()
    assert len(bot_app.fake.posts(HARBOR_Q)) == 2  # granted, revoked
    assert len(bot_app.fake.posts(bot_app.user(ALICE))) == 2


async def test_a_quote_button_delivered_twice_opens_one_ticket(bot_app: BotUnderTest) -> None:
    listed = await bot_app.command("/entitlements", "renewals", as_=CLAIRE)
    (quote, *_) = buttons(js(listed)["blocks"], AccountIds.RENEWAL_QUOTE)
    first, second = await click_twice(bot_app, AccountIds.RENEWAL_QUOTE, quote["value"], as_=CLAIRE)
    assert "T-1" in first and "T-1" in second
    assert await ticket_total(bot_app.store) == 1


# --- slash commands and events --------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "text", "as_"),
    [
        ("/ticket", NEW_TICKET, ALICE),
        ("/access", f"grant {ACME_PROD} harbor view_license_keys", ALICE),
        ("/access", f"superuser {ACME_PROD} {MARC}", MARC),
        ("/ticket", "note T-1 Rebooted the host, same error", ALICE),
    ],
    ids=["ticket-new", "access-grant", "superuser-request", "ticket-note"],
)
async def test_one_command_delivered_twice_runs_once(
    bot_app: BotUnderTest, command: str, text: str, as_: str
) -> None:
    if "T-1" in text:
        await open_one(bot_app)
    before = await row_counts(bot_app.store)
    trigger = new_trigger()
    first_body = command_body(bot_app, command, text, as_=as_, trigger_id=trigger)
    first = await post(bot_app, first_body, signed(bot_app, first_body))
    assert first.status == 200 and js(first)["response_type"] == "ephemeral"
    done = await row_counts(bot_app.store)
    assert done != before
    again_body = command_body(bot_app, command, text, as_=as_, trigger_id=trigger)
    again = await post(bot_app, again_body, signed(bot_app, again_body))
    assert again.status == 200 and again.text == ""
    assert await row_counts(bot_app.store) == done


def event_body(event: dict[str, Any], event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": "T0TEAM",
            "api_app_id": "A0SUPPORT",
            "event": {"event_ts": "1700000000.000100", **event},
            "type": "event_callback",
            "event_id": event_id,
            "event_time": 1700000000,
        }
    ).encode()


async def test_an_event_retried_by_slack_is_handled_once(bot_app: BotUnderTest) -> None:
    await bot_app.command("/ticket", "list", as_=EOIN)  # Eoin's Slack id is known
    before = await row_counts(bot_app.store)
    event = {"type": "app_home_opened", "user": bot_app.user(EOIN), "tab": "home"}
    body = event_body(event, "EvHOME0001")
    now = int(time.time())
    first_headers = {"Content-Type": "application/json", **bot_app.requests.sign(body, now - 5)}
    assert (await post(bot_app, body, first_headers)).status == 200
    await bot_app.fake.wait_for(lambda c: c.method == "views.publish")
    # Slack's retries: signed afresh, or (within the same second) the very same bytes
    for retry, headers in enumerate(
        [
            {"Content-Type": "application/json", **bot_app.requests.sign(body, now - 3)},
            {"Content-Type": "application/json", **bot_app.requests.sign(body, now)},
            first_headers,
        ],
        start=1,
    ):
        headers = {
            **headers,
            "X-Slack-Retry-Num": str(retry),
            "X-Slack-Retry-Reason": "http_timeout",
        }
        again = await post(bot_app, body, headers)
        assert (again.status, again.text) == (200, "")
    # the same bytes again without the retry header are a replay
    assert (await post(bot_app, body, first_headers)).status == 401
    await asyncio.sleep(0.2)
    assert len(bot_app.fake.calls_to("views.publish")) == 1
    assert await row_counts(bot_app.store) == before


async def test_a_retry_of_an_event_this_instance_never_saw_is_processed(
    bot_app: BotUnderTest,
) -> None:
    """The first delivery went to another instance, or to this one before a restart."""
    event = {"type": "app_home_opened", "user": bot_app.user(EOIN), "tab": "home"}
    response = await bot_app.requests.event(event, event_id="EvHOME0002", retry_num=1)
    assert response.status == 200
    await bot_app.fake.wait_for(lambda c: c.method == "views.publish")


# --- several bot instances on one store ------------------------------------------------------


@asynccontextmanager
async def another_instance(bot: BotUnderTest) -> AsyncIterator[SlackRequests]:
    """A second bot process on the same store and the same Slack: its own Bolt app, its
    own replay memory."""
    services = Services(store=bot.store, settings=bot.services.settings, clock=bot.clock)
    client = AsyncWebClient(token="xoxb-test", base_url=bot.fake.api_url)
    runner = web.AppRunner(web_app(build_app(services, client=client)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        async with aiohttp.ClientSession() as session:
            yield SlackRequests(f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, session)
    finally:
        await runner.cleanup()


async def to_both(
    bot: BotUnderTest, other: SlackRequests, body: bytes, *, together: bool
) -> list[Response]:
    headers = signed(bot, body)
    if together:
        return list(await asyncio.gather(post(bot, body, headers), other.raw(body, headers)))
    return [await post(bot, body, headers), await other.raw(body, headers)]


@pytest.mark.parametrize("together", [False, True], ids=["one-after-the-other", "at-once"])
async def test_one_ticket_request_reaching_two_instances_opens_one_ticket(
    bot_app: BotUnderTest, together: bool
) -> None:
    """The replay memory is per instance (SECURITY.md); ticket creation is keyed in the
    store, so the same request on two instances still opens one ticket."""
    await bot_app.command("/supportbot", "whoami", as_=ALICE)
    async with another_instance(bot_app) as other:
        body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
        answers = await to_both(bot_app, other, body, together=together)
    assert all(answer.status == 200 for answer in answers)
    assert await ticket_total(bot_app.store) == 1
    assert {one_ref(js(a)["text"]) for a in answers} == {await the_ref(bot_app)}
    await bot_app.drain()
    assert len(bot_app.fake.posts(NUAGE_Q)) == 1


async def test_one_grant_reaching_two_instances_notifies_once(bot_app: BotUnderTest) -> None:
    async with another_instance(bot_app) as other:
        body = command_body(
            bot_app, "/access", f"grant {ACME_PROD} harbor view_license_keys", as_=ALICE
        )
        answers = await to_both(bot_app, other, body, together=False)
    assert all("Harbor" in js(a)["text"] for a in answers)
    await bot_app.drain()
    assert len(bot_app.fake.posts(HARBOR_Q)) == 1
    assert len(bot_app.fake.posts(bot_app.user(ALICE))) == 1


async def test_open_ticket_with_one_request_key_under_concurrency(demo_store: Store, now) -> None:
    """The use case itself, ten callers at once with one key: one ticket, one set of
    messages, and every caller told the same ticket number."""
    async with demo_store.read() as conn:
        actor = await load_actor(conn, email=ALICE, default_locale="en")
    assert actor is not None

    async def open_it() -> tickets.TicketOutcome:
        return await tickets.open_ticket(
            demo_store,
            actor,
            subject="vMotion fails",
            ea=ACME_PROD,
            severity=2,
            request_key="trigger:1.2.same",
            now=now,
        )

    outcomes = await asyncio.gather(*(open_it() for _ in range(10)))
    assert sum(o.created for o in outcomes) == 1
    async with demo_store.read() as conn:
        (ticket,) = await tickets_db.list_tickets(conn)
        assert len(await outbox_db.entries(conn)) == 1
        assert [e.kind for e in await tickets_db.events_of(conn, ticket_id=ticket.id)] == ["opened"]
    # (on PostgreSQL a losing insert may have used up a number: T-1 is not guaranteed)
    assert {o.card.ref for o in outcomes} == {ticket.ref}
