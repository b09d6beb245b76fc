"""Crash test: the real bot under load, killed with SIGKILL, restarted, and checked.

It runs the bot as ``python app.py`` (HTTP mode) on a temporary SQLite database loaded
with ``data/demo.yml``, against a fake Slack Web API of its own that records what it
receives. Sixteen clients open tickets with signed ``/ticket new`` commands; at random
moments the bot is killed (SIGKILL) and started again while the load goes on. At the
end, once the outbox is drained, it checks that

- every ticket whose creation was acknowledged (``T-<n>`` in the ack) exists, with the
  subject that was sent (``supportbot export tickets --json``);
- no request opened two tickets;
- every notification owed (each outbox entry) reached the fake Slack, once.

A delivery interrupted between Slack's answer and the ``sent`` mark is sent again after
the restart: at most one duplicate per kill (the worker delivers one entry at a time).
That at-least-once window is reported, not hidden; ``--api-delay`` widens it (the fake
then answers late, as a slow Slack would, so kills land in it more often).

    .venv/bin/python bench/crash_test.py --kills 3 --seed 7

Exit status 1 when an acknowledged ticket or an owed notification is lost, or when
there are more duplicates than kills.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fakeapi import FakeApi, user_id_for, users_of  # noqa: E402
from bot.store import Store  # noqa: E402
from bot.store import outbox as outbox_db  # noqa: E402

DEMO = ROOT / "data" / "demo.yml"
SECRET = "crash-test-signing-secret"
TICKET_REF = re.compile(r"\bT-(\d+)\b")
DRAIN_TIMEOUT = 180.0  # a killed worker's claims are free again after its 60 s lease
START_TIMEOUT = 30.0

# (who, /ticket new arguments before the subject): people of the demo who may open a
# ticket there; customers' tickets go to their partner's or the vendor's queue, a partner
# agent's also owe the customer's superuser a direct message.
OPENERS = [
    ("grace.holloway@riverbank.example", "sev2 product:vsphere"),
    ("jean.morel@hexagone.example", "sev3"),
    ("manon.blanc@lumiere.example", "sev3"),
    ("helen.carter@northwind.example", "sev3"),
    ("frank.delgado@tidewater.example", "sev4"),
    ("alice.martin@acme.example", "sev3 ea:411023871"),
    ("lea.girard@nuage.example", "sev3 ea:411023871"),
    ("hugo.moreau@pixel.example", "sev3 ea:620045517"),
]


# --- the fake Slack ------------------------------------------------------------------------------


class Recorder:
    """The benchmark's fake Web API (``bench.fakeapi``), recording every message: how
    many times each (method, channel, text) arrived."""

    def __init__(self, delay: float) -> None:
        self.api = FakeApi(users_of(DEMO))
        self.delay = delay
        self.messages: Counter[tuple[str, str, str]] = Counter()

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self.handle)
        app.router.add_post("/response/{name}", self.response_url)
        return app

    async def response_url(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.can_read_body:
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        if method == "chat.postMessage":
            self.messages[(method, str(args.get("channel")), str(args.get("text")))] += 1
        elif method == "chat.update":
            self.messages[(method, "", str(args.get("text")))] += 1
        if self.delay and method.startswith("chat."):
            await asyncio.sleep(self.delay)  # handled, but answered late
        return web.json_response(self.api.answer(method, args))


# --- the bot process -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def supportbot(env: dict[str, str], *args: str) -> str:
    """Run the ``supportbot`` CLI; its standard output."""
    code = "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *args,
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"supportbot {' '.join(args)} failed:\n{err.decode()}")
    return out.decode()


class Bot:
    def __init__(self, env: dict[str, str], workdir: Path, port: int) -> None:
        self.env = env
        self.workdir = workdir
        self.port = port
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self, session: aiohttp.ClientSession) -> None:
        self.starts += 1
        with (self.workdir / f"bot-{self.starts}.log").open("wb") as log:
            # cwd is the scratch directory: no .env of the checkout is read.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(ROOT / "app.py"),
                env=self.env,
                cwd=self.workdir,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )
        deadline = time.monotonic() + START_TIMEOUT
        health = f"http://127.0.0.1:{self.port}/healthz"
        while time.monotonic() < deadline:
            if self.process.returncode is not None:
                raise RuntimeError(f"the bot exited at start; see {self.workdir}")
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(health) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.05)
        raise RuntimeError("the bot did not start in time")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


# --- load -------------------------------------------------------------------------------------


@dataclass
class Load:
    verifier: SignatureVerifier
    tried: int = 0
    refused: int = 0  # no answer: the bot was down or died mid-request
    acked: dict[str, int] = field(default_factory=dict)  # subject -> ticket number
    unexpected: list[str] = field(default_factory=list)  # answers that opened nothing

    def request(self, email: str, args: str, subject: str) -> tuple[bytes, dict[str, str]]:
        form = {
            "token": "crash-test",
            "team_id": "T0BENCH",
            "team_domain": "bench",
            "channel_id": "C0CRASH",
            "channel_name": "support",
            "user_id": user_id_for(email),
            "user_name": email.split("@")[0],
            "command": "/ticket",
            "text": f"new {args} {subject}",
            "api_app_id": "A0BENCH",
            "is_enterprise_install": "false",
            "response_url": "http://127.0.0.1:9/response/crash",
            "trigger_id": f"{self.tried}.{int(time.time())}.{secrets.token_hex(16)}",
        }
        body = urlencode(form).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": self.verifier.generate_signature(timestamp=timestamp, body=body)
            or "",
        }
        return body, headers

    async def client(
        self,
        session: aiohttp.ClientSession,
        bot: Bot,
        stop: asyncio.Event,
        number: int,
        run: str,
    ) -> None:
        sequence = 0
        while not stop.is_set():
            email, args = OPENERS[(number + sequence) % len(OPENERS)]
            sequence += 1
            subject = f"crash {run} client {number} request {sequence}"
            body, headers = self.request(email, args, subject)
            self.tried += 1
            try:
                timeout = aiohttp.ClientTimeout(total=10)
                async with session.post(
                    bot.url, data=body, headers=headers, timeout=timeout
                ) as response:
                    text = await response.text()
                    status = response.status
            except (aiohttp.ClientError, TimeoutError, OSError):
                self.refused += 1
                await asyncio.sleep(0.2)  # the bot is down: do not spin
                continue
            answer = json.loads(text).get("text", "") if status == 200 and text else ""
            found = TICKET_REF.search(answer)
            if found:
                self.acked[subject] = int(found[1])
            else:
                self.unexpected.append(f"{status} {answer[:200]}")


# --- checks -------------------------------------------------------------------------------------


@dataclass
class Figures:
    tried: int
    acked: int
    refused: int
    kills: int
    tickets_checked: int
    lost: int
    doubled_tickets: int
    stored_unacked: int
    owed: int
    delivered: int
    duplicates: int
    missing: int
    unexpected_posts: int
    undelivered: int

    def report(self) -> str:
        return "\n".join(
            [
                f"requests tried            {self.tried}",
                f"acknowledged (T-n)        {self.acked}",
                f"no answer (bot down)      {self.refused}",
                f"kills (SIGKILL)           {self.kills}",
                f"tickets checked           {self.tickets_checked}",
                f"lost                      {self.lost}",
                f"opened twice              {self.doubled_tickets}",
                f"stored, never acknowledged {self.stored_unacked}",
                f"notifications owed        {self.owed}",
                f"delivered                 {self.delivered}",
                f"duplicates                {self.duplicates}",
                f"missing                   {self.missing}",
                f"not owed but posted       {self.unexpected_posts}",
                f"still pending or dead     {self.undelivered}",
            ]
        )

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.doubled_tickets == 0
            and self.missing == 0
            and self.undelivered == 0
            and self.unexpected_posts == 0
            and self.duplicates <= self.kills
        )


async def outbox_entries(database_url: str) -> list[dict[str, Any]]:
    store = Store(database_url)
    try:
        async with store.read() as conn:
            return await outbox_db.entries(conn)
    finally:
        await store.dispose()


async def wait_for_drain(database_url: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        entries = await outbox_entries(database_url)
        if all(e["status"] != "pending" for e in entries) or time.monotonic() > deadline:
            return entries
        await asyncio.sleep(1.0)


def expected_message(entry: dict[str, Any]) -> tuple[str, str, str]:
    payload = entry["payload"]
    if entry["method"] == "chat.update":
        return ("chat.update", "", str(payload["text"]))
    channel = payload.get("channel") or user_id_for(str(payload["user_email"]))
    return (entry["method"], str(channel), str(payload["text"]))


def duplicated(entries: list[dict[str, Any]], seen: Counter) -> list[str]:
    """The outbox entries Slack got more than once: ``kind #id`` each."""
    return [f"{e['kind']} #{e['id']}" for e in entries if seen[expected_message(e)] > 1]


def check(
    load: Load, kills: int, exported: dict[str, Any], entries: list[dict[str, Any]], seen: Counter
) -> Figures:
    by_number = {int(t["id"].split("-")[1]): t for t in exported["tickets"]}
    lost = sum(
        1
        for subject, number in load.acked.items()
        if number not in by_number or by_number[number]["subject"] != subject
    )
    subjects = Counter(t["subject"] for t in exported["tickets"])
    doubled = sum(n - 1 for n in subjects.values() if n > 1)
    stored_unacked = sum(1 for s in subjects if s.startswith("crash ") and s not in load.acked)
    owed = Counter(expected_message(e) for e in entries)
    delivered = sum(1 for key in owed if seen[key] >= 1)
    duplicates = sum(max(seen[key] - n, 0) for key, n in owed.items())
    missing = sum(max(n - seen[key], 0) for key, n in owed.items())
    unexpected = sum(n for key, n in seen.items() if key not in owed)
    return Figures(
        tried=load.tried,
        acked=len(load.acked),
        refused=load.refused,
        kills=kills,
        tickets_checked=len(load.acked),
        lost=lost,
        doubled_tickets=doubled,
        stored_unacked=stored_unacked,
        owed=sum(owed.values()),
        delivered=delivered,
        duplicates=duplicates,
        missing=missing,
        unexpected_posts=unexpected,
        undelivered=sum(1 for e in entries if e["status"] != "sent"),
    )


# --- the run ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace) -> Figures:
    rng = random.Random(args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="supportbot-crash-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'crash.db'}"
    recorder = Recorder(args.api_delay)
    api_runner = web.AppRunner(recorder.application(), access_log=None)
    await api_runner.setup()
    api_site = web.TCPSite(api_runner, "127.0.0.1", 0)
    await api_site.start()
    api_port = api_runner.addresses[0][1]
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SLACK_", "SUPPORTBOT_"))
    }
    env.update(
        SLACK_BOT_TOKEN="xoxb-crash-test",
        SLACK_SIGNING_SECRET=SECRET,
        SLACK_API_URL=f"http://127.0.0.1:{api_port}/api/",
        PORT=str(free_port()),
        SUPPORTBOT_DATABASE_URL=database_url,
        PYTHONUNBUFFERED="1",
    )
    print((await supportbot(env, "import", str(DEMO))).strip())
    bot = Bot(env, workdir, int(env["PORT"]))
    load = Load(SignatureVerifier(SECRET))
    kills = 0
    connector = aiohttp.TCPConnector(limit=args.concurrency * 2)
    try:
        async with aiohttp.ClientSession(connector=connector) as session:
            await bot.start(session)
            stop = asyncio.Event()
            run_id = secrets.token_hex(3)
            clients = [
                asyncio.create_task(load.client(session, bot, stop, n, run_id))
                for n in range(args.concurrency)
            ]
            try:
                for _ in range(args.kills):
                    await asyncio.sleep(rng.uniform(0.5, args.max_interval))
                    await bot.kill()
                    kills += 1
                    print(f"kill {kills}: {load.tried} requests so far, {len(load.acked)} acked")
                    await asyncio.sleep(rng.uniform(0.0, 0.5))  # down for a moment
                    await bot.start(session)
                await asyncio.sleep(args.max_interval)
            finally:
                stop.set()
                await asyncio.gather(*clients)
            print("load stopped; waiting for the outbox to drain")
            entries = await wait_for_drain(database_url)
    finally:
        await bot.stop()
        await api_runner.cleanup()
    exported = json.loads(await supportbot(env, "export", "tickets", "--json"))
    figures = check(load, kills, exported, entries, recorder.messages)
    doubled = duplicated(entries, recorder.messages)
    if doubled:
        print(f"sent twice (a kill between Slack's answer and the sent mark): {doubled}")
    if load.unexpected:
        print(f"{len(load.unexpected)} answers without a ticket, e.g. {load.unexpected[:3]}")
    if figures.ok and not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        print(f"logs and database kept in {workdir}")
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3, help="SIGKILLs during the load")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent clients")
    parser.add_argument(
        "--max-interval", type=float, default=3.0, help="longest time between kills (s)"
    )
    parser.add_argument(
        "--api-delay", type=float, default=0.0, help="seconds the fake Slack answers late"
    )
    parser.add_argument("--seed", type=int, default=None, help="for repeatable kill times")
    parser.add_argument(
        "--keep", action="store_true", help="keep the logs and database (kept on failure)"
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(figures.report())
    print("OK: nothing acknowledged was lost" if figures.ok else "FAILED")
    return 0 if figures.ok else 1


if __name__ == "__main__":
    sys.exit(main())
