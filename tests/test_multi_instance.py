"""Several bot instances on one database: unique numbers, nothing lost, nothing twice.

Two real Bolt apps (``handlers.app.build_app``), each with its own ``Services`` and
``Store`` (its own connection pool), served on two loopback ports, one fake Slack. Signed
``/ticket new`` commands go alternately to both, many at once; both instances' outbox
workers and SLA reminder scanners run at the same time. What must hold:

- ticket numbers are unique and every acknowledged ticket is stored;
- a Slack retry landing on the other instance opens no second ticket;
- each outbox entry reaches Slack exactly once;
- each SLA reminder (75 % mark, breach) is posted exactly once.

The full scenario runs on PostgreSQL (``SUPPORTBOT_TEST_DATABASE=postgres``, CI's second
pass). On SQLite, the last test puts two instances' stores on one file: unique ticket
numbers, retries answered with the ticket already opened, each entry delivered once.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import re
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import DEMO, NOW, SIGNING_SECRET, MutableClock, backend, user_id_for
from fakeslack import FakeSlack
from slack_sdk.web.async_client import AsyncWebClient
from slackreq import Response, SlackRequests
from sqlalchemy import func, select

from bot import tickets
from bot.config import Settings
from bot.importer import import_file
from bot.outbox import OutboxWorker
from bot.store import Store
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from bot.store import tables as t
from bot.store import tickets as tickets_db
from bot.visibility import load_actor
from handlers.app import build_app, web_app
from handlers.services import Services

TICKET_ID = re.compile(r"\bT-(\d+)\b")
# Customer superusers of two EAs served by the partner nuage (data/demo.yml).
OPENERS = (("alice.martin@acme.example", "411023871"), ("bruno.leroy@acme.example", "411023872"))
REQUESTS = 60
CONCURRENCY = 16


@dataclass
class Instance:
    name: str
    store: Store
    worker: OutboxWorker
    requests: SlackRequests
    runner: web.AppRunner


@dataclass
class Cluster:
    fake: FakeSlack
    clock: MutableClock
    instances: tuple[Instance, Instance]

    @property
    def store(self) -> Store:
        return self.instances[0].store


@contextlib.asynccontextmanager
async def cluster(url: str) -> AsyncIterator[Cluster]:
    """The demo world on ``url``, two bot instances on it, one fake Slack."""
    setup = Store(url)
    await setup.migrate()
    await import_file(setup, DEMO)
    async with setup.read() as conn:
        contacts = await directory_db.list_contacts(conn)
    await setup.dispose()
    fake = FakeSlack()
    await fake.start()
    for contact in contacts:
        fake.add_user(user_id_for(contact.email), contact.email, name=contact.name)
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        app_token=None,
        api_url=fake.api_url,
        port=0,
        database_url=url,
        default_locale="en",
    )
    clock = MutableClock(NOW)
    instances: list[Instance] = []
    async with aiohttp.ClientSession() as session:
        try:
            for name in ("one", "two"):
                store = Store(url)
                services = Services(store=store, settings=settings, clock=clock)
                client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
                runner = web.AppRunner(web_app(build_app(services, client=client)))
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                requests = SlackRequests(
                    f"http://127.0.0.1:{port}/slack/events", SIGNING_SECRET, session, fake
                )
                worker = OutboxWorker(store, client, worker_id=f"instance-{name}", clock=clock)
                instances.append(Instance(name, store, worker, requests, runner))
            yield Cluster(fake, clock, (instances[0], instances[1]))
        finally:
            for instance in instances:
                await instance.runner.cleanup()
                await instance.store.dispose()
            await fake.stop()
    fake.assert_no_errors()


async def count(store: Store, table: Any, *where: Any) -> int:
    async with store.read() as conn:
        query = select(func.count()).select_from(table).where(*where)
        return int((await conn.execute(query)).scalar_one())


def ticket_of(response: Response) -> int:
    assert response.status == 200, response.text
    assert response.json is not None and response.json["response_type"] == "ephemeral"
    found = TICKET_ID.search(response.json["text"])
    assert found, response.json["text"]
    return int(found.group(1))


async def open_tickets(world: Cluster) -> tuple[list[int], list[str]]:
    """REQUESTS signed ``/ticket new``, alternately at both instances, CONCURRENCY at a
    time; returns the acknowledged ticket numbers and the trigger ids sent."""
    gate = asyncio.Semaphore(CONCURRENCY)
    triggers = [f"{n}.1700000000.multi{n:04d}" for n in range(REQUESTS)]

    async def one(n: int) -> int:
        email, ea = OPENERS[n % len(OPENERS)]
        instance = world.instances[n % 2]
        async with gate:
            response = await instance.requests.command(
                "/ticket",
                f"new sev3 ea:{ea} Replication stalls after upgrade, case {n}",
                user_id=user_id_for(email),
                trigger_id=triggers[n],
            )
        return ticket_of(response)

    return list(await asyncio.gather(*(one(n) for n in range(REQUESTS)))), triggers


@contextlib.asynccontextmanager
async def workers_running(world: Cluster) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Both instances' outbox workers, running until the block ends; yields ``drained()``,
    which moves the clock along (past retry and ordering delays) until nothing is owed."""
    stop = asyncio.Event()
    tasks = [
        asyncio.create_task(i.worker.run_forever(stop, interval=0.05)) for i in world.instances
    ]

    async def drained() -> None:
        for _ in range(400):
            async with world.store.read() as conn:
                if not await outbox_db.pending_count(conn):
                    return
            world.clock.advance(seconds=2)
            await asyncio.sleep(0.05)
        raise AssertionError("the outbox did not drain")

    try:
        yield drained
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def scan_on_both(world: Cluster) -> None:
    """Both instances' reminder scanners, several rounds each, all at once."""
    await asyncio.gather(
        *(i.worker.scan_reminders(world.clock()) for i in world.instances for _ in range(3))
    )


def assert_each_entry_delivered_once(world: Cluster, rows: list[dict[str, Any]]) -> None:
    assert rows and all(row["status"] == outbox_db.SENT for row in rows), rows
    assert all(row["attempts"] == 1 for row in rows), "an entry was tried more than once"
    by_method = Counter(row["method"] for row in rows)
    for method, owed in by_method.items():
        assert len(world.fake.calls_to(method)) == owed, method
    posted = Counter(
        (c.args.get("channel"), c.args.get("text")) for c in world.fake.calls_to("chat.postMessage")
    )
    assert max(posted.values()) == 1, [key for key, n in posted.items() if n > 1]


async def run_scenario(url: str) -> None:
    async with cluster(url) as world, workers_running(world) as drained:
        acked, triggers = await open_tickets(world)

        # Ticket numbers are unique, and each acknowledged ticket is in the database.
        assert len(set(acked)) == REQUESTS
        async with world.store.read() as conn:
            stored = {ticket.id for ticket in await tickets_db.all_tickets(conn)}
        assert stored == set(acked)

        # Slack retries the first requests, and the retries land on the other instance.
        for n in range(6):
            email, ea = OPENERS[n % len(OPENERS)]
            again = await world.instances[(n + 1) % 2].requests.command(
                "/ticket",
                f"new sev3 ea:{ea} Replication stalls after upgrade, case {n}",
                user_id=user_id_for(email),
                trigger_id=triggers[n],
                headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"},
            )
            assert ticket_of(again) == acked[n]
        assert await count(world.store, t.tickets) == REQUESTS

        # Both workers deliver at once: each queue post reaches Slack once.
        await drained()
        async with world.store.read() as conn:
            opened = await outbox_db.entries(conn)
        assert_each_entry_delivered_once(world, opened)
        assert len(world.fake.posts()) >= REQUESTS
        world.fake.clear()

        # Past every 75 % mark but before any breach: one warning per clock.
        async with world.store.read() as conn:
            marks = (
                await conn.execute(
                    select(func.max(t.ticket_clocks.c.warn_at), func.min(t.ticket_clocks.c.due_at))
                )
            ).one()
        last_warn, first_due = marks
        assert last_warn is not None and first_due is not None and last_warn < first_due
        world.clock.current = last_warn + (first_due - last_warn) / 2
        await scan_on_both(world)
        await drained()
        clocks = await count(world.store, t.ticket_clocks)
        warned = await count(world.store, t.outbox, t.outbox.c.kind == "reminder")
        assert warned == clocks == REQUESTS

        # Past every due time: one breach reminder per clock, whoever scans.
        async with world.store.read() as conn:
            last_due = (await conn.execute(select(func.max(t.ticket_clocks.c.due_at)))).scalar_one()
        world.clock.current = last_due + dt.timedelta(minutes=1)
        await scan_on_both(world)
        await scan_on_both(world)
        await drained()
        reminders = await count(world.store, t.outbox, t.outbox.c.kind == "reminder")
        assert reminders == 2 * clocks
        async with world.store.read() as conn:
            reminded = await outbox_db.entries(conn)
        reminder_rows = [row for row in reminded if row["kind"] == "reminder"]
        keys = Counter(row["dedupe_key"] for row in reminder_rows)
        assert len(keys) == 2 * clocks and max(keys.values()) == 1
        assert_each_entry_delivered_once(world, reminder_rows)


@pytest.mark.postgres
@pytest.mark.skipif(
    backend() != "postgres",
    reason="two instances on one server database; runs with SUPPORTBOT_TEST_DATABASE=postgres",
)
async def test_two_instances_share_one_postgres_database(database_url: str) -> None:
    await run_scenario(database_url)


async def test_two_stores_on_one_sqlite_file_number_tickets_uniquely(tmp_path: Path) -> None:
    """Two instances' stores on one SQLite file (WAL): concurrent ticket creation gives
    unique numbers, a retried request opens nothing new whichever store it reaches, and
    both outbox workers together deliver each entry once."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}"
    setup = Store(url)
    await setup.migrate()
    await import_file(setup, DEMO)
    await setup.dispose()
    stores = (Store(url), Store(url))
    try:
        async with stores[0].read() as conn:
            actors = [
                await load_actor(conn, email=email, default_locale="en") for email, _ in OPENERS
            ]

        async def one(n: int, store: Store) -> tickets.TicketOutcome:
            actor = actors[n % len(OPENERS)]
            assert actor is not None
            return await tickets.open_ticket(
                store,
                actor,
                subject=f"License server unreachable, case {n}",
                ea=OPENERS[n % len(OPENERS)][1],
                request_key=f"trigger:{n}.1700000000.sqlite",
                now=NOW,
            )

        opened = 40
        outcomes = await asyncio.gather(*(one(n, stores[n % 2]) for n in range(opened)))
        # Some requests again, each on the other store, all at once.
        again = range(0, opened, 5)
        retries = await asyncio.gather(*(one(n, stores[(n + 1) % 2]) for n in again))
        numbers = [o.card.ticket.id for o in outcomes]
        assert len(set(numbers)) == opened and all(o.created for o in outcomes)
        assert [r.card.ticket.id for r in retries] == [numbers[n] for n in again]
        assert not any(r.created for r in retries)
        assert await count(stores[1], t.tickets) == opened

        async with FakeSlack() as fake:
            workers = [
                OutboxWorker(
                    s,
                    AsyncWebClient(token="xoxb-test", base_url=fake.api_url),
                    worker_id=f"w{i}",
                    clock=lambda: NOW,
                    batch=4,
                )
                for i, s in enumerate(stores)
            ]

            async def deliver(worker: OutboxWorker) -> None:
                for _ in range(100):
                    await worker.run_once()
                    async with worker.store.read() as conn:
                        if not await outbox_db.pending_count(conn):
                            return

            await asyncio.gather(*(deliver(w) for w in workers for _ in range(2)))
            async with stores[0].read() as conn:
                rows = await outbox_db.entries(conn)
            assert len(rows) >= opened
            assert all(row["status"] == outbox_db.SENT and row["attempts"] == 1 for row in rows)
            assert {row["claimed_by"] for row in rows} <= {"w0", "w1"}
            posted = Counter((c.args["channel"], c.args["text"]) for c in fake.posts())
            assert len(fake.posts()) == len(rows) and max(posted.values()) == 1
    finally:
        for store in stores:
            await store.dispose()
