"""A relay owed when the bot is killed (SIGKILL) during a Web API outage reaches its
thread once the bot is started again and Slack is back: the real bot, ``python app.py``
in HTTP mode, against the fake Web API, with signed events."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
import pytest
from conftest import ROOT, SIGNING_SECRET, user_id_for
from fakeslack import BOT_USER_ID, FakeSlack
from slackreq import SlackRequests

from bot.store import Store
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db

ALICE = "alice.martin@acme.example"
ACME_CH, NUAGE_Q = "C0ACMESUPPORT", "C0NUAGEQ"
START_TIMEOUT = 30.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class BotProcess:
    def __init__(self, database_url: str, fake: FakeSlack) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "SLACK_BOT_TOKEN": "xoxb-crash",
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": fake.api_url,
            "PORT": str(self.port),
            "SUPPORTBOT_DATABASE_URL": database_url,
        }
        self.env.pop("SLACK_APP_TOKEN", None)
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/slack/events"

    async def start(self) -> None:
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(ROOT / "app.py"),
            env=self.env,
            cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as resp:
                        if resp.status == 200:
                            return
                await asyncio.sleep(0.1)
        raise AssertionError("the bot did not start")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await asyncio.wait_for(self.process.wait(), 10)

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 10)
            except TimeoutError:
                await self.kill()


@pytest.fixture
async def fake(demo_store: Store) -> AsyncIterator[FakeSlack]:
    server = FakeSlack()
    await server.start()
    async with demo_store.read() as conn:
        for contact in await directory_db.list_contacts(conn):
            server.add_user(user_id_for(contact.email), contact.email, name=contact.name)
    yield server
    await server.stop()


async def wait_until(
    predicate: Callable[[], Awaitable[bool]],
    timeout: float = 30.0,  # noqa: ASYNC109 - a test's deadline, failing as an assertion
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_a_relay_owed_at_a_kill_9_arrives_once_after_the_restart(
    demo_store: Store, fake: FakeSlack
) -> None:
    bot = BotProcess(str(demo_store.url.render_as_string(hide_password=False)), fake)
    await bot.start()
    try:
        async with aiohttp.ClientSession() as session:
            slack = SlackRequests(bot.url, SIGNING_SECRET, session, fake)
            response, message = await slack.message(
                ACME_CH,
                user_id_for(ALICE),
                f"<@{BOT_USER_ID}> sev2 ea:411023871 product:vsphere vMotion fails",
            )
            assert response.status == 200
            ts = str(message["ts"])

            async def queue_posted() -> bool:
                return bool(fake.thread(ACME_CH, ts)) and any(
                    not c.args.get("thread_ts") for c in fake.posts(NUAGE_Q)
                )

            await wait_until(queue_posted)
            # Slack goes down; the customer replies; the relay cannot be delivered.
            fake.fail_next("chat.postMessage", status=500, times=10_000)
            response, _ = await slack.message(
                ACME_CH, user_id_for(ALICE), "Here is the vmkernel log", thread_ts=ts
            )
            assert response.status == 200

            async def relay_attempted() -> bool:
                return any("vmkernel log" in str(c.args.get("text")) for c in fake.faulted)

            await wait_until(relay_attempted)
            await asyncio.sleep(0.5)  # the failed attempt is recorded, its claim released
            await bot.kill()
            async with demo_store.read() as conn:
                pending = [
                    e
                    for e in await outbox_db.entries(conn, status="pending")
                    if "vmkernel log" in str(e["payload"].get("text"))
                ]
            assert len(pending) == 1, "the relay is owed, not lost"
            fake.heal()  # Slack is back
            await bot.start()

            async def relayed() -> bool:
                return any("vmkernel log" in str(c.args.get("text")) for c in fake.posts(NUAGE_Q))

            await wait_until(relayed, timeout=60.0)
            await asyncio.sleep(1.0)
            copies = [c for c in fake.posts(NUAGE_Q) if "vmkernel log" in str(c.args.get("text"))]
            assert len(copies) == 1
            assert copies[0].args.get("thread_ts"), "posted in the partner thread"
    finally:
        await bot.stop()
    fake.assert_no_errors()
