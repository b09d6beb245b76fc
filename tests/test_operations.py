"""What operators rely on: /healthz, /metrics, the per-request log line, the dead outbox
entries (``supportbot outbox``), through the real app over HTTP where Slack is involved."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from conftest import NOW, BotUnderTest
from prometheus_client.parser import text_string_to_metric_families

from bot.cli import main
from bot.config import Settings
from bot.logs import JsonFormatter, TextFormatter
from bot.store import Store
from bot.store import operations as operations_db
from bot.store import outbox as outbox_db
from handlers import lifecycle
from handlers.services import Services

ALICE = "alice.martin@acme.example"
GRACE = "grace.holloway@riverbank.example"


def base(bot: BotUnderTest) -> str:
    return bot.url.removesuffix("/slack/events")


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def owe(store: Store, *, at: dt.datetime, kind: str = "notice") -> int:
    async with store.write() as conn:
        await outbox_db.enqueue(
            conn,
            kind=kind,
            method="chat.postMessage",
            payload={"channel": "C0NOWHERE", "text": "hello"},
            at=at,
        )
        return max(e["id"] for e in await outbox_db.entries(conn))


async def kill(store: Store, entry_id: int, *, at: dt.datetime) -> None:
    """Make an entry dead as the worker does after a permanent error."""
    async with store.write() as conn:
        [claimed] = await outbox_db.claim(
            conn, worker="w", now=at, lease=dt.timedelta(seconds=60), limit=1
        )
        assert claimed.id == entry_id
        await outbox_db.mark_failed(
            conn, entry_id=entry_id, worker="w", error="HTTP 200: channel_not_found", retry_at=None
        )


# --------------------------------------------------------------------------- /healthz


async def test_healthz_answers_200_when_database_and_outbox_are_fine(bot_app: BotUnderTest):
    status, body = await get(base(bot_app) + "/healthz")
    assert status == 200
    assert json.loads(body) == {
        "ok": True,
        "outbox_pending": 0,
        "outbox_dead": 0,
        "outbox_oldest_due_age_seconds": 0.0,
    }


async def test_healthz_answers_503_when_the_outbox_is_stuck(bot_app: BotUnderTest):
    # Due a minute ago: still fine (a worker may be on it)…
    await owe(bot_app.store, at=NOW - dt.timedelta(minutes=1))
    status, body = await get(base(bot_app) + "/healthz")
    assert status == 200 and json.loads(body)["outbox_pending"] == 1
    # …due ten minutes ago, beyond the 300 s threshold: delivery is stuck.
    await owe(bot_app.store, at=NOW - dt.timedelta(minutes=10))
    status, body = await get(base(bot_app) + "/healthz")
    assert status == 503
    answer = json.loads(body)
    assert answer["ok"] is False
    assert answer["reason"] == "outbox stuck: an entry due 600 s ago (limit 300 s)"


async def test_an_entry_backing_off_is_not_stuck(bot_app: BotUnderTest):
    # Owed long ago but its next try is later (a retry after a failure): not stuck.
    async with bot_app.store.write() as conn:
        await outbox_db.enqueue(
            conn,
            kind="notice",
            method="chat.postMessage",
            payload={"channel": "C0X", "text": "x"},
            at=NOW - dt.timedelta(hours=2),
            not_before=NOW + dt.timedelta(minutes=3),
        )
    status, _ = await get(base(bot_app) + "/healthz")
    assert status == 200


async def test_healthz_answers_503_when_the_database_does_not(tmp_path: Path):
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret="s",
        app_token=None,
        api_url="http://127.0.0.1:9/api/",
        port=0,
        database_url=f"sqlite+aiosqlite:///{tmp_path}/missing/folder/bot.db",
        default_locale="en",
    )
    store = Store(settings.database_url)
    try:
        state = lifecycle.Lifecycle(Services(store=store, settings=settings))
        assert await lifecycle.health(state) == (
            503,
            {"ok": False, "reason": "database unavailable"},
        )
        # /metrics still serves the process's own figures
        text = (await lifecycle.metrics_text(state)).decode()
        assert "supportbot_requests_total" not in text or "supportbot_outbox" not in text
        assert "supportbot_outbox_pending" not in text
    finally:
        await asyncio.sleep(0.05)  # let aiosqlite's thread report the failed connect
        await store.dispose()


async def test_healthz_threshold_is_a_setting(bot_app: BotUnderTest):
    await owe(bot_app.store, at=NOW - dt.timedelta(seconds=90))
    state = lifecycle.Lifecycle(
        Services(
            store=bot_app.store,
            settings=Settings(**{**bot_app.services.settings.__dict__, "outbox_stuck_seconds": 60}),
            clock=bot_app.clock,
        )
    )
    status, body = await lifecycle.health(state)
    assert status == 503 and body["reason"].startswith("outbox stuck")


# --------------------------------------------------------------------------- /metrics


async def test_metrics_count_requests_by_command_and_outcome(bot_app: BotUnderTest):
    assert (await bot_app.command("/supportbot", "whoami", as_=ALICE)).status == 200
    assert (await bot_app.command("/supportbot", "whoami", as_=ALICE)).status == 200
    refused = await bot_app.command("/ticket", "show T-999", as_=ALICE)
    assert refused.status == 200 and "T-999" in refused.json["text"]
    bot_app.fake.add_user("U0STRANGER", "nobody@elsewhere.example", name="Nobody")
    await bot_app.requests.command("/ea", "", user_id="U0STRANGER")

    status, text = await get(base(bot_app) + "/metrics")
    assert status == 200
    found = samples(text)
    assert (
        found[("supportbot_requests_total", (("command", "/supportbot"), ("outcome", "ok")))] == 2
    )
    assert (
        found[("supportbot_requests_total", (("command", "/ticket"), ("outcome", "refused")))] == 1
    )
    assert (
        found[("supportbot_requests_total", (("command", "/ea"), ("outcome", "unknown_user")))] == 1
    )
    count = found[("supportbot_ack_latency_seconds_count", (("command", "/supportbot"),))]
    assert count == 2
    inf = found[
        ("supportbot_ack_latency_seconds_bucket", (("command", "/supportbot"), ("le", "+Inf")))
    ]
    assert inf == 2
    assert found[("supportbot_ack_latency_seconds_sum", (("command", "/supportbot"),))] > 0


async def test_metrics_report_the_outbox_reminders_and_breaches(bot_app: BotUnderTest):
    # Riverbank has no partner: a sev1 goes to VMware with a 30-minute 24x7 target.
    response = await bot_app.command(
        "/ticket", "new sev1 product:vsphere vSAN datastore offline", as_=GRACE
    )
    assert "T-1" in response.json["text"]
    status, text = await get(base(bot_app) + "/metrics")
    found = samples(text)
    assert found[("supportbot_outbox_pending", ())] >= 1
    assert found[("supportbot_sla_breaches_open", ())] == 0
    assert found[("supportbot_sla_reminders_sent_total", ())] == 0

    await bot_app.drain()
    bot_app.clock.advance(minutes=31)
    await bot_app.worker.scan_reminders(bot_app.clock())
    await bot_app.drain()
    dead = await owe(bot_app.store, at=bot_app.clock())
    await kill(bot_app.store, dead, at=bot_app.clock())

    status, text = await get(base(bot_app) + "/metrics")
    assert status == 200
    found = samples(text)
    assert found[("supportbot_sla_breaches_open", ())] == 1
    assert found[("supportbot_sla_reminders_sent_total", ())] == 1  # the breach reminder
    assert found[("supportbot_outbox_dead", ())] == 1
    assert found[("supportbot_outbox_pending", ())] == 0
    assert found[("supportbot_outbox_oldest_due_age_seconds", ())] == 0


async def test_the_oldest_due_age_is_reported(bot_app: BotUnderTest):
    await owe(bot_app.store, at=NOW - dt.timedelta(seconds=42))
    _, text = await get(base(bot_app) + "/metrics")
    assert samples(text)[("supportbot_outbox_oldest_due_age_seconds", ())] == 42


# --------------------------------------------------------------------------- logs


async def test_by_default_only_requests_that_did_not_go_well_are_logged(
    bot_app: BotUnderTest, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="supportbot.requests")
    await bot_app.command("/ticket", "new sev3 ea:411023871 datastore trouble", as_=ALICE)
    await bot_app.command("/ticket", "show T-999", as_=ALICE)
    lines = [r for r in caplog.records if r.name == "supportbot.requests"]
    assert [(r.fields["command"], r.fields["outcome"]) for r in lines] == [  # type: ignore[attr-defined]
        ("/ticket", "refused")
    ]
    _, text = await get(base(bot_app) + "/metrics")
    counted = samples(text)
    assert counted[("supportbot_requests_total", (("command", "/ticket"), ("outcome", "ok")))] == 1


async def test_with_the_access_log_one_line_per_request_without_the_text(
    bot_app: BotUnderTest, caplog: pytest.LogCaptureFixture
):
    bot_app.services.settings = dataclasses.replace(bot_app.services.settings, access_log=True)
    caplog.set_level(logging.INFO, logger="supportbot.requests")
    await bot_app.command(
        "/ticket", "new sev3 ea:411023871 confidential datastore trouble", as_=ALICE
    )
    await bot_app.command("/ticket", "show T-999", as_=ALICE)
    lines = [r for r in caplog.records if r.name == "supportbot.requests"]
    assert len(lines) == 2
    fields = [r.fields for r in lines]  # type: ignore[attr-defined]
    assert [(f["command"], f["outcome"]) for f in fields] == [
        ("/ticket", "ok"),
        ("/ticket", "refused"),
    ]
    for f in fields:
        assert set(f) == {"team", "user", "command", "outcome", "latency_ms"}
        assert f["team"] == "T0TEST" or f["team"].startswith("T")
        assert f["user"] == bot_app.user(ALICE)
        assert f["latency_ms"] > 0
    for formatter in (TextFormatter(), JsonFormatter()):
        for record in lines:
            line = formatter.format(record)
            assert "confidential" not in line and "T-999" not in line
            assert "xoxb" not in line and "secret" not in line


def make_record(**fields: Any) -> logging.LogRecord:
    record = logging.LogRecord(
        "supportbot.requests", logging.INFO, __file__, 1, "request", (), None
    )
    record.fields = fields
    return record


def test_text_lines_show_fields_as_key_values():
    line = TextFormatter().format(
        make_record(team="T1", user="U1", command="/ticket", outcome="ok", latency_ms=12.5)
    )
    assert line.endswith(
        "INFO supportbot.requests: request team=T1 user=U1 command=/ticket outcome=ok latency_ms=12.5"
    )


def test_json_lines_are_one_object_each():
    line = JsonFormatter().format(
        make_record(team="T1", user=None, command="/faq", outcome="refused", latency_ms=3.0)
    )
    assert "\n" not in line
    data = json.loads(line)
    assert data.pop("time").endswith("+00:00")
    assert data == {
        "level": "INFO",
        "logger": "supportbot.requests",
        "message": "request",
        "team": "T1",
        "user": None,
        "command": "/faq",
        "outcome": "refused",
        "latency_ms": 3.0,
    }


def test_json_lines_carry_the_traceback():
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    data = json.loads(JsonFormatter().format(record))
    assert data["message"] == "failed" and "ValueError: boom" in data["exception"]


# --------------------------------------------------------------------------- outbox CLI


@pytest.fixture
def cli_db(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", database_url)
    return database_url


def in_store(url: str, work: Any) -> Any:
    async def go() -> Any:
        store = Store(url)
        try:
            return await work(store)
        finally:
            await store.dispose()

    return asyncio.run(go())


def test_outbox_list_retry_and_drop(cli_db: str, capsys: pytest.CaptureFixture[str]):
    async def setup(store: Store) -> tuple[int, int, int]:
        await store.migrate()
        ids = [await owe(store, at=NOW) for _ in range(3)]
        await kill(store, ids[0], at=NOW)
        await kill(store, ids[1], at=NOW)
        return ids[0], ids[1], ids[2]

    first, second, pending = in_store(cli_db, setup)

    assert main(["outbox", "list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "2 dead outbox entries:"
    assert f"#{first} notice chat.postMessage" in out and f"#{second} " in out
    assert f"#{pending} " not in out
    assert "channel_not_found" in out and "hello" not in out  # never the message text

    assert main(["outbox", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [e["id"] for e in listed] == [first, second]
    assert listed[0]["attempts"] == 1 and listed[0]["ticket"] is None

    assert main(["outbox", "retry", str(first)]) == 0
    assert f"#{first} is due again" in capsys.readouterr().out
    assert main(["outbox", "drop", f"#{second}"]) == 0
    assert f"#{second} dropped" in capsys.readouterr().out

    async def read(store: Store) -> dict[int, dict[str, Any]]:
        async with store.read() as conn:
            return {e["id"]: e for e in await outbox_db.entries(conn)}

    entries = in_store(cli_db, read)
    assert (entries[first]["status"], entries[first]["attempts"]) == ("pending", 0)
    assert entries[second]["status"] == operations_db.DROPPED
    assert main(["outbox", "list"]) == 0
    assert capsys.readouterr().out == "no dead outbox entries\n"

    # Only dead entries can be retried or dropped.
    for action, entry_id in (("retry", pending), ("drop", second), ("retry", 999)):
        assert main(["outbox", action, str(entry_id)]) == 1
        assert f"no dead outbox entry #{entry_id}" in capsys.readouterr().err


def test_outbox_usage_errors(cli_db: str, capsys: pytest.CaptureFixture[str]):
    for argv in (["outbox"], ["outbox", "retry"], ["outbox", "drop", "abc"], ["outbox", "x"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2
        assert "usage: supportbot outbox" in capsys.readouterr().err


async def test_a_dropped_reminder_is_not_owed_again(bot_app: BotUnderTest):
    response = await bot_app.command("/ticket", "new sev1 product:vsphere down", as_=GRACE)
    assert "T-1" in response.json["text"]
    await bot_app.drain()
    bot_app.clock.advance(minutes=31)
    assert await bot_app.worker.scan_reminders(bot_app.clock()) == 1
    async with bot_app.store.read() as conn:
        [reminder] = [e for e in await outbox_db.entries(conn) if e["kind"] == "reminder"]
    await kill(bot_app.store, reminder["id"], at=bot_app.clock())
    async with bot_app.store.write() as conn:
        assert await operations_db.drop_dead(conn, entry_id=reminder["id"])
    assert await bot_app.worker.scan_reminders(bot_app.clock()) == 0
