"""A minimal fake Slack Web API for benchmarks, on loopback.

It knows one Slack user per contact of a dataset (``users.info`` answers their email and
locale), accepts what the bot posts (``chat.*``, ``views.*``, ``conversations.open``,
``response_url`` posts) and counts calls per method; ``GET /stats`` returns the counts.
It validates nothing: correctness is the scenario tests' job, this one only has to be
cheap so that it does not weigh on the measurement.

    python -m bench.fakeapi --port 8901 --dataset data/demo.yml
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import itertools
import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "data" / "demo.yml"
BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0BENCH"
SLACK_LOCALES = {"fr": "fr-FR", "en": "en-US"}


def user_id_for(email: str) -> str:
    """A stable Slack user id for a contact (the same scheme as the local console)."""
    return "U" + hashlib.sha1(email.strip().lower().encode()).hexdigest()[:10].upper()


def users_of(dataset: Path) -> dict[str, dict[str, str]]:
    """Slack users for the contacts of a dataset file: user id -> id, email, name, locale."""
    document = yaml.safe_load(dataset.read_text(encoding="utf-8")) or {}
    users: dict[str, dict[str, str]] = {}
    for contact in document.get("contacts") or []:
        email = str(contact["email"]).lower()
        user_id = user_id_for(email)
        users[user_id] = {
            "id": user_id,
            "email": email,
            "name": str(contact.get("name") or email.split("@")[0]),
            "locale": SLACK_LOCALES.get(str(contact.get("locale") or ""), "en-US"),
        }
    return users


class FakeApi:
    def __init__(self, users: dict[str, dict[str, str]]) -> None:
        self.users = users
        self.by_email = {u["email"]: u for u in users.values()}
        self.calls: Counter[str] = Counter()
        self.ts = itertools.count(1)
        self.view_ids = itertools.count(1)
        # (wall-clock time, channel, text) of each chat.postMessage: the benchmark reads
        # when a ticket's queue post arrived after its ack.
        self.posted: list[tuple[float, str, str]] = []

    def application(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/{method}", self.api)
        app.router.add_get("/api/{method}", self.api)
        app.router.add_post("/response/{name}", self.response_url)
        app.router.add_get("/stats", self.stats)
        app.router.add_get("/posts", self.posts)
        app.router.add_get("/healthz", self.healthz)
        return app

    async def healthz(self, _request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def stats(self, _request: web.Request) -> web.Response:
        return web.json_response(dict(self.calls))

    async def posts(self, request: web.Request) -> web.Response:
        """``chat.postMessage`` calls received since ``?since=<unix time>``."""
        since = float(request.query.get("since", "0"))
        return web.json_response(
            [
                {"at": at, "channel": channel, "text": text}
                for at, channel, text in self.posted
                if at >= since
            ]
        )

    async def response_url(self, _request: web.Request) -> web.Response:
        self.calls["response_url"] += 1
        return web.json_response({"ok": True})

    async def api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] += 1
        received = time.time()
        args: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            body = await request.json()
            if isinstance(body, dict):
                args.update(body)
        elif request.can_read_body:
            args.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        if method == "chat.postMessage":
            self.posted.append((received, str(args.get("channel", "")), str(args.get("text", ""))))
            del self.posted[:-5000]
        return web.json_response(self.answer(method, args))

    def user_json(self, user: dict[str, str]) -> dict[str, Any]:
        return {
            "id": user["id"],
            "team_id": TEAM_ID,
            "name": user["email"].split("@")[0],
            "real_name": user["name"],
            "locale": user["locale"],
            "tz": "Europe/Paris",
            "is_bot": False,
            "profile": {"email": user["email"], "real_name": user["name"]},
        }

    def answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            return {"ok": True, "user_id": BOT_USER_ID, "bot_id": BOT_ID, "team_id": TEAM_ID}
        if method == "users.info":
            user = self.users.get(str(args.get("user")))
            if user is None:
                return {"ok": False, "error": "user_not_found"}
            return {"ok": True, "user": self.user_json(user)}
        if method == "users.lookupByEmail":
            user = self.by_email.get(str(args.get("email", "")).lower())
            if user is None:
                return {"ok": False, "error": "users_not_found"}
            return {"ok": True, "user": self.user_json(user)}
        if method == "conversations.open":
            first = str(args.get("users", "")).split(",")[0]
            return {"ok": True, "channel": {"id": "D" + first[1:]}}
        if method in ("chat.postMessage", "chat.update", "chat.postEphemeral"):
            channel = str(args.get("channel", ""))
            if channel[:1] in ("U", "W"):
                channel = "D" + channel[1:]
            ts = str(args.get("ts") or f"1700000000.{next(self.ts):06d}")
            return {
                "ok": True,
                "channel": channel,
                "ts": ts,
                "message": {"ts": ts, "text": args.get("text", "")},
            }
        if method.startswith("views."):
            view = args.get("view")
            if isinstance(view, str):
                view = json.loads(view)
            view_id = str(args.get("view_id") or f"V{next(self.view_ids):08d}")
            return {"ok": True, "view": {**(view or {}), "id": view_id}}
        return {"ok": False, "error": "unknown_method"}


async def serve(port: int, dataset: Path) -> None:
    api = FakeApi(users_of(dataset))
    runner = web.AppRunner(api.application(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    print(
        f"fake Slack Web API on http://127.0.0.1:{port}/api/ ({len(api.users)} users)", flush=True
    )
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="fake Slack Web API for benchmarks")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dataset", type=Path, default=DEMO)
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.port, args.dataset))
    return 0


if __name__ == "__main__":
    sys.exit(main())
