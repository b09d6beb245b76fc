"""Shared fixtures: a store on SQLite or PostgreSQL, the demo world, and the real Bolt
app served over HTTP against a fake Slack Web API.

The database is chosen by ``SUPPORTBOT_TEST_DATABASE``: ``sqlite`` (default) or
``postgres``; the PostgreSQL server is ``SUPPORTBOT_TEST_POSTGRES_URL`` (default
``postgresql+asyncpg://postgres@127.0.0.1:5432/test``). Each test gets an empty,
migrated database of its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
sys.path.insert(0, str(TESTS))

from fakeslack import FakeSlack  # noqa: E402
from slackreq import Response, SlackRequests  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.importer import import_file  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store import directory as directory_db  # noqa: E402
from bot.store.tables import SLACK_TABLES, metadata  # noqa: E402

DEMO = ROOT / "data" / "demo.yml"
SIGNING_SECRET = "test-signing-secret"
# A Monday morning, inside every demo calendar's business hours.
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)
DEFAULT_PG = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def backend() -> str:
    return os.environ.get("SUPPORTBOT_TEST_DATABASE", "sqlite").lower()


def postgres_url() -> str:
    return os.environ.get("SUPPORTBOT_TEST_POSTGRES_URL", DEFAULT_PG)


def user_id_for(email: str) -> str:
    from handlers.console import slack_user_id_for

    return slack_user_id_for(email)


# --- databases ------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated SQLite file, copied for every test (migrating each time is slower)."""
    path = tmp_path_factory.mktemp("template") / "template.db"

    async def build() -> None:
        store = Store(f"sqlite+aiosqlite:///{path}")
        await store.migrate()
        async with store.engine.connect() as conn:
            await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        await store.dispose()

    asyncio.run(build())
    return path


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    """A database of our own on the PostgreSQL server, migrated once for the session."""
    base = postgres_url()
    name = f"supportbot_test_{os.getpid()}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(base, isolation_level="AUTOCOMMIT")
        async with engine.connect() as conn:
            await conn.execute(text(sql))
        await engine.dispose()

    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}"'))
    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    url = base.rsplit("/", 1)[0] + f"/{name}"

    async def migrate() -> None:
        store = Store(url)
        await store.migrate()
        await store.dispose()

    asyncio.run(migrate())
    yield url
    asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if backend() == "postgres":
        url: str = request.getfixturevalue("postgres_database")

        async def truncate() -> None:
            engine = create_async_engine(url)
            # the domain's tables and Slack's installations (OAuth mode)
            tables = [t.name for t in metadata.sorted_tables] + sorted(SLACK_TABLES)
            names = ", ".join(f'"{name}"' for name in tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            await engine.dispose()

        asyncio.run(truncate())
        return url
    template: Path = request.getfixturevalue("sqlite_template")
    path = tmp_path / "supportbot.db"
    shutil.copyfile(template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    """An empty, migrated store."""
    s = Store(database_url)
    await s.migrate()
    yield s
    await s.dispose()


@pytest.fixture
async def demo_store(store: Store) -> Store:
    """The store with data/demo.yml loaded."""
    await import_file(store, DEMO)
    return store


@pytest.fixture
def now() -> dt.datetime:
    return NOW


# --- the Bolt app over HTTP -----------------------------------------------------------------


@dataclass
class MutableClock:
    """The bot's clock in scenario tests: fixed unless a test moves it."""

    current: dt.datetime = NOW

    def __call__(self) -> dt.datetime:
        return self.current

    def advance(self, **delta: float) -> dt.datetime:
        self.current += dt.timedelta(**delta)
        return self.current


@dataclass
class BotUnderTest:
    url: str
    fake: FakeSlack
    store: Store
    requests: SlackRequests
    clock: MutableClock
    services: Any
    worker: Any
    emails: dict[str, str] = field(default_factory=dict)  # user id -> email

    def user(self, email: str) -> str:
        return user_id_for(email)

    async def command(self, command: str, text: str = "", *, as_: str, **kwargs: Any) -> Response:
        return await self.requests.command(command, text, user_id=self.user(as_), **kwargs)

    async def drain(self, rounds: int = 50) -> int:
        """Deliver everything the outbox owes, moving the clock past retry delays."""
        from bot.store import outbox as outbox_db

        delivered = 0
        await asyncio.sleep(0.05)  # let listeners finish their after-ack work
        for _ in range(rounds):
            done = await self.worker.run_once()
            delivered += done
            if done:
                continue
            async with self.store.read() as conn:
                pending = await outbox_db.pending_count(conn)
            if not pending:
                break
            self.clock.advance(minutes=6)
        return delivered


@pytest.fixture
async def bot_app(demo_store: Store) -> AsyncIterator[BotUnderTest]:
    """The real app (handlers.app.build_app) on a loopback port, the demo world loaded,
    a fake Slack Web API knowing every demo contact as a Slack user."""
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.outbox import OutboxWorker
    from handlers.app import build_app, web_app
    from handlers.services import Services

    fake = FakeSlack()
    await fake.start()
    async with demo_store.read() as conn:
        contacts = await directory_db.list_contacts(conn)
    emails: dict[str, str] = {}
    for contact in contacts:
        user_id = user_id_for(contact.email)
        emails[user_id] = contact.email
        locale = {"fr": "fr-FR", "en": "en-US"}.get(contact.locale or "", "en-US")
        fake.add_user(user_id, contact.email, name=contact.name, locale=locale)
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret=SIGNING_SECRET,
        app_token=None,
        api_url=fake.api_url,
        port=0,
        database_url=str(demo_store.url),
        default_locale="en",
    )
    clock = MutableClock()
    services = Services(store=demo_store, settings=settings, clock=clock)
    client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
    app = build_app(services, client=client)
    runner = web.AppRunner(web_app(app))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}/slack/events"
    worker = OutboxWorker(demo_store, client, worker_id="test-worker", clock=clock)
    async with aiohttp.ClientSession() as session:
        requests = SlackRequests(url, SIGNING_SECRET, session, fake)
        yield BotUnderTest(
            url=url,
            fake=fake,
            store=demo_store,
            requests=requests,
            clock=clock,
            services=services,
            worker=worker,
            emails=emails,
        )
    await runner.cleanup()
    await fake.stop()
    fake.assert_no_errors()


def pytest_report_header(config: pytest.Config) -> str:
    return f"supportbot test database: {backend()}"


__all__ = ["NOW", "BotUnderTest", "MutableClock", "user_id_for", "web"]
