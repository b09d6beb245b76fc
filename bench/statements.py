"""Statements and transactions per command, counted where the database sees them.

The product's Bolt app (``handlers.app.build_app``) runs in this process on a fresh
database loaded with ``data/demo.yml``, against the benchmark's fake Slack Web API;
signed slash commands (the same bodies as ``bench/run_http.py``) are dispatched one at a
time, and SQLAlchemy's ``before_cursor_execute`` event counts every statement sent to
the database, the store's ``on_direct`` hook those it runs beside SQLAlchemy (the SQLite
version probe, the audit rows of a group commit). A transaction counts when at least one statement ran in it (a transaction
answered wholly from the read model never reaches the database); ``BEGIN`` travels with
the first statement on SQLite and is not counted, nor are ``COMMIT``/``ROLLBACK``.

    python bench/statements.py [--database postgres] [--requests 30] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
if __package__ in (None, ""):
    sys.path.insert(0, str(ROOT))

from bench.fakeapi import DEMO, FakeApi, users_of  # noqa: E402
from bench.loadgen import SignedCommands  # noqa: E402
from bench.run_http import (  # noqa: E402
    DEFAULT_POSTGRES,
    SIGNING_SECRET,
    free_port,
    fresh_database,
    scenarios,
)

# Targets (statements per command): the audit entry, and the version check on SQLite.
TARGETS = {"/faq <question>": 2, "/ea <EA>": 2, "/entitlements <EA>": 2, "/ticket new": 8}


class StatementCounter:
    """Statements and transactions of one engine, as the database sees them."""

    def __init__(self, store: Any) -> None:
        from sqlalchemy import event

        engine = store.engine.sync_engine
        self.store = store
        self.statements = 0
        self.transactions = 0
        self.kinds: Counter[str] = Counter()
        self.texts: list[str] = []  # every statement, for --show
        self._open: set[int] = set()  # connections whose transaction already ran a statement

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            self._open.discard(id(conn))

        @event.listens_for(engine, "before_cursor_execute")
        def _execute(conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            self.statements += 1
            self.texts.append(" ".join(statement.split())[:160])
            self.kinds[statement.lstrip().split(None, 1)[0].upper()] += 1
            if id(conn) not in self._open:
                self._open.add(id(conn))
                self.transactions += 1

        def _direct(statements: Any, *, transaction: bool) -> None:
            # Statements run beside SQLAlchemy (the SQLite version probe, appended audit
            # rows, each in a transaction of its own; rows a transaction inserted with
            # insert_later), in the order they ran.
            self.transactions += transaction
            for statement in statements:
                self.statements += 1
                self.texts.append(" ".join(statement.split())[:160])
                self.kinds[statement.lstrip().split(None, 1)[0].upper()] += 1

        store.on_direct = _direct

        @event.listens_for(engine, "commit")
        def _commit(conn: Any) -> None:
            self._open.discard(id(conn))

        @event.listens_for(engine, "rollback")
        def _rollback(conn: Any) -> None:
            self._open.discard(id(conn))

    def snapshot(self) -> tuple[int, int, Counter[str]]:
        return self.statements, self.transactions, Counter(self.kinds)


async def measure(
    database: str, postgres_url: str, requests: int, show: bool = False
) -> list[dict[str, Any]]:
    from slack_bolt.request.async_request import AsyncBoltRequest
    from slack_sdk.web.async_client import AsyncWebClient

    from bot.config import Settings
    from bot.store import Store
    from handlers import guard
    from handlers.app import build_app
    from handlers.services import Services

    workdir = Path(tempfile.mkdtemp(prefix="supportbot-statements-"))
    fake = FakeApi(users_of(DEMO))
    port = free_port()
    runner = web.AppRunner(fake.application(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    rows: list[dict[str, Any]] = []
    try:
        async with fresh_database(database, workdir, postgres_url) as url:
            settings = Settings(
                bot_token="xoxb-bench",
                signing_secret=SIGNING_SECRET,
                app_token=None,
                api_url=f"{base}/api/",
                port=0,
                database_url=url,
                default_locale="en",
            )
            store = Store(url)
            services = Services(store=store, settings=settings)
            app = build_app(
                services, client=AsyncWebClient(token="xoxb-bench", base_url=f"{base}/api/")
            )
            signer = SignedCommands(SIGNING_SECRET, f"{base}/response")
            counter = StatementCounter(store)

            async def send(spec: Any) -> int:
                body, headers = signer.build(spec)
                request = AsyncBoltRequest(body=body.decode(), headers=headers)
                response = await guard.dispatch(app, request)
                return int(response.status)

            try:
                for scenario in scenarios():
                    specs = scenario.specs
                    for spec in specs * 2:  # warm-up: every asker known, every answer cached
                        await send(spec)
                    before = counter.snapshot()
                    statuses = Counter([await send(specs[n % len(specs)]) for n in range(requests)])
                    after = counter.snapshot()
                    if show:
                        mark = len(counter.texts)
                        await send(specs[0])
                        print(f"--- {scenario.name}: the statements of one request")
                        print("\n".join(counter.texts[mark:]))
                    kinds = after[2] - before[2]
                    rows.append(
                        {
                            "command": scenario.name,
                            "statements": (after[0] - before[0]) / requests,
                            "transactions": (after[1] - before[1]) / requests,
                            "by_kind": {
                                k: round(v / requests, 2) for k, v in sorted(kinds.items())
                            },
                            "target": TARGETS.get(scenario.name),
                            "statuses": dict(statuses),
                        }
                    )
            finally:
                await store.dispose()
    finally:
        await runner.cleanup()
    return rows


def table(rows: list[dict[str, Any]]) -> str:
    header = f"{'command':<22}{'statements':>12}{'transactions':>14}  {'target':>6}  kinds"
    lines = [header, "-" * len(header)]
    for row in rows:
        target = row["target"]
        verdict = "" if target is None else ("PASS" if row["statements"] <= target else "FAIL")
        kinds = ", ".join(f"{k} {v:g}" for k, v in row["by_kind"].items())
        lines.append(
            f"{row['command']:<22}{row['statements']:>12.2f}{row['transactions']:>14.2f}"
            f"  {'≤ ' + str(target) if target else '-':>6} {verdict:<5} {kinds}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("SUPPORTBOT_BENCH_POSTGRES_URL", DEFAULT_POSTGRES),
    )
    parser.add_argument("--requests", type=int, default=30, help="requests counted per command")
    parser.add_argument("--json", help="also write the results to this file")
    parser.add_argument("--show", action="store_true", help="print one request's statements")
    args = parser.parse_args(argv)
    rows = asyncio.run(measure(args.database, args.postgres_url, args.requests, args.show))
    print(f"database {args.database}, {args.requests} requests per command, one at a time")
    print(table(rows))
    if args.json:
        Path(args.json).write_text(json.dumps({"database": args.database, "rows": rows}, indent=2))
    failed = [
        r["command"]
        for r in rows
        if (r["target"] is not None and r["statements"] > r["target"])
        or set(r["statuses"]) != {200}
    ]
    if failed:
        print(f"FAIL: {', '.join(failed)}")
        return 1
    print("PASS: every command within its statement budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
