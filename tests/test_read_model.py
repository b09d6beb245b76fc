"""The read model: directory and reference data served from memory, never stale where
access is decided.

- within one process: a grant revoked through the bot is refused at the very next
  request of the partner, though its answer was cached a moment before;
- across instances (two Bolt apps, each with its own Store, on one database: PostgreSQL
  learns through LISTEN/NOTIFY, SQLite through the version row read at each request): a
  grant revoked on instance A is refused on instance B at its next request;
- any write path bumps the version (database triggers): a change made with plain SQL on
  another connection is seen too;
- a transaction that changed reference data reads its own change, not the cache.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from conftest import DEMO, NOW, SIGNING_SECRET, BotUnderTest, MutableClock, backend, user_id_for
from fakeslack import FakeSlack
from slack_sdk.web.async_client import AsyncWebClient
from slackreq import SlackRequests
from sqlalchemy import text

from bot.config import Settings
from bot.importer import import_file
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import directory as directory_db
from bot.store.readmodel import REFERENCE_TABLES
from bot.visibility import account_view, load_actor
from handlers.app import build_app, web_app
from handlers.services import Services

ALICE = "alice.martin@acme.example"  # superuser of 411023871 (ACME production)
MARC = "marc.dupont@nuage.example"  # ATC of nuage, which holds a grant on it
ACME_PROD = "411023871"
NEW_END = dt.date(2031, 6, 30)


def shown(response: Any) -> str:
    assert response.status == 200
    return json.dumps(response.json, ensure_ascii=False)


async def test_a_revoked_grant_is_refused_at_the_next_request(bot_app: BotUnderTest) -> None:
    model = bot_app.store.read_model
    assert ACME_PROD in shown(await bot_app.command("/ea", ACME_PROD, as_=MARC))
    hits = model.hits
    assert ACME_PROD in shown(await bot_app.command("/ea", ACME_PROD, as_=MARC))
    assert model.hits > hits  # the second look-up was served from memory

    shown(await bot_app.command("/access", f"revoke {ACME_PROD} nuage", as_=ALICE))

    refused = await bot_app.command("/ea", ACME_PROD, as_=MARC)
    assert "ACME Production" not in shown(refused)
    assert ACME_PROD in refused.json["text"]  # "no EA 411023871 in your view"
    async with bot_app.store.read() as conn:
        assert await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage") is None


@dataclass
class Instance:
    store: Store
    requests: SlackRequests
    runner: web.AppRunner

    async def command(self, command: str, text: str, *, as_: str) -> Any:
        return await self.requests.command(command, text, user_id=user_id_for(as_))


@contextlib.asynccontextmanager
async def two_instances(url: str) -> AsyncIterator[tuple[Instance, Instance]]:
    fake = FakeSlack()
    await fake.start()
    setup = Store(url)
    async with setup.read() as conn:
        for contact in await directory_db.list_contacts(conn):
            fake.add_user(user_id_for(contact.email), contact.email, name=contact.name)
    await setup.dispose()
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        app_token=None,
        api_url=fake.api_url,
        port=0,
        database_url=url,
        default_locale="en",
    )
    instances: list[Instance] = []
    async with aiohttp.ClientSession() as session:
        try:
            for _ in range(2):
                store = Store(url)
                services = Services(store=store, settings=settings, clock=MutableClock(NOW))
                client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
                runner = web.AppRunner(web_app(build_app(services, client=client)))
                await runner.setup()
                site = web.TCPSite(runner, "127.0.0.1", 0)
                await site.start()
                port = runner.addresses[0][1]
                events = f"http://127.0.0.1:{port}/slack/events"
                instances.append(
                    Instance(store, SlackRequests(events, SIGNING_SECRET, session, fake), runner)
                )
            yield instances[0], instances[1]
        finally:
            for instance in instances:
                await instance.runner.cleanup()
                await instance.store.dispose()
            await fake.stop()


async def test_a_grant_revoked_on_one_instance_is_refused_on_the_other(
    demo_store: Store,
) -> None:
    """On PostgreSQL, B hears of the change through NOTIFY; on SQLite it reads the
    version row at the start of its request."""
    async with two_instances(str(demo_store.url)) as (a, b):
        for _ in range(2):  # B has the answer in its read model
            assert "ACME Production" in shown(await b.command("/ea", ACME_PROD, as_=MARC))
        assert "ACME Production" in shown(await a.command("/ea", ACME_PROD, as_=MARC))

        shown(await a.command("/access", f"revoke {ACME_PROD} nuage", as_=ALICE))

        refused = await b.command("/ea", ACME_PROD, as_=MARC)
        assert "ACME Production" not in shown(refused) and ACME_PROD in refused.json["text"]
        if backend() == "postgres":
            assert b.store._listener is not None and b.store._listener.live


async def test_a_change_made_with_plain_sql_elsewhere_is_seen(demo_store: Store) -> None:
    reader = Store(str(demo_store.url))
    try:
        async with reader.read() as conn:
            marc = await load_actor(conn, email=MARC, default_locale="en")
            assert marc is not None
            assert await account_view(conn, actor=marc, ea=ACME_PROD, today=NOW.date())
        # Another process, another connection, no product code: the triggers still bump.
        async with demo_store.engine.begin() as conn:
            await conn.execute(
                text("DELETE FROM grants WHERE ea = :ea AND partner = 'nuage'"), {"ea": ACME_PROD}
            )
        await reader.begin_request()
        async with reader.read() as conn:
            assert await account_view(conn, actor=marc, ea=ACME_PROD, today=NOW.date()) is None
    finally:
        await reader.dispose()


async def test_a_transaction_reads_its_own_reference_changes(demo_store: Store) -> None:
    async with demo_store.read() as conn:
        before = await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage")
    assert before is not None and before.until != NEW_END
    extended = dataclasses.replace(before, until=NEW_END, granted_by=ALICE, granted_at=NOW)
    async with demo_store.write() as conn:
        await accounts_db.upsert_grant(conn, grant=extended)
        inside = await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage")
        assert inside is not None and inside.until == NEW_END
    async with demo_store.read() as conn:
        after = await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage")
    assert after is not None and after.until == NEW_END


async def test_a_failed_write_leaves_the_read_model_as_it_was(demo_store: Store) -> None:
    async with demo_store.read() as conn:
        before = await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage")
    with contextlib.suppress(RuntimeError):
        async with demo_store.write() as conn:
            await accounts_db.delete_grant(conn, ea=ACME_PROD, partner="nuage")
            raise RuntimeError("rolled back")
    async with demo_store.read() as conn:
        assert await accounts_db.get_grant(conn, ea=ACME_PROD, partner="nuage") == before


async def test_every_reference_table_bumps_the_version(store: Store) -> None:
    """The triggers cover exactly the tables the read model serves (a migration that
    rebuilds one of these tables must create its triggers again)."""
    async with store.engine.connect() as conn:
        if backend() == "postgres":
            rows = await conn.execute(
                text(
                    "SELECT c.relname FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid "
                    "WHERE g.tgname LIKE 'read_model_%' AND NOT g.tgisinternal"
                )
            )
            covered = {name for (name,) in rows}
        else:
            rows = await conn.execute(
                text("SELECT tbl_name FROM sqlite_master WHERE type = 'trigger'")
            )
            found = [name for (name,) in rows]
            covered = {name for name in found if found.count(name) == 3}  # ins, upd, del
    assert covered == set(REFERENCE_TABLES)


async def test_an_import_is_seen_at_once(store: Store) -> None:
    async with store.read() as conn:
        assert await directory_db.get_contact(conn, email=MARC) is None
    await import_file(store, DEMO)
    async with store.read() as conn:
        assert await directory_db.get_contact(conn, email=MARC) is not None
