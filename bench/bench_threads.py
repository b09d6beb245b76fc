"""Ticket threads: how fast a message event is acknowledged, and how soon its relay
reaches the other thread, on an idle bot.

The real Bolt app (``handlers.app``) is served over HTTP in this process, on a fresh
SQLite database loaded with ``data/demo.yml``, against the tests' fake Web API; the
outbox worker runs as in ``supportbot serve``. A customer opens a ticket in her shared
channel, then writes ``--messages`` replies in its thread, one after the other; for
each, the signed event's ack time and the time until the relayed copy is posted in the
partner thread are measured. Every relay must arrive once, in order.

    .venv/bin/python bench/bench_threads.py --messages 200

Exit status 1 when a relay is missing, doubled or out of order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
for path in (ROOT, ROOT / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from fakeslack import BOT_USER_ID, FakeSlack  # noqa: E402
from slack_sdk.web.async_client import AsyncWebClient  # noqa: E402
from slackreq import SlackRequests  # noqa: E402

from bot.config import Settings  # noqa: E402
from bot.importer import import_file  # noqa: E402
from bot.outbox import OutboxWorker  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store import directory as directory_db  # noqa: E402
from handlers.app import build_app, web_app  # noqa: E402
from handlers.console import slack_user_id_for  # noqa: E402
from handlers.services import Services  # noqa: E402

SECRET = "bench-threads-secret"
CHANNEL, PARTNER_QUEUE = "C0ACMESUPPORT", "C0NUAGEQ"
ALICE = "alice.martin@acme.example"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))]


async def run(messages: int) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    store = Store(f"sqlite+aiosqlite:///{workdir / 'bench.db'}")
    await store.migrate()
    await import_file(store, ROOT / "data" / "demo.yml")
    fake = FakeSlack()
    await fake.start()
    async with store.read() as conn:
        for contact in await directory_db.list_contacts(conn):
            fake.add_user(slack_user_id_for(contact.email), contact.email, name=contact.name)
    settings = Settings(
        bot_token="xoxb-bench",
        signing_secret=SECRET,
        app_token=None,
        api_url=fake.api_url,
        port=0,
        database_url=str(store.url),
        default_locale="en",
    )
    services = Services(store=store, settings=settings)
    client = AsyncWebClient(token="xoxb-bench", base_url=fake.api_url)
    runner = web.AppRunner(web_app(build_app(services, client=client)))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    worker = OutboxWorker(store, client, worker_id="bench")
    stop = asyncio.Event()
    delivering = asyncio.create_task(worker.run_forever(stop, interval=0.01))
    alice = slack_user_id_for(ALICE)

    def relayed(text: str) -> list[float]:
        return [
            call.received_at
            for call in fake.calls
            if call.method == "chat.postMessage"
            and call.args.get("channel") == PARTNER_QUEUE
            and call.args.get("thread_ts")
            and text in str(call.args.get("text"))
        ]

    acks: list[float] = []
    relays: list[float] = []
    try:
        async with aiohttp.ClientSession() as session:
            slack = SlackRequests(f"http://127.0.0.1:{port}/slack/events", SECRET, session, fake)
            _, opening = await slack.message(
                CHANNEL, alice, f"<@{BOT_USER_ID}> sev2 ea:411023871 vMotion fails"
            )
            thread_ts = str(opening["ts"])
            deadline = time.monotonic() + 10
            while not any(
                c.args.get("channel") == PARTNER_QUEUE and not c.args.get("thread_ts")
                for c in fake.posts()
            ):
                if time.monotonic() > deadline:
                    print("the ticket's queue post never came", file=sys.stderr)
                    return 1
                await asyncio.sleep(0.01)
            for n in range(messages):
                text = f"reply number {n:05d}"
                sent = time.perf_counter()
                response, _ = await slack.message(CHANNEL, alice, text, thread_ts=thread_ts)
                acks.append(time.perf_counter() - sent)
                if response.status != 200:
                    print(f"event answered {response.status}", file=sys.stderr)
                    return 1
                for _ in range(10_000):  # at most ~10 s
                    if relayed(text):
                        break
                    await asyncio.sleep(0.001)
                found = relayed(text)
                if len(found) != 1:
                    print(f"{text}: relayed {len(found)} times", file=sys.stderr)
                    return 1
                relays.append(found[0] - sent)
    finally:
        stop.set()
        await delivering
        await runner.cleanup()
        await fake.stop()
        await store.dispose()
    order = [
        str(c.args["text"]).rsplit(" ", 1)[-1]
        for c in fake.posts(PARTNER_QUEUE)
        if "reply number" in str(c.args.get("text"))
    ]
    in_order = order == sorted(order) and len(order) == messages
    print(
        json.dumps(
            {
                "messages": messages,
                "event_ack_ms": {
                    "p50": round(statistics.median(acks) * 1000, 2),
                    "p99": round(percentile(acks, 0.99) * 1000, 2),
                },
                "relay_posted_after_event_ms": {
                    "p50": round(statistics.median(relays) * 1000, 2),
                    "p99": round(percentile(relays, 0.99) * 1000, 2),
                },
                "relayed_once_each_in_order": in_order,
            }
        )
    )
    return 0 if in_order else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=200)
    args = parser.parse_args()
    return asyncio.run(run(args.messages))


if __name__ == "__main__":
    sys.exit(main())
