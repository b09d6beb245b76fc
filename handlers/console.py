"""The local playground: the same Bolt app, in-process, no Slack needed.

Type slash commands as a contact, read the replies as text, and see what the bot posts
to channels and direct messages. A small in-process stand-in for the Web API answers
the bot's calls from the store (who is who) and shows its posts.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Callable
from typing import Any, TextIO
from urllib.parse import urlencode

from aiohttp import web
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.web.async_client import AsyncWebClient

from bot.outbox import OutboxWorker
from bot.store import directory as directory_db
from handlers.app import build_app
from handlers.services import Services

TEAM_ID = "T0LOCAL"


def slack_user_id_for(email: str) -> str:
    """A stable made-up Slack user id for a contact in the console."""
    return "U" + hashlib.sha1(email.strip().lower().encode()).hexdigest()[:10].upper()


class LocalSlack:
    """A loopback stand-in for the Web API: answers the methods the bot uses from the
    contacts of the store and shows what the bot posts. Bolt makes a Web API client per
    request, so only a real HTTP endpoint reaches every one of them."""

    def __init__(self, services: Services, on_call: Callable[[str, dict[str, Any]], None]) -> None:
        self.services = services
        self.on_call = on_call
        self.emails: dict[str, str] = {}
        self.ts = 0
        self.runner: web.AppRunner | None = None
        self.base_url = ""

    def know(self, email: str) -> str:
        user_id = slack_user_id_for(email)
        self.emails[user_id] = email
        return user_id

    async def start(self) -> None:
        application = web.Application()
        application.router.add_route("*", "/api/{method}", self._handle)
        application.router.add_post("/response", self._handle_response)
        self.runner = web.AppRunner(application, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}/"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def api_url(self) -> str:
        return self.base_url + "api/"

    @property
    def response_url(self) -> str:
        return self.base_url + "response"

    async def _args(self, request: web.Request) -> dict[str, Any]:
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            args.update(await request.json())
        else:
            args.update(await request.post())
        for name in ("blocks", "view"):
            if isinstance(args.get(name), str):
                args[name] = json.loads(args[name])
        return args

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await self._args(request)
        answer = await self._answer(method, args)
        if method not in ("users.info", "users.lookupByEmail", "auth.test", "conversations.open"):
            self.on_call(method, args)
        return web.json_response(answer)

    async def _handle_response(self, request: web.Request) -> web.Response:
        self.on_call("response_url", await self._args(request))
        return web.Response(text="ok")

    async def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": "UBOT", "bot_id": "BBOT", "team_id": TEAM_ID}
        if method == "users.info":
            email = self.emails.get(str(args.get("user")))
            if email is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": {"id": args["user"], "profile": {"email": email}}}
        if method == "users.lookupByEmail":
            async with self.services.store.read() as conn:
                known = await directory_db.get_contact(conn, email=str(args.get("email", "")))
            if known is None:
                return {"ok": False, "error": "users_not_found"}
            return {
                "ok": True,
                "user": {"id": self.know(known.email), "profile": {"email": known.email}},
            }
        if method == "conversations.open":
            return {"ok": True, "channel": {"id": "D" + str(args.get("users", "X"))[1:]}}
        self.ts += 1
        ts = f"1700000000.{self.ts:06d}"
        if method.startswith("views."):
            return {"ok": True, "view": {"id": f"V{self.ts:08d}", **(args.get("view") or {})}}
        return {"ok": True, "channel": args.get("channel"), "ts": args.get("ts") or ts}


# Slack markup the console shows the way Slack would: dates and links by their label,
# entities as the characters they stand for.
_LABELLED = re.compile(r"<(?:!date\^[^|>]*|[^|<>]+)\|([^<>]*)>")


def readable(text: str) -> str:
    text = _LABELLED.sub(r"\1", text)
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def blocks_as_text(blocks: list[dict[str, Any]] | None) -> list[str]:
    """Block Kit as readable lines: sections, fields, buttons listed."""
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(f"== {block['text']['text']} ==")
        elif kind == "section":
            if block.get("text"):
                lines.append(block["text"]["text"])
            for field in block.get("fields") or []:
                lines.append(f"  · {field['text']}")
            accessory = block.get("accessory")
            if accessory and accessory.get("type") == "button":
                lines.append(f"  [{accessory['text']['text']}]")
        elif kind == "context":
            lines.append("  " + " · ".join(e.get("text", "") for e in block.get("elements", [])))
        elif kind == "actions":
            labels = [
                e["text"]["text"] for e in block.get("elements", []) if e.get("type") == "button"
            ]
            others = [
                e.get("type", "") for e in block.get("elements", []) if e.get("type") != "button"
            ]
            lines.append("  " + " ".join(f"[{label}]" for label in labels + others))
        elif kind == "divider":
            lines.append("  ----")
        elif kind == "input":
            lines.append(f"  ▸ {block.get('label', {}).get('text', '')}")
    return lines


class Console:
    def __init__(self, services: Services, *, out: TextIO = sys.stdout) -> None:
        self.services = services
        self.out = out
        self.slack = LocalSlack(services, self._show_call)
        self.email: str | None = None

    async def start(self) -> None:
        await self.slack.start()
        self.client = AsyncWebClient(token="xoxb-local-console", base_url=self.slack.api_url)
        self.app = build_app(self.services, client=self.client, verify_requests=False)
        self.worker = OutboxWorker(
            self.services.store, self.client, worker_id="console", clock=self.services.clock
        )

    async def stop(self) -> None:
        await self.slack.stop()

    def say(self, text: str = "") -> None:
        print(readable(text), file=self.out, flush=True)

    def _show_call(self, method: str, args: dict[str, Any]) -> None:
        if method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            email = self.slack.emails.get(channel)
            where = f"DM to {email}" if email else f"#{channel}"
            self.say(f"  ⇢ {where}: {args.get('text', '')}")
        elif method == "chat.update":
            self.say(f"  ⇢ updated message in #{args.get('channel')}: {args.get('text', '')}")
        elif method in ("views.open", "views.push", "views.update"):
            view = args.get("view") or {}
            if isinstance(view, str):
                view = json.loads(view)
            self.say(f"  ⇢ opens a form: {view.get('title', {}).get('text', '')}")
            for line in blocks_as_text(view.get("blocks")):
                self.say(f"     {line}")
            self.say("     (forms open in Slack; here, use the one-line form of the command)")
        elif method == "response_url":
            for line in blocks_as_text(args.get("blocks")) or [str(args.get("text", ""))]:
                self.say(f"  ⇠ {line}")
        elif method == "views.publish":
            self.say("  ⇢ App Home refreshed")
        else:
            self.say(f"  ⇢ {method}")

    async def switch(self, email: str) -> bool:
        async with self.services.store.read() as conn:
            contact = await directory_db.get_contact(conn, email=email)
        if contact is None:
            self.say(
                f"No contact {email}. Contacts are loaded from the dataset (supportbot import)."
            )
            return False
        self.email = contact.email
        self.slack.know(contact.email)
        self.say(f"You are now {contact.name} <{contact.email}>.")
        return True

    async def command(self, line: str) -> dict[str, Any] | None:
        if self.email is None:
            self.say("Choose who you are first: as <email>")
            return None
        name, _, text = line.strip().partition(" ")
        body = {
            "token": "console",
            "team_id": TEAM_ID,
            "team_domain": "local",
            "channel_id": "C0CONSOLE",
            "channel_name": "console",
            "user_id": self.slack.know(self.email),
            "user_name": self.email.split("@")[0],
            "command": name,
            "text": text.strip(),
            "api_app_id": "A0LOCAL",
            "response_url": self.slack.response_url,
            "trigger_id": f"console.{uuid.uuid4().hex}",
        }
        request = AsyncBoltRequest(
            body=urlencode(body), headers={"content-type": ["application/x-www-form-urlencoded"]}
        )
        response = await self.app.async_dispatch(request)
        payload: dict[str, Any] | None = None
        if response.body:
            try:
                payload = json.loads(response.body)
            except ValueError:
                payload = {"text": response.body}
        if response.status == 404 or payload is None:
            self.say(f"  (no answer for {name}: try /supportbot help)")
        else:
            lines = blocks_as_text(payload.get("blocks")) or [payload.get("text", "")]
            for out_line in lines:
                self.say(out_line)
        await asyncio.sleep(0.05)  # let the listener finish what it does after the ack
        await self.deliver()
        return payload

    async def deliver(self) -> None:
        for _ in range(20):
            if await self.worker.run_once() == 0:
                break

    async def run(self, stream: TextIO, *, interactive: bool) -> None:
        self.say(
            "Partner Support console. Type a slash command, `as <email>` to change person, `quit` to leave."
        )
        while True:
            if interactive:
                print(f"{self.email or '?'}> ", end="", file=self.out, flush=True)
            line = await asyncio.get_running_loop().run_in_executor(None, stream.readline)
            if not line:
                break
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line in ("quit", "exit"):
                break
            if line.startswith("as "):
                await self.switch(line[3:].strip())
            elif line.startswith("/"):
                await self.command(line)
            else:
                self.say("Type a slash command such as /supportbot help, or `as <email>`.")
