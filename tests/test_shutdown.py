"""Graceful shutdown: ``supportbot serve`` stops on SIGTERM/SIGINT without losing what it
acknowledged, and exits 0 — in HTTP mode (a real process under load) and in Socket Mode
(the serving loop against a fake Socket Mode server)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from conftest import SIGNING_SECRET, user_id_for
from fakeslack import TEAM_ID, FakeSlack
from slackreq import SlackRequests

from bot.config import Settings
from bot.store import Store
from bot.store import outbox as outbox_db
from bot.store import tickets as tickets_db

ALICE = "alice.martin@acme.example"
EA = "411023871"
TICKET_REF = re.compile(r"\bT-(\d+)\b")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def supportbot() -> str:
    beside = Path(sys.executable).parent / "supportbot"
    assert beside.is_file(), "the supportbot console script is installed with the package"
    return str(beside)


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user(user_id_for(ALICE), ALICE, name="Alice Martin", locale="fr-FR")
        yield server


async def wait_healthy(url: str, process: asyncio.subprocess.Process) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if process.returncode is not None:
                raise AssertionError(f"the bot exited early with {process.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            await asyncio.sleep(0.1)
    raise AssertionError("the bot did not become healthy")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
async def test_a_signal_under_load_loses_nothing_acknowledged(
    demo_store: Store, fake: FakeSlack, tmp_path: Path, signum: int
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SUPPORTBOT_"))}
    env.update(
        SLACK_BOT_TOKEN="xoxb-test",
        SLACK_SIGNING_SECRET=SIGNING_SECRET,
        SLACK_API_URL=fake.api_url,
        PORT=str(port),
        SUPPORTBOT_DATABASE_URL=demo_store.url.render_as_string(hide_password=False),
    )
    # Slow Web API answers keep the outbox worker busy in a round when the signal comes.
    fake.delay("chat.postMessage", 0.2)
    process = await asyncio.create_subprocess_exec(
        supportbot(),
        "serve",
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    acknowledged: list[int] = []
    turned_away = 0
    ten_acknowledged = asyncio.Event()
    try:
        await wait_healthy(f"{base}/healthz", process)
        async with aiohttp.ClientSession() as session:
            requests = SlackRequests(f"{base}/slack/events", SIGNING_SECRET, session, fake)

            async def open_one(n: int) -> bool:
                """Whether the ticket was acknowledged."""
                nonlocal turned_away
                await asyncio.sleep(n * 0.01)
                try:
                    response = await requests.command(
                        "/ticket",
                        f"new sev3 ea:{EA} load ticket {n}",
                        user_id=user_id_for(ALICE),
                    )
                except aiohttp.ClientError:
                    turned_away += 1  # the listener was closed: never acknowledged
                    return False
                if response.status != 200:
                    turned_away += 1
                    return False
                found = TICKET_REF.search(response.json["text"])
                assert found, response.json
                acknowledged.append(int(found.group(1)))
                if len(acknowledged) >= 10:
                    ten_acknowledged.set()
                return True

            load = [asyncio.create_task(open_one(n)) for n in range(60)]
            await asyncio.wait_for(ten_acknowledged.wait(), 60)
            process.send_signal(signum)
            await asyncio.sleep(0.3)
            # Sent once the shutdown began: refused (closed listener, or 503 while draining).
            # (Requests of the load still in flight may be refused meanwhile too.)
            late = [asyncio.create_task(open_one(0)) for _ in range(5)]
            assert not any(await asyncio.gather(*late))
            await asyncio.gather(*load)
        _stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    log = stderr.decode()
    assert process.returncode == 0, log
    assert "shutting down" in log and log.rstrip().endswith("stopped"), log
    assert "Traceback" not in log, log
    assert len(acknowledged) >= 10
    assert len(acknowledged) + turned_away == 65

    async with demo_store.read() as conn:
        stored = {t.id for t in await tickets_db.all_tickets(conn)}
        entries = await outbox_db.entries(conn)
    assert set(acknowledged) <= stored
    # Each acknowledged ticket still owes (or has had) its queue post: nothing dropped.
    owed = {e["ticket_id"] for e in entries if e["kind"] == "queue_post"}
    assert set(acknowledged) <= owed
    assert all(e["status"] in ("pending", "sent") for e in entries)
    # Nothing was claimed and left hanging: a restarted bot can deliver the rest at once.
    assert all(e["claimed_until"] is None for e in entries if e["status"] == "pending")


# --------------------------------------------------------------------------- Socket Mode


class FakeSocketMode:
    """Slack's Socket Mode end: ``apps.connections.open`` hands out this server's URL;
    the test pushes envelopes and reads the acknowledgements back."""

    def __init__(self) -> None:
        self.acks: dict[str, dict[str, Any]] = {}
        self.socket: web.WebSocketResponse | None = None
        self.connected = asyncio.Event()
        self.closed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"ws://127.0.0.1:{self._runner.addresses[0][1]}/link"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.socket = ws
        await ws.send_str(json.dumps({"type": "hello", "num_connections": 1}))
        self.connected.set()
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(message.data)
                self.acks[data["envelope_id"]] = data.get("payload") or {}
        self.closed.set()
        return ws

    async def send_command(self, envelope_id: str, text: str) -> None:
        assert self.socket is not None
        payload = {
            "token": "x",
            "team_id": TEAM_ID,  # the workspace the bot token belongs to
            "team_domain": "test",
            "channel_id": "C0TEST",
            "channel_name": "support",
            "user_id": user_id_for(ALICE),
            "user_name": "alice",
            "command": "/ticket",
            "text": text,
            "api_app_id": "A0TEST",
            "response_url": "http://127.0.0.1:9/response",
            "trigger_id": f"trigger-{envelope_id}",
        }
        await self.socket.send_str(
            json.dumps(
                {
                    "envelope_id": envelope_id,
                    "type": "slash_commands",
                    "payload": payload,
                    "accepts_response_payload": True,
                }
            )
        )


async def test_socket_mode_stops_on_a_signal_after_acknowledging_what_it_took(
    demo_store: Store, fake: FakeSlack
) -> None:
    from handlers.app import serve

    server = FakeSocketMode()
    await server.start()
    fake.stub("apps.connections.open", {"ok": True, "url": server.url})
    port = free_port()
    settings = Settings(
        bot_token="xoxb-test",
        signing_secret=None,
        app_token="xapp-test",
        api_url=fake.api_url,
        port=port,
        database_url=demo_store.url.render_as_string(hide_password=False),
        default_locale="en",
        port_set=True,
    )
    stop = asyncio.Event()
    running = asyncio.create_task(serve(settings, stop=stop))
    try:
        await asyncio.wait_for(server.connected.wait(), 20)
        # health and metrics on PORT, beside the socket
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
            for n in range(5):
                await server.send_command(f"env-{n}", f"new sev3 ea:{EA} socket ticket {n}")
            await asyncio.sleep(0.05)
            os.kill(os.getpid(), signal.SIGTERM)  # serve() handles it: no test process exit
            await asyncio.wait_for(running, 30)
            with pytest.raises(aiohttp.ClientError):
                async with session.get(f"http://127.0.0.1:{port}/healthz"):
                    pass
    finally:
        stop.set()
        if not running.done():
            running.cancel()
        await server.stop()
    assert server.closed.is_set()
    refs = {
        int(m.group(1))
        for ack in server.acks.values()
        if (m := TICKET_REF.search(str(ack.get("text", ""))))
    }
    async with demo_store.read() as conn:
        stored = {t.id for t in await tickets_db.all_tickets(conn)}
    assert refs and refs <= stored
    assert len(server.acks) == 5, server.acks
