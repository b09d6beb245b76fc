"""Requests that must not get in: unsigned, badly signed, stale, replayed or oversize.

Each refused request answers 401 (413 for a body over the limit) and leaves every table
of the store as it was. The replay guard (handlers/guard.py) is also checked on its own:
bounded memory, expiry, and a failed delivery forgotten so that Slack's retry counts.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import SIGNING_SECRET, BotUnderTest
from fakeslack import APP_ID, TEAM_DOMAIN, TEAM_ID
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slackreq import Response
from sqlalchemy import func, select

from bot.store import Store
from bot.store import outbox as outbox_db
from bot.store.tables import metadata
from handlers.app import MAX_BODY_BYTES
from handlers.guard import (
    DELIVERY_WINDOW,
    SIGNATURE_WINDOW,
    DeliveryMemory,
    ReplayGuard,
    delivery_id,
    release_failed,
)

ALICE = "alice.martin@acme.example"  # superuser of 411023871, files on it (partner nuage)
LEA = "lea.girard@nuage.example"  # nuage agent
NUAGE_Q = "C0NUAGEQ"
FORM = "application/x-www-form-urlencoded"
NEW_TICKET = "new sev3 ea:411023871 vMotion fails between two hosts"


# --- signed requests built by hand (fixed trigger ids, chosen timestamps) --------------------


def new_trigger() -> str:
    return f"{secrets.randbelow(10**6)}.{int(time.time())}.{secrets.token_hex(16)}"


def command_body(
    bot: BotUnderTest, command: str, text: str, *, as_: str, trigger_id: str | None = None
) -> bytes:
    """A slash command's form body, as Slack sends it."""
    user = bot.user(as_)
    form = {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": TEAM_DOMAIN,
        "channel_id": "C0TEST",
        "channel_name": "support",
        "user_id": user,
        "user_name": as_.split("@")[0],
        "command": command,
        "text": text,
        "api_app_id": APP_ID,
        "is_enterprise_install": "false",
        "response_url": bot.fake.response_url(f"cmd-{secrets.token_hex(4)}"),
        "trigger_id": trigger_id or new_trigger(),
    }
    return urlencode(form).encode()


def action_body(
    bot: BotUnderTest,
    action_id: str,
    value: str,
    *,
    as_: str,
    trigger_id: str | None = None,
    response_name: str | None = None,
    channel_id: str = "C0TEST",
) -> bytes:
    """A button click on a message (``block_actions``), form-encoded like Slack does."""
    user = bot.user(as_)
    payload: dict[str, Any] = {
        "type": "block_actions",
        "token": "legacy-verification-token",
        "api_app_id": APP_ID,
        "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
        "user": {"id": user, "username": as_, "name": as_, "team_id": TEAM_ID},
        "enterprise": None,
        "is_enterprise_install": False,
        "trigger_id": trigger_id or new_trigger(),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b",
                "value": value,
                "action_ts": f"{time.time():.6f}",
            }
        ],
        "state": {"values": {}},
        "message": {"type": "message", "ts": "1700000000.000100", "text": ""},
        "channel": {"id": channel_id, "name": "support"},
        "container": {
            "type": "message",
            "message_ts": "1700000000.000100",
            "channel_id": channel_id,
            "is_ephemeral": False,
        },
        "response_url": bot.fake.response_url(response_name or f"act-{secrets.token_hex(4)}"),
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


def signed(bot: BotUnderTest, body: bytes, *, timestamp: int | None = None) -> dict[str, str]:
    return {"Content-Type": FORM, **bot.requests.sign(body, timestamp)}


async def post(bot: BotUnderTest, body: bytes, headers: dict[str, str]) -> Response:
    return await bot.requests.raw(body, headers)


def js(response: Response) -> dict[str, Any]:
    """The JSON object a response carries."""
    assert isinstance(response.json, dict), response.text
    return response.json


async def row_counts(store: Store) -> dict[str, int]:
    """How many rows every table holds: "nothing changed" means this is equal."""
    counts = {}
    async with store.read() as conn:
        for table in metadata.sorted_tables:
            counts[table.name] = (
                await conn.execute(select(func.count()).select_from(table))
            ).scalar_one()
    return counts


async def ticket_total(store: Store) -> int:
    return (await row_counts(store))["tickets"]


# --- refused requests ---------------------------------------------------------------------------


async def test_unsigned_forged_stale_and_future_requests_answer_401_and_change_nothing(
    bot_app: BotUnderTest,
) -> None:
    before = await row_counts(bot_app.store)
    body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
    now = int(time.time())
    other_body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
    attempts = {
        "unsigned": {"Content-Type": FORM},
        "no timestamp": {
            "Content-Type": FORM,
            "X-Slack-Signature": signed(bot_app, body)["X-Slack-Signature"],
        },
        "forged signature": {**signed(bot_app, body), "X-Slack-Signature": "v0=" + "0" * 64},
        "other scheme": {**signed(bot_app, body), "X-Slack-Signature": "v1=" + "0" * 64},
        "another body's signature": signed(bot_app, other_body),
        "stale (6 min)": signed(bot_app, body, timestamp=now - 6 * 60),
        "from the future (6 min)": signed(bot_app, body, timestamp=now + 6 * 60),
        "timestamp not a number": {**signed(bot_app, body), "X-Slack-Request-Timestamp": "soon"},
        "timestamp in other digits": {**signed(bot_app, body), "X-Slack-Request-Timestamp": "²"},
        "timestamp in Arabic digits": {
            **signed(bot_app, body),
            "X-Slack-Request-Timestamp": str(now).translate(
                str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
            ),
        },
    }
    for name, headers in attempts.items():
        response = await post(bot_app, body, headers)
        assert response.status == 401, name
    # a body altered after signing
    headers = signed(bot_app, body)
    tampered = body.replace(b"sev3", b"sev1")
    assert tampered != body
    assert (await post(bot_app, tampered, headers)).status == 401
    await bot_app.drain()
    assert await row_counts(bot_app.store) == before
    assert bot_app.fake.posts() == []
    assert bot_app.fake.calls_to("users.info") == []


async def test_interactions_and_events_are_checked_the_same_way(bot_app: BotUnderTest) -> None:
    opened = await bot_app.command("/ticket", NEW_TICKET, as_=ALICE)
    assert "T-1" in js(opened)["text"]
    before = await row_counts(bot_app.store)
    click = action_body(bot_app, "ticket.take", "1", as_=LEA, channel_id=NUAGE_Q)
    stale = signed(bot_app, click, timestamp=int(time.time()) - 301 - 5)
    assert (await post(bot_app, click, stale)).status == 401
    assert (await post(bot_app, click, {"Content-Type": FORM})).status == 401
    event = json.dumps(
        {
            "type": "event_callback",
            "team_id": TEAM_ID,
            "event_id": "EvFORGED",
            "event": {"type": "app_home_opened", "user": bot_app.user(LEA), "tab": "home"},
        }
    ).encode()
    forged = {
        "Content-Type": "application/json",
        **bot_app.requests.sign(event),
        "X-Slack-Signature": "v0=" + "f" * 64,
    }
    assert (await post(bot_app, event, forged)).status == 401
    await asyncio.sleep(0.1)
    assert await row_counts(bot_app.store) == before
    assert bot_app.fake.calls_to("views.publish") == []
    assert bot_app.fake.responses() == []


async def test_a_body_over_the_limit_is_refused_with_413(bot_app: BotUnderTest) -> None:
    before = await row_counts(bot_app.store)
    text = "x" * (MAX_BODY_BYTES + 1024)
    body = command_body(bot_app, "/ticket", f"new {text}", as_=ALICE)
    response = await post(bot_app, body, signed(bot_app, body))
    assert response.status == 413
    assert await row_counts(bot_app.store) == before
    # a large body under the limit is read, and answered in time (Bolt gives up on an
    # ack after three seconds, as Slack does)
    large = "y" * (MAX_BODY_BYTES // 2)
    for command, text in [
        ("/faq", large),
        ("/ticket", f"new sev4 ea:411023871 {large}"),
        ("/ea", f"lookup {large}"),
        ("/ticket", f"note T-1 {large}"),
    ]:
        body = command_body(bot_app, command, text, as_=ALICE)
        response = await post(bot_app, body, signed(bot_app, body))
        assert response.status == 200, command
        assert js(response)["response_type"] == "ephemeral" and js(response)["text"]


# --- replays ----------------------------------------------------------------------------------


async def test_a_replayed_command_answers_401_and_opens_nothing(bot_app: BotUnderTest) -> None:
    body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
    headers = signed(bot_app, body)
    first = await post(bot_app, body, headers)
    assert first.status == 200 and "T-1" in js(first)["text"]
    before = await row_counts(bot_app.store)
    for _ in range(3):
        assert (await post(bot_app, body, headers)).status == 401
    assert await row_counts(bot_app.store) == before
    await bot_app.drain()
    assert len(bot_app.fake.posts(NUAGE_Q)) == 1


async def test_concurrent_copies_of_one_request_run_once(bot_app: BotUnderTest) -> None:
    await bot_app.command("/supportbot", "whoami", as_=ALICE)  # identity known, auth.test done
    body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
    headers = signed(bot_app, body)
    answers = await asyncio.gather(*(post(bot_app, body, headers) for _ in range(8)))
    statuses = sorted(a.status for a in answers)
    assert statuses == [200] + [401] * 7
    assert await ticket_total(bot_app.store) == 1


async def test_a_replayed_click_answers_401_and_changes_nothing(bot_app: BotUnderTest) -> None:
    await bot_app.command("/ticket", NEW_TICKET, as_=ALICE)
    click = action_body(bot_app, "ticket.take", "1", as_=LEA, channel_id=NUAGE_Q)
    headers = signed(bot_app, click)
    assert (await post(bot_app, click, headers)).status == 200
    await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url:"))
    before = await row_counts(bot_app.store)
    assert (await post(bot_app, click, headers)).status == 401
    await asyncio.sleep(0.1)
    assert await row_counts(bot_app.store) == before
    assert len(bot_app.fake.responses()) == 1


async def test_the_same_delivery_signed_again_is_acknowledged_not_processed(
    bot_app: BotUnderTest,
) -> None:
    """What stays the same when Slack sends one thing twice is its trigger id (or event
    id); a fresh signature over it gets an empty 200 and no second run."""
    body = command_body(bot_app, "/ticket", NEW_TICKET, as_=ALICE)
    first = await post(bot_app, body, signed(bot_app, body))
    assert "T-1" in js(first)["text"]
    again = await post(bot_app, body, signed(bot_app, body, timestamp=int(time.time()) - 30))
    assert again.status == 200 and again.text == ""
    assert await ticket_total(bot_app.store) == 1


async def test_a_replay_is_still_refused_after_the_outbox_ran(bot_app: BotUnderTest) -> None:
    body = command_body(bot_app, "/access", "grant 411023871 harbor view_license_keys", as_=ALICE)
    headers = signed(bot_app, body)
    assert "Harbor" in js(await post(bot_app, body, headers))["text"]
    await bot_app.drain()
    sent = len(bot_app.fake.posts())
    assert (await post(bot_app, body, headers)).status == 401
    await bot_app.drain()
    assert len(bot_app.fake.posts()) == sent
    async with bot_app.store.read() as conn:
        assert len(await outbox_db.entries(conn)) == sent


# --- the guard on its own -----------------------------------------------------------------------


class FakeClock:
    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


def test_memory_forgets_each_key_at_its_expiry() -> None:
    clock = FakeClock()
    memory = DeliveryMemory(clock=clock)
    assert memory.add("a", until=clock.now + 10)
    assert memory.add("b", until=clock.now + 20)
    assert not memory.add("a", until=clock.now + 99)
    assert "a" in memory and len(memory) == 2
    clock.now += 10
    assert "a" not in memory and "b" in memory and len(memory) == 1
    assert memory.add("a", until=clock.now + 10)
    memory.discard("b")
    assert "b" not in memory and memory.add("b", until=clock.now + 5)


def test_memory_stays_within_its_capacity(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    memory = DeliveryMemory(capacity=100, clock=clock)
    with caplog.at_level(logging.WARNING, logger="handlers.guard"):
        for i in range(1_000):
            assert memory.add(f"key-{i}", until=clock.now + 300 + i)
            assert len(memory) <= 100
    # the entries closest to their end went first; the newest are all still known
    assert all(f"key-{i}" in memory for i in range(900, 1_000))
    assert "key-0" not in memory
    warnings = [r for r in caplog.records if "replay guard full" in r.getMessage()]
    assert len(warnings) == 1  # rate-limited, not one line per request


def test_discarded_keys_do_not_grow_the_memory() -> None:
    clock = FakeClock()
    memory = DeliveryMemory(capacity=10, clock=clock)
    for i in range(50_000):
        memory.add(f"k{i}", until=clock.now + 600)
        memory.discard(f"k{i}")
    assert len(memory) == 0
    assert len(memory._heap) <= 2 * 1024 + 1


def test_delivery_ids() -> None:
    assert delivery_id({"type": "event_callback", "event_id": "Ev1"}) == "event:Ev1"
    assert delivery_id({"type": "event_callback"}) is None
    assert delivery_id({"command": "/ticket", "trigger_id": "1.2.3"}) == "trigger:1.2.3"
    assert delivery_id({"type": "view_closed"}) is None


def bolt_request(body: dict[str, Any], headers: dict[str, str]) -> AsyncBoltRequest:
    return AsyncBoltRequest(
        body=json.dumps(body),
        headers={"content-type": "application/json", **headers},
    )


async def run_guard(guard: ReplayGuard, req: AsyncBoltRequest) -> BoltResponse | None:
    """The guard as Bolt runs it: None when it let the request through."""
    passed = False

    async def next_() -> BoltResponse:
        nonlocal passed
        passed = True
        return BoltResponse(status=200, body="")

    response = await guard.async_process(req=req, resp=BoltResponse(status=200), next=next_)
    return None if passed else response


async def test_guard_refuses_replays_and_acknowledges_repeated_deliveries() -> None:
    clock = FakeClock()
    guard = ReplayGuard(clock=clock)
    ts = str(int(clock.now))
    event = {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_home_opened"}}
    first = {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=aa"}
    assert await run_guard(guard, bolt_request(event, first)) is None
    replay = await run_guard(guard, bolt_request(event, first))
    assert replay is not None and replay.status == 401
    retry = {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": "v0=bb",
        "x-slack-retry-num": "1",
    }
    acked = await run_guard(guard, bolt_request(event, retry))
    assert acked is not None and (acked.status, acked.body) == (200, "")
    # Socket Mode and the console carry no signature: never held back
    for _ in range(2):
        assert await run_guard(guard, AsyncBoltRequest(body=event, mode="socket_mode")) is None
    # once the windows are over, nothing is remembered
    clock.now += max(SIGNATURE_WINDOW, DELIVERY_WINDOW) + 2
    assert len(guard.memory) == 0


async def test_a_delivery_that_failed_on_our_side_is_processed_when_slack_retries() -> None:
    guard = ReplayGuard()
    ts = str(int(time.time()))
    event = {"type": "event_callback", "event_id": "Ev2", "event": {"type": "app_home_opened"}}
    failed = bolt_request(event, {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=01"})
    assert await run_guard(guard, failed) is None
    release_failed(failed, BoltResponse(status=500, body=""))
    retry = bolt_request(
        event,
        {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=02", "x-slack-retry-num": "1"},
    )
    assert await run_guard(guard, retry) is None  # processed this time
    release_failed(retry, BoltResponse(status=200, body=""))
    again = bolt_request(
        event,
        {"x-slack-request-timestamp": ts, "x-slack-signature": "v0=03", "x-slack-retry-num": "2"},
    )
    answer = await run_guard(guard, again)
    assert answer is not None and answer.status == 200


async def test_tokens_and_the_signing_secret_never_reach_the_logs(
    bot_app: BotUnderTest, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.DEBUG):
        await bot_app.command("/ticket", NEW_TICKET, as_=ALICE)
        click = action_body(bot_app, "ticket.take", "1", as_=LEA, channel_id=NUAGE_Q)
        await post(bot_app, click, signed(bot_app, click))
        await post(bot_app, click, {"Content-Type": FORM})  # refused
        bot_app.fake.fail_next("chat.postMessage", status=500)
        await bot_app.drain()
    assert caplog.records, "debug logging was on"
    for secret in ("xoxb-test", SIGNING_SECRET):
        assert secret not in caplog.text


def test_every_test_named_in_security_md_exists() -> None:
    """SECURITY.md backs each claim with `file::test`; each of those must exist."""
    tests = Path(__file__).resolve().parent
    text = (tests.parent / "SECURITY.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`(test_\w+\.py)::(test_\w+)`", text))
    assert len(named) >= 40
    missing = [
        f"{file}::{name}"
        for file, name in sorted(named)
        if not re.search(
            rf"^(async )?def {name}\(", (tests / file).read_text(encoding="utf-8"), re.M
        )
    ]
    assert missing == []
