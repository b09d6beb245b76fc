"""The hot path's mechanics: each checked for what it promises, not for speed.

- the outbox worker wakes when a transaction adds entries (not at its next poll);
- audit entries appended at the same moment, or a few turns of the event loop apart,
  share one commit, and every caller waits for that commit (a failure reaches every
  one of them);
- a read transaction answered from the read model never reaches the database;
- on SQLite, a read's statement is one trip to aiosqlite's thread, and BEGIN travels
  with it; the writing connection's statements take none;
- every listener of the app turns other requests away with its first, cheap test, and
  they all sit behind one routing entry (tests/test_routes.py tests the routing);
- the process's Web API calls share one kept connection, closed at shutdown.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import NOW, backend
from fakeslack import FakeSlack
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy import String, event, func, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from ticket_fixtures import demo_actor

from bot import tickets
from bot.config import Settings
from bot.outbox import OutboxWorker
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import tables as t
from bot.store import tickets as tickets_db
from bot.store.engine import GROUP_COMMIT_TURNS, execute_hot
from bot.store.sqlite_driver import OneTripConnection
from handlers.app import build_app, web_api_client
from handlers.dispatch import BodyMatcher, Routes
from handlers.lifecycle import ObservedApp
from handlers.services import Services

ALICE = "alice.martin@acme.example"


async def test_the_outbox_worker_wakes_when_a_ticket_is_committed(demo_store: Store) -> None:
    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        worker = OutboxWorker(demo_store, client, worker_id="w", clock=lambda: NOW)
        stop = asyncio.Event()
        # Polling alone would wait a minute: only the wake-up can deliver in time.
        running = asyncio.create_task(worker.run_forever(stop, interval=60))
        try:
            await asyncio.sleep(0.2)  # the worker has found nothing and waits
            actor = await demo_actor(demo_store, ALICE)
            opened = await tickets.open_ticket(
                demo_store, actor, subject="vMotion fails", now=NOW, ea="411023871"
            )
            async with asyncio.timeout(5):
                while not fake.posts("C0NUAGEQ"):  # noqa: ASYNC110 - the fake records, no event
                    await asyncio.sleep(0.01)
            assert opened.card.ticket.ref in fake.posts("C0NUAGEQ")[0].args["text"]
        finally:
            stop.set()
            await asyncio.wait_for(running, 5)


async def test_another_instance_delivers_what_this_one_owes(demo_store: Store) -> None:
    """On PostgreSQL, the writing instance NOTIFYs the others after its commit: a worker
    of another instance wakes at once. SQLite has no such channel between processes:
    the other worker finds the entry at its next poll."""
    other = Store(str(demo_store.url))
    interval = 60.0 if backend() == "postgres" else 0.2
    async with FakeSlack() as fake:
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        worker = OutboxWorker(other, client, worker_id="other", clock=lambda: NOW)
        stop = asyncio.Event()
        await other.begin_request()  # the other instance listens from now on
        running = asyncio.create_task(worker.run_forever(stop, interval=interval))
        try:
            await asyncio.sleep(0.3)  # the worker has found nothing and waits
            actor = await demo_actor(demo_store, ALICE)
            await tickets.open_ticket(
                demo_store, actor, subject="vMotion fails", now=NOW, ea="411023871"
            )
            async with asyncio.timeout(5):
                while not fake.posts("C0NUAGEQ"):  # noqa: ASYNC110 - the fake records, no event
                    await asyncio.sleep(0.01)
        finally:
            stop.set()
            await asyncio.wait_for(running, 5)
            await other.dispose()


async def audit_count(store: Store) -> int:
    async with store.read() as conn:
        query = select(func.count()).select_from(t.audit_entries)
        return int((await conn.execute(query)).scalar_one())


def count_audit_batches(store: Store) -> list[str]:
    """The audit inserts the store sends from now on, one per group commit."""
    batches: list[str] = []

    def _counted(statement: str) -> None:
        if statement.startswith("INSERT INTO audit_entries"):
            batches.append(statement)

    @event.listens_for(store.engine.sync_engine, "before_cursor_execute")
    def _count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        _counted(statement)

    # SQLite writes the rows beside SQLAlchemy, in one trip per commit.
    store.on_direct = lambda statements, **_: [_counted(s) for s in statements]
    return batches


async def test_concurrent_audit_entries_share_commits_and_each_waits_for_its_own(
    store: Store,
) -> None:
    batches = count_audit_batches(store)

    async def one(n: int) -> int:
        await audit_db.append(store, at=NOW, actor=f"u{n}@x.example", action="ea.view")
        return await audit_count(store)  # committed before append returned

    seen = await asyncio.gather(*(one(n) for n in range(40)))
    assert await audit_count(store) == 40
    assert all(count >= 1 for count in seen)
    assert len(batches) < 40


async def test_audit_entries_a_few_loop_turns_apart_share_a_commit(store: Store) -> None:
    """Under load, requests reach their audit entry a little apart, not all at once; on
    SQLite nothing else runs while a commit does, so the group commit waits a few turns
    of the loop before it takes its rows; on PostgreSQL the rows that come while a
    commit waits for the server share the next one."""
    batches = count_audit_batches(store)

    async def after_turns(turns: int) -> None:
        for _ in range(turns):
            await asyncio.sleep(0)
        await audit_db.append(store, at=NOW, actor=f"u{turns}@x.example", action="ea.view")

    await asyncio.gather(*(after_turns(n) for n in range(GROUP_COMMIT_TURNS)))
    if backend() == "sqlite":
        assert len(batches) == 1
    else:  # the rows that came while the first commit waited on the server: the next
        assert len(batches) <= 2
    assert await audit_count(store) == GROUP_COMMIT_TURNS
    written = len(batches)
    await audit_db.append(store, at=NOW, actor="alone@x.example", action="ea.view")
    assert len(batches) == written + 1  # an entry on its own is written all the same


async def test_a_group_commit_stopped_while_gathering_fails_its_waiters(store: Store) -> None:
    waiter = asyncio.ensure_future(
        audit_db.append(store, at=NOW, actor="u@x.example", action="ea.view")
    )
    await asyncio.sleep(0)  # the entry is added, the commit gathering
    group_commit = store._group_commit
    assert group_commit is not None and group_commit.task is not None
    group_commit.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not group_commit.pending
    await audit_db.append(store, at=NOW, actor="v@x.example", action="ea.view")
    assert await audit_count(store) == 1  # the next one is written


async def test_appended_rows_are_stored_as_sqlalchemy_stores_them(store: Store) -> None:
    """The group commit writes SQLite rows beside SQLAlchemy: what it stores must read
    back, and compare in SQL, exactly like a row inserted through SQLAlchemy."""
    at = dt.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)
    detail: dict[str, object] = {"why": "é ✓", "n": [1, 2], "none": None}
    await audit_db.append(store, at=at, actor="a@x.example", action="ea.view", detail=detail)
    async with store.write() as conn:
        await audit_db.record(
            conn, at=at, actor="a@x.example", action="ea.view", ea="411023871", detail=detail
        )
    await audit_db.append(store, at=at, actor=None, action="ea.view", ea="411023871")
    async with store.read() as conn:
        rows = list((await conn.execute(select(t.audit_entries).order_by("id"))).mappings())
        raw = list(
            (
                await conn.execute(
                    select(
                        t.audit_entries.c.at.cast(String), t.audit_entries.c.detail.cast(String)
                    ).order_by(t.audit_entries.c.id)
                )
            ).all()
        )
        since = select(func.count()).where(t.audit_entries.c.at >= at)
        assert (await conn.execute(since)).scalar_one() == 3
    assert [(r["at"], r["actor"], r["ea"], r["detail"]) for r in rows] == [
        (at, "a@x.example", None, detail),
        (at, "a@x.example", "411023871", detail),
        (at, None, "411023871", {}),
    ]
    assert raw[0] == raw[1]  # the same text in the database, whichever way it came


async def test_hot_statements_store_and_return_what_sqlalchemy_would(demo_store: Store) -> None:
    """A hot statement run by ``execute_hot`` (straight to the driver on SQLite) gives
    back, and leaves in the database, exactly what SQLAlchemy's own execution does."""
    insert_ticket = tickets_db._insert_ticket(demo_store.engine.dialect.name)
    at = dt.datetime(2026, 12, 1, 9, 30, 15, 123456, tzinfo=dt.UTC)

    def values(key: str) -> dict[str, Any]:
        return {
            "request_key": key,
            "ea": "411023871",
            "customer": "acme",
            "partner": "nuage",
            "vendor": "vmw",
            "tier": "partner",
            "queue": "technical",
            "severity": 2,
            "status": "new",
            "subject": "é ✓ <b>",
            "product": None,
            "description": None,
            "opened_by": ALICE,
            "created_at": at,
            "updated_at": at,
        }

    statements: list[str] = []
    demo_store.on_direct = lambda sql, *, transaction: statements.extend(sql)
    async with demo_store.write() as conn:
        hot = await execute_hot(conn, insert_ticket, values("hot"))
        again = await execute_hot(conn, insert_ticket, values("hot"))  # ON CONFLICT DO NOTHING
        plain = (await conn.execute(insert_ticket, values("plain"))).mappings().first()
        assert plain is not None
        moved = await execute_hot(
            conn,
            tickets_db._set_queue_message("any"),
            {"ticket": hot.rows[0]["id"], "channel": "C1", "ts": "1.2"},
        )
    demo_store.on_direct = None
    if backend() == "sqlite":
        assert statements, "the hot statements went straight to the driver"
    (row,) = hot.rows
    assert {k: v for k, v in row.items() if k not in ("id", "request_key")} == {
        k: v for k, v in plain.items() if k not in ("id", "request_key")
    }
    assert row["created_at"] == at and row["subject"] == "é ✓ <b>"
    assert (again.rows, again.rowcount) == ([], 0)
    assert moved.rows == [{"partner": "nuage"}] and moved.rowcount == 1
    async with demo_store.read() as conn:
        as_text = select(t.tickets.c.created_at.cast(String), t.tickets.c.subject).where(
            t.tickets.c.request_key.in_(["hot", "plain"])
        )
        stored = (await conn.execute(as_text.order_by(t.tickets.c.id))).all()
    assert stored[0] == stored[1]  # the same text in the database, whichever way it came
    # Refusals as SQLAlchemy raises them, whichever way the statement went.
    with pytest.raises(StatementError, match="naive datetime"):
        async with demo_store.write() as conn:
            await execute_hot(
                conn, insert_ticket, {**values("naive"), "created_at": at.replace(tzinfo=None)}
            )
    with pytest.raises(IntegrityError):
        async with demo_store.write() as conn:
            await execute_hot(conn, insert_ticket, {**values("no such EA"), "ea": "999999999"})


async def test_a_failed_group_commit_reaches_every_waiter(store: Store) -> None:
    # An actor longer than its column: PostgreSQL refuses the batch; SQLite does not
    # check lengths, so make the batch fail on a missing table instead.
    broken = t.audit_entries if backend() == "postgres" else t.read_model_version

    async def one(n: int) -> None:
        if backend() == "postgres":
            await audit_db.append(store, at=NOW, actor="x" * 300, action=f"a{n}")
        else:
            await store.append(broken, {"id": n, "nothing": 1})

    results = await asyncio.gather(*(one(n) for n in range(5)), return_exceptions=True)
    assert all(isinstance(r, Exception) for r in results)
    # the appender is not stuck: later entries are written
    await audit_db.append(store, at=NOW, actor="a@x.example", action="ea.view")
    assert await audit_count(store) == 1


async def test_a_read_answered_from_the_read_model_never_reaches_the_database(
    demo_store: Store,
) -> None:
    await demo_store.begin_request()
    async with demo_store.read() as conn:
        await accounts_db.get_account(conn, ea="411023871")  # now cached
    checkouts = 0

    @event.listens_for(demo_store.engine.sync_engine, "checkout")
    def _count(*_args: Any) -> None:
        nonlocal checkouts
        checkouts += 1

    await demo_store.begin_request()
    async with demo_store.read() as conn:
        account = await accounts_db.get_account(conn, ea="411023871")
    assert account is not None and account.name == "ACME Production"
    if backend() == "sqlite":
        assert checkouts == 0  # the version was read by the probe, the account cached
    else:
        assert checkouts <= 1  # the listener knows the version: nothing but no more


async def test_sqlite_reads_take_one_trip_to_the_driver_thread_and_writes_none(
    tmp_path: Path,
) -> None:
    """SQLite's driver, whichever database the suite runs on: a read's statements take
    one trip each to the driver's thread (BEGIN with the first); the writing
    connection's run on the event loop's thread, with no trip at all."""
    store = Store(f"sqlite+aiosqlite:///{tmp_path / 'trips.db'}")
    await store.migrate()
    insert = text("INSERT INTO audit_entries (at, action, detail) VALUES (:at, :a, '{}')")
    query = select(t.audit_entries.c.action)
    async with store.write() as conn:  # connections opened (their set-up takes trips)
        await conn.execute(insert, {"at": NOW.replace(tzinfo=None), "a": "first"})
    async with store.read() as conn:
        await conn.execute(query)
    trips = 0
    original = OneTripConnection._execute

    async def counting(self: OneTripConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal trips
        trips += 1
        return await original(self, fn, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(OneTripConnection, "_execute", counting)
        async with store.write() as conn:
            for n in range(3):
                await conn.execute(insert, {"at": NOW.replace(tzinfo=None), "a": f"a{n}"})
            written = (await conn.execute(query)).all()
        assert trips == 0
        async with store.read() as conn:
            rows = (await conn.execute(query)).all()
            again = (await conn.execute(query)).all()
            in_transaction = trips
        after_commit = trips
    assert len(written) == len(rows) == len(again) == 4
    assert in_transaction == 2  # two selects, one trip each (BEGIN with the first)
    assert after_commit == in_transaction + 1  # COMMIT
    await store.dispose()


def test_every_listener_turns_other_requests_away_first() -> None:
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret="s",
        app_token=None,
        api_url="http://127.0.0.1:9/api/",
        port=0,
        database_url="sqlite+aiosqlite:///:memory:",
        default_locale="en",
    )
    app = build_app(Services(store=Store(settings.database_url), settings=settings))
    (routes,) = app._async_listeners
    assert isinstance(routes, Routes)
    listeners = [route.listener for route in routes.routes]
    assert len(listeners) > 40
    for listener in listeners:
        assert isinstance(listener.matchers[0], BodyMatcher), listener.ack_function


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"command": "/ea"}, True),
        ({"command": "/ea2"}, False),
        ({"type": "block_actions", "actions": [{"action_id": "x"}]}, False),
    ],
)
async def test_a_command_matcher_reads_the_command_only(
    body: dict[str, Any], expected: bool
) -> None:
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_bolt.response import BoltResponse

    from handlers.dispatch import _command

    request = AsyncBoltRequest(body="", headers={})
    request.body = body
    matcher = BodyMatcher("/ea", _command)
    assert await matcher.async_matches(request, BoltResponse(status=200)) is expected


async def test_web_api_calls_share_one_connection_until_shutdown() -> None:
    """slack_sdk alone opens a session, hence a connection, per call; the process's
    client keeps one session, so the outbox's calls reuse a connection."""
    async with FakeSlack() as fake:
        settings = Settings(
            bot_token="xoxb-test",
            signing_secret="s",
            app_token=None,
            api_url=fake.api_url,
            port=0,
            database_url="sqlite+aiosqlite:///:memory:",
            default_locale="en",
        )
        async with web_api_client(settings) as client:
            for n in range(3):
                await client.api_call("chat.postMessage", json={"channel": "C0Q", "text": f"{n}"})
            session = client.session
            assert session is not None and not session.closed
        assert session.closed
        connections = {call.connection for call in fake.calls_to("chat.postMessage")}
        assert len(fake.calls_to("chat.postMessage")) == 3
        assert len(connections) == 1 and None not in connections
        fake.assert_no_errors()


def _command_request(team: str) -> AsyncBoltRequest:
    body = f"command=%2Fea&text=411023871&team_id={team}&user_id=U1&channel_id=C1&trigger_id=1.2"
    return AsyncBoltRequest(
        body=body, headers={"content-type": ["application/x-www-form-urlencoded"]}
    )


def _function_run(team: str) -> AsyncBoltRequest:
    body = {
        "type": "event_callback",
        "team_id": team,
        "event": {
            "type": "function_executed",
            "function_execution_id": "Fx1",
            "bot_access_token": "xwfp-run",
            "inputs": {},
            "function": {"callback_id": "step"},
        },
        "event_id": "Ev1",
    }
    return AsyncBoltRequest(body=json.dumps(body), headers={"content-type": ["application/json"]})


def test_one_token_means_one_web_api_client_per_team() -> None:
    client = AsyncWebClient(token="xoxb-one")
    app = ObservedApp(client=client, signing_secret="", request_verification_enabled=False)
    app.share_clients = True
    first, again, other = _command_request("T1"), _command_request("T1"), _command_request("T2")
    for req in (first, again, other):
        app._init_context(req)
    assert again.context.client is first.context.client
    assert again.context.client.token == "xoxb-one"
    assert again.context.client.default_params["team_id"] == "T1"
    assert other.context.client is not first.context.client
    assert other.context.client.default_params["team_id"] == "T2"
    assert again.context.logger is first.context.logger
    assert again.context.token == "xoxb-one"
    assert again.context.listener_runner is app.listener_runner
    # A workflow function run gets a client of its own: its token replaces the bot's.
    run = _function_run("T1")
    app._init_context(run)
    assert run.context.function_bot_access_token == "xwfp-run"
    assert run.context.client is not first.context.client
    # Bolt's own behaviour when tokens differ per request (OAuth): a client each time.
    app.share_clients = False
    fresh = _command_request("T1")
    app._init_context(fresh)
    assert fresh.context.client is not first.context.client


async def test_rows_inserted_later_are_seen_by_the_next_statement_and_committed(
    store: Store,
) -> None:
    async with store.write() as conn:
        await audit_db.record(conn, at=NOW, actor="a@x.example", action="first")
        count = select(func.count()).select_from(t.audit_entries)
        assert (await conn.execute(count)).scalar_one() == 1  # travelled with the SELECT
        await audit_db.record(conn, at=NOW, actor="a@x.example", action="second")
    # the second one with the COMMIT
    assert await audit_count(store) == 2
    # a transaction that runs nothing else still commits its rows
    async with store.write(reference=False) as conn:
        await audit_db.record(conn, at=NOW, actor="a@x.example", action="alone")
    assert await audit_count(store) == 3


async def test_rows_inserted_later_go_with_a_rollback_or_a_failure(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.write() as conn:
            await audit_db.record(conn, at=NOW, actor="a@x.example", action="undone")
            raise RuntimeError("the use case fails after its audit entry")
    assert await audit_count(store) == 0
    # A row that cannot be stored (its ticket does not exist) fails the transaction,
    # at the latest at its commit, and takes the transaction's other rows with it.
    with pytest.raises(Exception, match=r"(?i)foreign key"):
        async with store.write() as conn:
            await audit_db.record(conn, at=NOW, actor="a@x.example", action="kept?")
            await tickets_db.add_event(
                conn, ticket_id=987654, at=NOW, actor="a@x.example", kind="opened"
            )
    assert await audit_count(store) == 0
    # and the connection is clean for the next transaction
    async with store.write() as conn:
        await audit_db.record(conn, at=NOW, actor="a@x.example", action="after")
    assert await audit_count(store) == 1
