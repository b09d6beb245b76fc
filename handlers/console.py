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

from bot import parser
from bot.domain import ChannelRole, OrgKind, ThreadSide
from bot.errors import UserError
from bot.outbox import OutboxWorker
from bot.store import directory as directory_db
from bot.store import threads as threads_db
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
        channel = str(args.get("channel") or "")
        if channel[:1] in ("U", "W"):
            channel = "D" + channel[1:]  # a post to a person lands in the bot's DM with them
        return {"ok": True, "channel": channel, "ts": args.get("ts") or ts}

    def next_ts(self) -> str:
        self.ts += 1
        return f"1700000000.{self.ts:06d}"


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
        # Shared channels by a readable name: #<customer>-support, #<partner>-<vendor>,
        # and the queues as #<org>-queue (filled from the store at start).
        self.channels: dict[str, str] = {}
        self.channel_names: dict[str, str] = {}

    async def start(self) -> None:
        await self.slack.start()
        self.client = AsyncWebClient(token="xoxb-local-console", base_url=self.slack.api_url)
        self.app = build_app(self.services, client=self.client, verify_requests=False)
        self.worker = OutboxWorker(
            self.services.store, self.client, worker_id="console", clock=self.services.clock
        )
        await self.load_channels()

    async def load_channels(self) -> None:
        async with self.services.store.read() as conn:
            links = await threads_db.list_channels(conn)
            orgs = await directory_db.list_organizations(conn)
            vendors = await directory_db.list_vendors(conn)
        names: dict[str, str] = {}
        for org in orgs:
            if org.queue_channel:
                names[f"{org.id}-queue"] = org.queue_channel
        for vendor in vendors:
            if vendor.queue_channel:
                names[f"{vendor.id}-queue"] = vendor.queue_channel
        for link in links:
            if link.role is ChannelRole.CUSTOMER:
                names[f"{link.org}-support"] = link.channel
            else:
                names[f"{link.partner}-{link.org}"] = link.channel
        self.channels = names
        self.channel_names = {channel: name for name, channel in names.items()}

    async def stop(self) -> None:
        await self.slack.stop()

    def say(self, text: str = "") -> None:
        print(readable(text), file=self.out, flush=True)

    def _show_call(self, method: str, args: dict[str, Any]) -> None:
        if method == "chat.postMessage":
            channel = str(args.get("channel", ""))
            email = self.slack.emails.get(channel)
            where = f"DM to {email}" if email else f"#{self.channel_names.get(channel, channel)}"
            if args.get("thread_ts"):
                where += f" (thread {args['thread_ts']})"
            self.say(f"  ⇢ {where}: {args.get('text', '')}")
        elif method == "chat.update":
            channel = str(args.get("channel", ""))
            where = self.channel_names.get(channel, channel)
            self.say(f"  ⇢ updated message in #{where}: {args.get('text', '')}")
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

    async def post_message(self, line: str) -> None:
        """``say #channel <text…>``: write a top-level message in a channel
        (``@supportbot`` names the bot)."""
        if self.email is None:
            self.say("Choose who you are first: as <email>")
            return
        name, _, text = line.strip().partition(" ")
        channel = self.channels.get(name.lstrip("#"), name.lstrip("#"))
        if not text.strip():
            self.say("Usage: say #channel <text…>, e.g. say #acme-support @supportbot sev2 …")
            return
        await self._message_event(channel, text, thread_ts=None)

    async def reply_in_thread(self, line: str) -> None:
        """``reply T-<n> <text…>``: write in the ticket's thread of your organization
        (the customer's, the partner's queue post, or the vendor's)."""
        if self.email is None:
            self.say("Choose who you are first: as <email>")
            return
        ref, _, text = line.strip().partition(" ")
        try:
            ticket_id = parser.ticket_id(ref)
        except UserError:
            ticket_id = None
        if ticket_id is None or not text.strip():
            self.say("Usage: reply T-<n> <text…> (in your organization's thread of the ticket)")
            return
        async with self.services.store.read() as conn:
            contact = await directory_db.get_contact(conn, email=self.email)
            org = await directory_db.get_organization(conn, id=contact.org) if contact else None
            found = await threads_db.threads_of(conn, ticket_id=ticket_id)
        side = (
            {
                OrgKind.CUSTOMER: ThreadSide.CUSTOMER,
                OrgKind.PARTNER: ThreadSide.PARTNER,
                OrgKind.VENDOR: ThreadSide.VENDOR,
            }[org.kind]
            if org
            else None
        )
        thread = found.get(side) if side else None
        if thread is None or thread.ts is None:
            self.say(f"  (T-{ticket_id} has no thread of yours yet)")
            return
        await self._message_event(thread.channel, text, thread_ts=thread.ts)

    async def _message_event(self, channel: str, text: str, *, thread_ts: str | None) -> None:
        assert self.email is not None
        text = text.strip().replace("@supportbot", "<@UBOT>")
        ts = self.slack.next_ts()
        event: dict[str, Any] = {
            "type": "message",
            "channel": channel,
            "user": self.slack.know(self.email),
            "text": text,
            "ts": ts,
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        if thread_ts:
            event["thread_ts"] = thread_ts
        envelope = {
            "token": "console",
            "team_id": TEAM_ID,
            "api_app_id": "A0LOCAL",
            "type": "event_callback",
            "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": 0,
            "event": event,
        }
        where = f"#{self.channel_names.get(channel, channel)}"
        self.say(f"  ⇠ you in {where}{' (thread ' + thread_ts + ')' if thread_ts else ''}, ts {ts}")
        request = AsyncBoltRequest(
            body=json.dumps(envelope), headers={"content-type": ["application/json"]}
        )
        await self.app.async_dispatch(request)
        await asyncio.sleep(0.2)  # the listener runs after Slack's ack
        await self.deliver()

    async def deliver(self) -> None:
        for _ in range(20):
            if await self.worker.run_once() == 0:
                break

    async def run(self, stream: TextIO, *, interactive: bool) -> None:
        self.say(
            "Partner Support console. Type a slash command, `as <email>` to change person, "
            "`say #channel <text…>` to write in a channel (e.g. #acme-support), "
            "`reply T-<n> <text…>` to write in a ticket's thread, `quit` to leave."
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
            elif line.startswith("say "):
                await self.post_message(line[4:])
            elif line.startswith("reply "):
                await self.reply_in_thread(line[6:])
            else:
                self.say(
                    "Type a slash command such as /supportbot help, `as <email>`, "
                    "`say #channel <text…>` or `reply T-<n> <text…>`."
                )
