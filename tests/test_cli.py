"""The ``supportbot`` command line (DESIGN.md §7): init-db, import, export.

Runs ``bot.cli.main`` in-process on a SQLite file of the test's own, from a working
directory without a ``.env``; one test runs the installed console script for real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from alembic.script import ScriptDirectory
from sqlalchemy import func, select

from bot.cli import main
from bot.domain import Queue, Status, Tier
from bot.importer import SECTIONS
from bot.store import Store
from bot.store import tickets as tickets_db
from bot.store.engine import alembic_config
from bot.store.tables import metadata

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yml"
NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh SQLite file for the CLI, and a working directory without a .env."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.chdir(tmp_path)
    for name in ("PORT", "SLACK_API_URL", "SUPPORTBOT_DEFAULT_LOCALE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", url)
    return url


def run(url: str, work: Any) -> Any:
    """Run ``work(conn)`` in a write transaction on the CLI's database."""

    async def go() -> Any:
        store = Store(url)
        try:
            async with store.write() as conn:
                return await work(conn)
        finally:
            await store.dispose()

    return asyncio.run(go())


def table_counts(url: str) -> dict[str, int]:
    async def count(conn: Any) -> dict[str, int]:
        return {
            table.name: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }

    return dict(run(url, count))


def demo_counts() -> dict[str, int]:
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    counts = {section: len(raw.get(section) or []) for section in SECTIONS}
    counts["sla_targets"] = sum(
        1 for item in raw.get("sla_targets") or [] for n in range(1, 5) if f"sev{n}" in item
    )
    return counts


def export(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["export", "tickets", "--json"]) == 0
    out = capsys.readouterr().out
    document: dict[str, Any] = json.loads(out)
    return document


# --- init-db -----------------------------------------------------------------------------------


def test_init_db_prints_the_revision(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["init-db"]) == 0
    out = capsys.readouterr().out
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert out == f"schema ready at revision {head} ({db_url})\n"
    assert (tmp_path / "cli.db").is_file()
    # Again on a migrated database: same answer, nothing lost.
    assert main(["init-db"]) == 0
    assert capsys.readouterr().out == out
    assert set(table_counts(db_url).values()) == {0}


# --- import ------------------------------------------------------------------------------------


def test_import_demo_prints_counts(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", str(DEMO)]) == 0
    captured = capsys.readouterr()
    expected = demo_counts()
    summary = ", ".join(f"{n} {name}" for name, n in expected.items() if n)
    assert captured.out == f"imported {DEMO}: {summary}\n"
    assert captured.err == ""
    counts = table_counts(db_url)
    assert counts["accounts"] == expected["accounts"]
    assert counts["licenses"] == expected["licenses"]
    assert counts["organizations"] == expected["organizations"] + expected["vendors"]


def test_a_bad_file_exits_1_names_the_path_and_writes_nothing(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yml"
    data = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    data["licenses"][3]["ea"] = "410000009"
    data["contracts"][1]["level"] = "gold"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert main(["import", str(bad)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == (
        "import refused, nothing was written (2 problem(s)):\n"
        "  licenses[3].ea: no account 410000009\n"
        "  contracts[1].level: unknown support level 'gold' (one of: basic, production, saas)\n"
    )
    assert set(table_counts(db_url).values()) == {0}


def test_a_refused_replace_keeps_the_data(
    db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DEMO)]) == 0
    before = table_counts(db_url)
    broken = tmp_path / "broken.yml"
    broken.write_text("vendors:\n  - id: vmw\n    name: [VMware\n", encoding="utf-8")
    capsys.readouterr()
    assert main(["import", str(broken), "--replace"]) == 1
    err = capsys.readouterr().err
    assert f"  {broken}: not valid YAML (line 4): " in err
    assert table_counts(db_url) == before


def test_import_without_replace_refuses_what_is_there(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DEMO)]) == 0
    before = table_counts(db_url)
    capsys.readouterr()
    assert main(["import", str(DEMO)]) == 1
    err = capsys.readouterr().err
    assert "  vendors[0].id: duplicate id 'vmw'\n" in err
    assert table_counts(db_url) == before
    # --replace starts from scratch: the same file then loads.
    assert main(["import", str(DEMO), "--replace"]) == 0
    assert table_counts(db_url) == before


def test_a_missing_file(db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "nowhere.json"]) == 1
    assert capsys.readouterr().err.endswith("  nowhere.json: no such file\n")


def test_a_configuration_error_exits_2(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PORT", "eighty")
    assert main(["init-db"]) == 2
    assert capsys.readouterr().err == (
        "configuration error: PORT must be a whole number, not 'eighty'\n"
    )


def test_an_unreachable_database_is_one_line(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(
        "SUPPORTBOT_DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"
    )
    assert main(["init-db"]) == 1
    err = capsys.readouterr().err
    assert err == "database error: OperationalError: unable to open database file\n"


def test_an_unreachable_server_is_one_line(
    db_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SUPPORTBOT_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nothing")
    assert main(["export", "tickets", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("database error: ConnectionRefusedError: ")
    assert captured.err.count("\n") == 1


# --- export ------------------------------------------------------------------------------------


def test_export_of_an_empty_database(db_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert export(capsys) == {"tickets": []}


async def _seed_ticket(conn: Any) -> int:
    ticket_id = await tickets_db.insert_ticket(
        conn,
        request_key="trigger-1",
        ea="411023871",
        customer="acme",
        partner="nuage",
        vendor="vmw",
        tier=Tier.PARTNER,
        queue=Queue.TECHNICAL,
        severity=2,
        subject="vCenter « down » after upgrade",
        product="vCenter Server Standard",
        description="Since 8.0U2",
        opened_by="alice.martin@acme.example",
        at=NOW,
    )
    assert ticket_id is not None
    clock = await tickets_db.insert_clock(
        conn,
        ticket_id=ticket_id,
        tier=Tier.PARTNER,
        started_at=NOW,
        target_minutes=240,
        around_the_clock=False,
        due_at=NOW + dt.timedelta(hours=4),
        warn_at=NOW + dt.timedelta(hours=3),
    )
    await tickets_db.update_clock(
        conn,
        clock_id=clock,
        due_at=NOW + dt.timedelta(hours=4),
        warn_at=None,
        responded_at=NOW + dt.timedelta(minutes=20),
    )
    await tickets_db.update_ticket(
        conn,
        ticket_id=ticket_id,
        at=NOW + dt.timedelta(hours=2),
        status=Status.RESOLVED,
        assignee="marc.dupont@nuage.example",
        resolved_at=NOW + dt.timedelta(hours=2),
    )
    await tickets_db.add_event(
        conn,
        ticket_id=ticket_id,
        at=NOW,
        actor="alice.martin@acme.example",
        kind="opened",
        data={"severity": 2, "tier": "partner"},
    )
    await tickets_db.add_event(
        conn,
        ticket_id=ticket_id,
        at=NOW + dt.timedelta(hours=2),
        actor="marc.dupont@nuage.example",
        kind="resolved",
        data={"resolution": "Redémarré ; OK"},
    )
    return ticket_id


def test_export_lists_a_ticket_with_its_events(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DEMO)]) == 0
    ticket_id = run(db_url, _seed_ticket)
    assert ticket_id == 1

    (ticket,) = export(capsys)["tickets"]
    expected = {
        "id": "T-1",
        "ea": "411023871",
        "customer": "acme",
        "partner": "nuage",
        "vendor": "vmw",
        "tier": "partner",
        "queue": "technical",
        "severity": 2,
        "status": "resolved",
        "subject": "vCenter « down » after upgrade",
        "product": "vCenter Server Standard",
        "opened_by": "alice.martin@acme.example",
        "assignee": "marc.dupont@nuage.example",
        "created_at": NOW,
        "first_response_due": NOW + dt.timedelta(hours=4),
        "first_responded_at": NOW + dt.timedelta(minutes=20),
        "resolved_at": NOW + dt.timedelta(hours=2),
    }
    for name, value in expected.items():
        got = ticket[name]
        if isinstance(value, dt.datetime):
            # ISO 8601 with its offset: an instant anyone can read back.
            assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", got), got
            got = dt.datetime.fromisoformat(got)
        assert got == value, name
    assert ticket["events"] == [
        {
            "at": NOW.isoformat(),
            "actor": "alice.martin@acme.example",
            "kind": "opened",
            "data": {"severity": 2, "tier": "partner"},
        },
        {
            "at": (NOW + dt.timedelta(hours=2)).isoformat(),
            "actor": "marc.dupont@nuage.example",
            "kind": "resolved",
            "data": {"resolution": "Redémarré ; OK"},
        },
    ]


def test_export_of_several_tickets_keeps_each_ones_events(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["import", str(DEMO)]) == 0

    async def seed(conn: Any) -> None:
        for n in range(3):
            ticket_id = await tickets_db.insert_ticket(
                conn,
                request_key=None,
                ea="733190462",
                customer="riverbank",
                partner=None,
                vendor="vmw",
                tier=Tier.VENDOR,
                queue=Queue.BUSINESS,
                severity=4,
                subject=f"question {n}",
                product=None,
                description=None,
                opened_by="grace.holloway@riverbank.example",
                at=NOW + dt.timedelta(minutes=n),
            )
            assert ticket_id is not None
            for k in range(n):
                await tickets_db.add_event(
                    conn, ticket_id=ticket_id, at=NOW, actor=None, kind=f"note-{k}"
                )

    run(db_url, seed)
    tickets = export(capsys)["tickets"]
    assert [t["id"] for t in tickets] == ["T-1", "T-2", "T-3"]
    assert [[e["kind"] for e in t["events"]] for t in tickets] == [
        [],
        ["note-0"],
        ["note-0", "note-1"],
    ]
    first = tickets[0]
    assert (first["partner"], first["product"], first["assignee"]) == (None, None, None)
    assert (first["first_response_due"], first["first_responded_at"], first["resolved_at"]) == (
        None,
        None,
        None,
    )
    assert (first["tier"], first["queue"], first["status"]) == ("vendor", "business", "new")


# --- the installed command --------------------------------------------------------------------


def installed_script() -> str:
    beside_python = Path(sys.executable).parent / "supportbot"
    found = str(beside_python) if beside_python.is_file() else shutil.which("supportbot")
    assert found, "the supportbot console script is installed with the package"
    return found


def test_the_installed_console_script(tmp_path: Path) -> None:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SUPPORTBOT_")) and key != "PORT"
    }
    db = tmp_path / "real.db"
    env["SUPPORTBOT_DATABASE_URL"] = f"sqlite+aiosqlite:///{db}"
    done = subprocess.run(
        [installed_script(), "import", str(DEMO)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"imported {DEMO}: ")
    assert f"{demo_counts()['licenses']} licenses" in done.stdout
    assert db.is_file()
