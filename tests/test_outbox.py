"""The outbox worker (bot/outbox.py) against the fake Slack Web API: delivery, retries,
in-place updates of queue messages, DMs by email, and SLA reminders sent once."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
from fakeslack import FakeSlack
from slack_sdk.web.async_client import AsyncWebClient
from ticket_fixtures import demo_actor, get_ticket, outbox

from bot import tickets
from bot.outbox import MAX_BACKOFF, OutboxWorker, backoff
from bot.store import Store
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db

ALICE = "alice.martin@acme.example"
LEA = "lea.girard@nuage.example"
GRACE = "grace.holloway@riverbank.example"
EOIN = "eoin.byrne@vmware.example"
ALICE_ID = "U0ALICE"
EOIN_ID = "U0EOIN"


@dataclass
class Clock:
    current: dt.datetime

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> None:
        self.current += dt.timedelta(**delta)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user(ALICE_ID, ALICE, name="Alice Martin", locale="fr-FR")
        server.add_user(EOIN_ID, EOIN, name="Eoin Byrne")
        yield server
        server.assert_no_errors()


@pytest.fixture
def clock(now: dt.datetime) -> Clock:
    return Clock(now)


def make_worker(store: Store, fake: FakeSlack, clock: Clock, name: str = "w1") -> OutboxWorker:
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    return OutboxWorker(store, client, worker_id=name, clock=clock)


async def open_ticket(
    store: Store, email: str, now: dt.datetime, subject: str = "vMotion fails", **kw: Any
) -> int:
    actor = await demo_actor(store, email)
    opened = await tickets.open_ticket(store, actor, subject=subject, now=now, **kw)
    return opened.card.ticket.id


async def statuses(store: Store) -> list[str]:
    return [e["status"] for e in await outbox(store)]


def test_backoff_doubles_up_to_five_minutes():
    assert [backoff(n).total_seconds() for n in range(5)] == [1, 2, 4, 8, 16]
    assert backoff(9) == MAX_BACKOFF and backoff(50) == MAX_BACKOFF


async def test_queue_post_then_update_in_place(demo_store, fake, clock, now):
    worker = make_worker(demo_store, fake, clock)
    ticket_id = await open_ticket(demo_store, ALICE, now, ea="411023871", severity=2)
    assert await worker.run_once() == 1
    [post] = fake.posts("C0NUAGEQ")
    assert "T-1" in post.args["text"] and "Sev 2" in post.args["text"]
    tk = await get_ticket(demo_store, ticket_id)
    assert tk.queue_message_channel == "C0NUAGEQ" and tk.queue_message_ts
    await tickets.take(demo_store, await demo_actor(demo_store, LEA), ticket_id, now=now)
    assert await worker.run_once() == 2  # the update, and Alice's DM
    [update] = fake.calls_to("chat.update")
    assert (update.args["channel"], update.args["ts"]) == ("C0NUAGEQ", tk.queue_message_ts)
    # the DM went to Alice's user id, found by email, and is remembered
    [dm] = fake.posts(ALICE_ID)
    assert "T-1" in dm.args["text"]
    assert fake.calls_to("users.lookupByEmail")
    async with demo_store.read() as conn:
        contact = await directory_db.get_contact(conn, email=ALICE)
    assert contact is not None and contact.slack_user_id == ALICE_ID
    assert await statuses(demo_store) == ["sent", "sent", "sent"]


async def test_a_429_is_retried_after_retry_after_and_delivered_once(demo_store, fake, clock, now):
    worker = make_worker(demo_store, fake, clock)
    await open_ticket(demo_store, ALICE, now, ea="411023871")
    fake.fail_next("chat.postMessage", status=429, retry_after=3)
    assert await worker.run_once() == 0
    [entry] = await outbox(demo_store)
    assert entry["status"] == "pending" and "429" in entry["last_error"]
    assert entry["next_attempt_at"] == now + dt.timedelta(seconds=3)
    clock.advance(seconds=2)
    assert await worker.run_once() == 0  # not yet: Slack asked for 3 seconds
    clock.advance(seconds=1)
    assert await worker.run_once() == 1
    assert len(fake.posts("C0NUAGEQ")) == 1 and len(fake.faulted) == 1
    assert await worker.run_once() == 0
    assert len(fake.posts("C0NUAGEQ")) == 1


async def test_a_500_is_retried_with_backoff_and_delivered_once(demo_store, fake, clock, now):
    worker = make_worker(demo_store, fake, clock)
    await open_ticket(demo_store, ALICE, now, ea="411023871")
    fake.fail_next("chat.postMessage", status=500, times=2)
    assert await worker.run_once() == 0
    [entry] = await outbox(demo_store)
    assert entry["next_attempt_at"] == now + dt.timedelta(seconds=1)
    clock.advance(seconds=1)
    assert await worker.run_once() == 0
    [entry] = await outbox(demo_store)
    assert entry["next_attempt_at"] == clock() + dt.timedelta(seconds=2)
    clock.advance(seconds=2)
    assert await worker.run_once() == 1
    assert len(fake.posts("C0NUAGEQ")) == 1 and len(fake.faulted) == 2
    [entry] = await outbox(demo_store)
    assert entry["status"] == "sent" and entry["attempts"] == 3


async def test_a_permanent_error_is_given_up_and_logged(demo_store, fake, clock, now, caplog):
    worker = make_worker(demo_store, fake, clock)
    await open_ticket(demo_store, ALICE, now, ea="411023871")
    fake.fail_next("chat.postMessage", error="channel_not_found")
    assert await worker.run_once() == 0
    [entry] = await outbox(demo_store)
    assert entry["status"] == "dead" and "channel_not_found" in entry["last_error"]
    assert "channel_not_found" in caplog.text
    clock.advance(minutes=10)
    assert await worker.run_once() == 0
    assert fake.posts() == []


async def test_an_update_waits_for_its_queue_post(demo_store, fake, clock, now):
    worker = make_worker(demo_store, fake, clock)
    ticket_id = await open_ticket(demo_store, ALICE, now, ea="411023871")
    await tickets.take(demo_store, await demo_actor(demo_store, LEA), ticket_id, now=now)
    fake.fail_next("chat.postMessage", status=500)
    # the post failed: its update waits; Alice's notice is another stream and goes
    assert await worker.run_once() == 1
    assert fake.calls_to("chat.update") == []
    assert [e["attempts"] for e in await outbox(demo_store)] == [1, 0, 1]
    assert len(fake.posts(ALICE_ID)) == 1
    clock.advance(seconds=1)
    assert await worker.run_once() == 2
    [post] = fake.posts("C0NUAGEQ")
    [update] = fake.calls_to("chat.update")
    tk = await get_ticket(demo_store, ticket_id)
    assert update.args["ts"] == tk.queue_message_ts
    assert fake.calls.index(post) < fake.calls.index(update)


async def test_an_update_of_a_queue_post_that_was_given_up_is_given_up(
    demo_store, fake, clock, now
):
    worker = make_worker(demo_store, fake, clock)
    ticket_id = await open_ticket(demo_store, ALICE, now, ea="411023871")
    fake.fail_next("chat.postMessage", error="not_in_channel")
    assert await worker.run_once() == 0
    await tickets.take(demo_store, await demo_actor(demo_store, LEA), ticket_id, now=now)
    assert await worker.run_once() == 1  # Alice's DM; the update has no message to update
    assert await statuses(demo_store) == ["dead", "dead", "sent"]
    assert fake.calls_to("chat.update") == []


async def test_in_one_round_an_update_follows_its_post_and_one_given_up_holds_nothing(
    demo_store, fake, clock, now
):
    worker = make_worker(demo_store, fake, clock)
    first = await open_ticket(demo_store, ALICE, now, ea="411023871")
    await tickets.take(demo_store, await demo_actor(demo_store, LEA), first, now=now)
    assert await worker.run_once() == 3  # post, update and DM claimed and sent together
    [post] = fake.posts("C0NUAGEQ")
    [update] = fake.calls_to("chat.update")
    assert fake.calls.index(post) < fake.calls.index(update)
    # a post given up does not hold its update back until the next round
    second = await open_ticket(demo_store, ALICE, now, ea="411023871", subject="NSX down")
    await tickets.take(demo_store, await demo_actor(demo_store, LEA), second, now=now)
    fake.fail_next("chat.postMessage", error="not_in_channel")
    assert await worker.run_once() == 1  # the DM; the update has no message to update
    assert await statuses(demo_store) == ["sent", "sent", "sent", "dead", "dead", "sent"]


async def test_an_update_waits_while_another_worker_holds_an_older_one(
    demo_store, fake, clock, now
):
    worker = make_worker(demo_store, fake, clock)
    lea = await demo_actor(demo_store, LEA)
    ticket_id = await open_ticket(demo_store, ALICE, now, ea="411023871")
    assert await worker.run_once() == 1  # the queue post
    await tickets.take(demo_store, lea, ticket_id, now=now)
    async with demo_store.write() as conn:  # another worker's claim, not delivered yet
        [held] = await outbox_db.claim(
            conn, worker="other", now=now, lease=dt.timedelta(minutes=1), limit=1
        )
    assert held.method == "chat.update"
    await tickets.resolve(demo_store, lea, ticket_id, resolution="patched", now=now)
    # both of Alice's notices go; the second update waits for the first, held elsewhere
    assert await worker.run_once() == 2
    assert fake.calls_to("chat.update") == [] and len(fake.posts(ALICE_ID)) == 2
    entries = await outbox(demo_store)
    assert [(e["method"], e["status"]) for e in entries] == [
        ("chat.postMessage", "sent"),
        ("chat.update", "pending"),
        ("chat.postMessage", "sent"),
        ("chat.update", "pending"),
        ("chat.postMessage", "sent"),
    ]
    assert entries[1]["claimed_by"] == "other" and entries[3]["attempts"] == 0


async def test_two_workers_deliver_each_entry_once(demo_store, fake, clock, now):
    for n in range(6):
        await open_ticket(demo_store, GRACE, now, subject=f"Issue {n}")
    first, second = (
        make_worker(demo_store, fake, clock, "w1"),
        make_worker(demo_store, fake, clock, "w2"),
    )
    counts = await asyncio.gather(first.run_once(), second.run_once())
    assert sum(counts) == 6
    assert len(fake.posts("C0VMWGSS")) == 6


# --------------------------------------------------------------------------- reminders


async def test_reminders_are_sent_once_even_with_two_scanners(demo_store, fake, clock, now):
    # Riverbank has no partner: a sev1 lands at VMware with a 30-minute 24×7 target.
    await open_ticket(demo_store, GRACE, now, severity=1, product="vsphere")
    first, second = (
        make_worker(demo_store, fake, clock, "w1"),
        make_worker(demo_store, fake, clock, "w2"),
    )
    assert await first.scan_reminders(now + dt.timedelta(minutes=20)) == 0
    at_warn = now + dt.timedelta(minutes=23)
    assert (
        sum(await asyncio.gather(first.scan_reminders(at_warn), second.scan_reminders(at_warn)))
        == 1
    )
    assert await first.scan_reminders(at_warn + dt.timedelta(minutes=1)) == 0
    at_breach = now + dt.timedelta(minutes=31)
    assert (
        sum(await asyncio.gather(first.scan_reminders(at_breach), second.scan_reminders(at_breach)))
        == 1
    )
    assert await second.scan_reminders(at_breach + dt.timedelta(hours=2)) == 0
    clock.current = at_breach
    await first.run_once()
    reminders = [c for c in fake.posts("C0VMWGSS") if "first-response" in c.args["text"]]
    assert len(reminders) == 2
    warn, breach = reminders
    assert "75 %" in warn.args["text"] and "<!here>" in warn.args["text"]
    assert "missed" in breach.args["text"] and "T-1" in breach.args["text"]
    async with demo_store.read() as conn:
        keys = [e["dedupe_key"] for e in await outbox_db.entries(conn) if e["kind"] == "reminder"]
    assert keys == ["reminder:1:warn", "reminder:1:breach"]


async def test_reminder_mentions_the_assignee(demo_store, fake, clock, now):
    ticket_id = await open_ticket(demo_store, GRACE, now, severity=1, product="vsphere")
    async with demo_store.write() as conn:
        await directory_db.link_slack_user(conn, email=EOIN, user_id=EOIN_ID)
    eoin = await demo_actor(demo_store, EOIN)
    # assigned by a colleague: the clock keeps running (assigning is not an answer)
    siobhan = await demo_actor(demo_store, "siobhan.kelly@vmware.example")
    await tickets.assign(demo_store, siobhan, ticket_id, assignee_slack_id=EOIN_ID, now=now)
    assert eoin.email == EOIN
    worker = make_worker(demo_store, fake, clock)
    assert await worker.scan_reminders(now + dt.timedelta(minutes=40)) == 1  # breach only
    clock.advance(minutes=40)
    while await worker.run_once():
        pass
    [reminder] = [c for c in fake.posts("C0VMWGSS") if "missed" in c.args["text"]]
    assert reminder.args["text"].startswith(f"<@{EOIN_ID}>")


async def test_answered_or_paused_clocks_get_no_reminder(demo_store, fake, clock, now):
    answered = await open_ticket(demo_store, GRACE, now, severity=1, product="vsphere")
    # a note is the answer (taking the ticket would not be)
    await tickets.add_note(
        demo_store, await demo_actor(demo_store, EOIN), answered, text="On it", now=now
    )
    worker = make_worker(demo_store, fake, clock)
    assert await worker.scan_reminders(now + dt.timedelta(hours=2)) == 0


async def test_run_forever_delivers_until_stopped(demo_store, fake, now):
    worker = make_worker(demo_store, fake, Clock(now))
    await open_ticket(demo_store, ALICE, now, ea="411023871")
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run_forever(stop, interval=0.01))
    await fake.wait_for(lambda c: c.method == "chat.postMessage")
    stop.set()
    await asyncio.wait_for(task, 2)
    assert await statuses(demo_store) == ["sent"]


async def test_a_person_slack_cannot_reach_yet_does_not_hold_up_the_escalation(
    demo_store, fake, clock, now
):
    """The customer's notices wait on their own; the vendor's queue post still goes."""
    worker = make_worker(demo_store, fake, clock)
    ticket_id = await open_ticket(demo_store, ALICE, now, ea="411023871", severity=2)
    assert await worker.run_once() == 1  # the partner's queue post
    # Alice's Slack id cannot be looked up for a while
    fake.fail_next("users.lookupByEmail", status=500, times=3)
    marc = await demo_actor(demo_store, "marc.dupont@nuage.example")
    await tickets.escalate(demo_store, marc, ticket_id, reason="reproduced, logs attached", now=now)
    await worker.run_once()
    assert len(fake.posts("C0VMWGSS")) == 1  # the vendor's queue got the escalation
    assert fake.posts(ALICE_ID) == []
    # once Slack answers again, Alice's notice arrives, once
    for _ in range(6):
        clock.advance(minutes=6)
        await worker.run_once()
    assert len(fake.posts(ALICE_ID)) == 1
    assert set(await statuses(demo_store)) == {"sent"}
