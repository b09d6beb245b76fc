"""A fake Slack Web API on loopback, for scenario tests.

It answers the Web API methods the bot uses, receives `response_url` posts, records
every call, and checks each `blocks`/`view` payload with `slack_sdk.models` the way
Slack would reject it. Faults (HTTP 500, 429 with Retry-After, `ok: false`, slow
answers) can be injected per method to exercise retries.

    async with FakeSlack() as fake:
        fake.add_user("U0ALICE", "alice@acme.example", name="Alice Martin")
        client = AsyncWebClient(token="xoxb-test", base_url=fake.api_url)
        ...
        await fake.wait_for(lambda c: c.method == "chat.postMessage")
        fake.assert_no_errors()
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import itertools
import json
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

BOT_USER_ID = "UBOT"
BOT_ID = "BBOT"
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "partners"
APP_ID = "A0SUPPORT"

# Slack's own limits that slack_sdk.models do not check.
MESSAGE_TEXT_MAX = 40_000
MESSAGE_BLOCKS_MAX = 50
# Arguments Slack accepts as a JSON string inside a form-encoded body.
JSON_FIELDS = ("blocks", "attachments", "view", "metadata")

REQUIRED_ARGS: dict[str, tuple[str, ...]] = {
    "users.info": ("user",),
    "users.lookupByEmail": ("email",),
    "chat.postMessage": ("channel",),
    "chat.postEphemeral": ("channel", "user"),
    "chat.update": ("channel", "ts"),
    "chat.delete": ("channel", "ts"),
    "views.open": ("view",),
    "views.push": ("view",),
    "views.update": ("view",),
    "views.publish": ("user_id", "view"),
    "conversations.history": ("channel",),
    "conversations.replies": ("channel", "ts"),
}


@dataclass
class Call:
    """One request the fake received: the Web API method (or `response_url:<name>`)
    and its arguments, merged from the query string, form fields and JSON body."""

    method: str
    args: dict[str, Any]
    # The bearer token used; left out of equality so tests can compare method and args.
    token: str | None = field(default=None, compare=False, repr=False)
    # When it arrived (time.perf_counter()), for benchmarks.
    received_at: float = field(default_factory=time.perf_counter, compare=False, repr=False)
    # The client's end of the TCP connection it came on ("host:port"), to tell a kept
    # connection from a new one.
    connection: str | None = field(default=None, compare=False, repr=False)
    # HTTP basic credentials ("id:secret"), as oauth.v2.access gets the app's.
    basic_auth: str | None = field(default=None, compare=False, repr=False)


@dataclass
class Installation:
    """A workspace (or an Enterprise Grid org, org-wide) that installs the app: what
    `oauth.v2.access` answers for its code, and whose ids `auth.test` gives its tokens."""

    code: str
    team: str | None
    enterprise: str | None
    bot_token: str
    bot_user: str
    bot_id: str
    refresh_token: str | None
    expires_in: int | None
    is_enterprise_install: bool
    installer: str
    # Every bot token handed out for it (the first, then each refresh), newest last.
    tokens: list[str] = field(default_factory=list)


@dataclass
class _Fault:
    status: int
    error: str
    retry_after: int | None


class FakeSlack:
    """A loopback HTTP server speaking the parts of the Slack Web API the bot uses.

    `calls` holds every request that was answered normally (including those answered
    `ok: false` because they were invalid, which also land in `errors`); requests hit by
    `fail_next` are kept apart in `faulted`, so `posts()` counts real deliveries.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.faulted: list[Call] = []
        self.errors: list[str] = []
        # Views as returned by views.*, by view id, so interaction payloads can reuse them.
        self.views: dict[str, dict[str, Any]] = {}
        # Workspace members by user id: id, email, handle, real_name, locale, tz.
        self.users: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._stubs: dict[str, dict[str, Any]] = {}
        self._ts = itertools.count(1)
        # Messages of each channel (people's, added by tests, and the bot's own posts),
        # for conversations.history and conversations.replies.
        self.messages: dict[str, list[dict[str, Any]]] = {}
        self._view_ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # OAuth: installations by code; once one is added, unknown tokens are refused.
        self.installations: dict[str, Installation] = {}
        self._refreshes = itertools.count(1)

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_post("/response/{name}", self._handle_response_url)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeSlack:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        if self._port is None:
            raise RuntimeError("FakeSlack is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """Base URL for `AsyncWebClient(base_url=...)` (ends with a slash)."""
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        """A `response_url` on this server; posts to it are recorded as `response_url:<name>`."""
        return f"{self.base_url}/response/{name}"

    # ------------------------------------------------------------- configuration

    def add_user(
        self,
        user_id: str,
        email: str | None,
        *,
        name: str | None = None,
        locale: str = "en-US",
        tz: str = "Europe/Paris",
        team: str = TEAM_ID,
    ) -> None:
        """Adds a workspace member that `users.info` and `users.lookupByEmail` know.
        ``email=None``: a person whose email Slack does not show (an external member of
        a Slack Connect channel who hides it); ``team``: their own workspace."""
        handle = (email or user_id.lower()).split("@", 1)[0]
        self.users[user_id] = {
            "id": user_id,
            "team": team,
            "email": email,
            "handle": handle,
            "real_name": name or handle,
            "locale": locale,
            "tz": tz,
        }

    def add_installation(
        self,
        *,
        code: str,
        team: str | None,
        enterprise: str | None = None,
        bot_token: str,
        bot_user: str = BOT_USER_ID,
        refresh_token: str | None = None,
        expires_in: int | None = None,
        is_enterprise_install: bool = False,
        installer: str = "U0INSTALLER",
    ) -> Installation:
        """An install `oauth.v2.access` completes for `code`. From the first one on,
        a call with a token no installation was given is refused (`invalid_auth`)."""
        installation = Installation(
            code=code,
            team=team,
            enterprise=enterprise,
            bot_token=bot_token,
            bot_user=bot_user,
            bot_id="B" + bot_user[1:],
            refresh_token=refresh_token,
            expires_in=expires_in,
            is_enterprise_install=is_enterprise_install,
            installer=installer,
            tokens=[bot_token],
        )
        self.installations[code] = installation
        return installation

    def revoke(self, installation: Installation) -> None:
        """The workspace uninstalled the app: its tokens are refused from now on."""
        installation.tokens.clear()

    def installation_of(self, token: str | None) -> Installation | None:
        return next((i for i in self.installations.values() if token in i.tokens), None)

    def tokens_of(self, method: str) -> list[str | None]:
        """The token each call to `method` carried, in order."""
        return [call.token for call in self.calls_to(method)]

    @staticmethod
    def dm_channel(user_id: str) -> str:
        """The direct-message channel `conversations.open` returns for one user."""
        return "D" + user_id[1:]

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        retry_after: int | None = None,
        times: int = 1,
        error: str | None = None,
    ) -> None:
        """Makes the next `times` calls to `method` fail instead of being served.

        - default: HTTP 500 (`fatal_error`);
        - `status=429`: HTTP 429 `ratelimited` with a Retry-After header (`retry_after`
          seconds, 1 when not given);
        - `error="channel_not_found"` alone: HTTP 200 with `{"ok": false, "error": …}`.
        `method` may also be `response_url:<name>`.
        """
        if status is None:
            status = 200 if error is not None else 500
        if status == 429 and retry_after is None:
            retry_after = 1
        default_error = {200: "internal_error", 429: "ratelimited"}.get(status, "fatal_error")
        fault = _Fault(status=status, error=error or default_error, retry_after=retry_after)
        self._faults.setdefault(method, deque()).extend(fault for _ in range(times))

    def heal(self) -> None:
        """Slack is back: the faults still queued by `fail_next` are dropped."""
        self._faults.clear()

    def delay(self, method: str, seconds: float) -> None:
        """Answers every later call to `method` only after `seconds` (0 removes the delay).

        The call is served (and recorded) before the wait, like a Slack that handled the
        request but whose answer came too late for the client.
        """
        if seconds > 0:
            self._delays[method] = seconds
        else:
            self._delays.pop(method, None)

    def stub(self, method: str, response: dict[str, Any]) -> None:
        """Answers `method` with this JSON body (for methods the fake does not emulate)."""
        self._stubs[method] = response

    def add_message(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
    ) -> dict[str, Any]:
        """A message someone wrote in `channel` (in the thread `thread_ts`), as
        conversations.history and conversations.replies then return it."""
        message: dict[str, Any] = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts or self._next_ts(),
            "team": TEAM_ID,
        }
        if thread_ts is not None:
            message["thread_ts"] = thread_ts
        self.messages.setdefault(channel, []).append(message)
        return message

    def thread(self, channel: str, thread_ts: str) -> list[Call]:
        """The bot's `chat.postMessage` calls in one thread, in order."""
        return [
            c
            for c in self.posts()
            if self._channel_of(str(c.args.get("channel"))) == channel
            and c.args.get("thread_ts") == thread_ts
        ]

    def clear(self) -> None:
        """Forgets recorded calls, faulted calls and errors (users, faults and stubs stay)."""
        self.calls.clear()
        self.faulted.clear()
        self.errors.clear()

    # ------------------------------------------------------------------ queries

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    def posts(self, channel: str | None = None) -> list[Call]:
        """`chat.postMessage` calls, optionally only those sent to `channel`."""
        return [
            c
            for c in self.calls_to("chat.postMessage")
            if channel is None or c.args.get("channel") == channel
        ]

    def responses(self, name: str | None = None) -> list[Call]:
        """Posts to response URLs, optionally only to `response_url(name)`."""
        if name is not None:
            return self.calls_to(f"response_url:{name}")
        return [c for c in self.calls if c.method.startswith("response_url:")]

    async def wait_for(
        self,
        predicate: Callable[[Call], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - a test-facing deadline, failing as an assertion
    ) -> Call:
        """Returns the first recorded call matching `predicate`, waiting for it if needed
        (deliveries made after the ack, by the outbox worker)."""
        deadline = time.monotonic() + timeout
        while True:
            for call in self.calls:
                if predicate(call):
                    return call
            if time.monotonic() >= deadline:
                seen = ", ".join(c.method for c in self.calls) or "none"
                raise AssertionError(f"no matching call within {timeout}s; calls received: {seen}")
            await asyncio.sleep(0.01)

    def assert_no_errors(self) -> None:
        assert not self.errors, "Slack would have rejected:\n" + "\n".join(self.errors)

    # ------------------------------------------------------------------ serving

    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        call = Call(method, await _read_args(request), _bearer_token(request))
        call.basic_auth = _basic_auth(request)
        peer = request.transport.get_extra_info("peername") if request.transport else None
        call.connection = f"{peer[0]}:{peer[1]}" if peer else None
        return await self._serve(call, self._answer_api)

    async def _handle_response_url(self, request: web.Request) -> web.Response:
        call = Call(f"response_url:{request.match_info['name']}", await _read_args(request))
        return await self._serve(call, self._answer_response_url)

    async def _serve(
        self, call: Call, answer: Callable[[Call], tuple[int, dict[str, Any]]]
    ) -> web.Response:
        faults = self._faults.get(call.method)
        if faults:
            fault = faults.popleft()
            self.faulted.append(call)
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(fault.retry_after)
            return web.json_response(
                {"ok": False, "error": fault.error}, status=fault.status, headers=headers
            )
        self.calls.append(call)
        status, body = answer(call)
        if "_detail" in body:
            # A request Slack would refuse is a bug in the caller, not a normal answer
            # such as users.info's user_not_found.
            self.errors.append(f"{call.method}: {body['error']}: {body.pop('_detail')}")
        delay = self._delays.get(call.method)
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status)

    def _answer_response_url(self, call: Call) -> tuple[int, dict[str, Any]]:
        problems = list(_check_message(call.args))
        if problems:
            return 400, _rejected("invalid_blocks", problems)
        return 200, {"ok": True}

    def _answer_api(self, call: Call) -> tuple[int, dict[str, Any]]:
        method, args = call.method, call.args
        if method in self._stubs:
            return 200, dict(self._stubs[method])
        if method == "oauth.v2.access":
            return 200, self._oauth_v2_access(args, call.basic_auth)
        if self.installations and self.installation_of(call.token or args.get("token")) is None:
            return 200, {"ok": False, "error": "invalid_auth"}
        if not call.token and not args.get("token"):
            return 200, _rejected("not_authed", ["no token in Authorization header or args"])
        missing = [name for name in REQUIRED_ARGS.get(method, ()) if not args.get(name)]
        if missing:
            return 200, _rejected("invalid_arguments", [f"missing {', '.join(missing)}"])
        if method == "auth.test":
            return 200, self._auth_test(args, call.token)
        handler = _ANSWERS.get(method)
        if handler is None:
            return 200, _rejected("unknown_method", ["not emulated by FakeSlack (see stub())"])
        return 200, handler(self, args)

    # ------------------------------------------------------------- the methods

    def _oauth_v2_access(self, args: dict[str, Any], basic_auth: str | None) -> dict[str, Any]:
        """The code grant of the install flow, or the refresh grant of token rotation.
        The app's credentials come as HTTP basic auth (or client_id/client_secret)."""
        if not basic_auth and not (args.get("client_id") and args.get("client_secret")):
            return {"ok": False, "error": "invalid_client_id"}
        if args.get("grant_type") == "refresh_token":
            found = next(
                (
                    i
                    for i in self.installations.values()
                    if i.refresh_token and i.refresh_token == args.get("refresh_token")
                ),
                None,
            )
            if found is None or not found.tokens:
                return {"ok": False, "error": "invalid_refresh_token"}
            number = next(self._refreshes)
            found.tokens.append(f"{found.bot_token}-refreshed-{number}")
            found.refresh_token = f"{found.refresh_token}-{number}"
            return {
                "ok": True,
                "access_token": found.tokens[-1],
                "token_type": "bot",
                "refresh_token": found.refresh_token,
                "expires_in": 43_200,  # a fresh token lasts twelve hours, as Slack's do
                "team": {"id": found.team} if found.team else None,
                "enterprise": {"id": found.enterprise} if found.enterprise else None,
            }
        installation = self.installations.get(str(args.get("code") or ""))
        if installation is None:
            return {"ok": False, "error": "invalid_code"}
        body: dict[str, Any] = {
            "ok": True,
            "app_id": APP_ID,
            "authed_user": {"id": installation.installer},
            "scope": "commands,chat:write",
            "token_type": "bot",
            "access_token": installation.bot_token,
            "bot_user_id": installation.bot_user,
            "team": {"id": installation.team, "name": f"Team {installation.team}"}
            if installation.team
            else None,
            "enterprise": {"id": installation.enterprise, "name": "Grid"}
            if installation.enterprise
            else None,
            "is_enterprise_install": installation.is_enterprise_install,
        }
        if installation.refresh_token:
            body["refresh_token"] = installation.refresh_token
            body["expires_in"] = installation.expires_in or 43_200
        return body

    def _auth_test(self, args: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        installation = self.installation_of(token or args.get("token"))
        if installation is not None:
            return {
                "ok": True,
                "url": f"https://{installation.team or installation.enterprise}.slack.com/",
                "team": f"Team {installation.team}",
                "user": "supportbot",
                "team_id": installation.team,
                "enterprise_id": installation.enterprise,
                "user_id": installation.bot_user,
                "bot_id": installation.bot_id,
                "is_enterprise_install": installation.is_enterprise_install,
            }
        return {
            "ok": True,
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Partners",
            "user": "supportbot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _user_json(self, user: dict[str, Any], *, with_locale: bool) -> dict[str, Any]:
        offset = datetime.now(ZoneInfo(user["tz"])).utcoffset()
        body: dict[str, Any] = {
            "id": user["id"],
            "team_id": user["team"],
            "name": user["handle"],
            "deleted": False,
            "real_name": user["real_name"],
            "tz": user["tz"],
            "tz_offset": int(offset.total_seconds()) if offset is not None else 0,
            "is_bot": False,
            "profile": {
                "real_name": user["real_name"],
                "display_name": user["real_name"],
            },
        }
        if user["email"] is not None:
            body["profile"]["email"] = user["email"]
        if with_locale:
            body["locale"] = user["locale"]
        return body

    def _users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(args["user"])
        if user is None:
            return {"ok": False, "error": "user_not_found"}
        with_locale = _truthy(args.get("include_locale"))
        return {"ok": True, "user": self._user_json(user, with_locale=with_locale)}

    def _users_lookup_by_email(self, args: dict[str, Any]) -> dict[str, Any]:
        email = str(args["email"]).lower()
        for user in self.users.values():
            if user["email"] is not None and user["email"].lower() == email:
                return {"ok": True, "user": self._user_json(user, with_locale=False)}
        return {"ok": False, "error": "users_not_found"}

    def _conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if args.get("channel"):
            return {"ok": True, "channel": {"id": args["channel"]}}
        users = [u for u in str(args.get("users", "")).split(",") if u]
        if not users:
            return _rejected("users_list_not_supplied", ["neither users nor channel given"])
        unknown = [u for u in users if u not in self.users]
        if unknown:
            return _rejected("user_not_found", [f"unknown users {unknown}"])
        if len(users) == 1:
            channel = self.dm_channel(users[0])
        else:
            digest = hashlib.sha1(",".join(sorted(users)).encode()).hexdigest()
            channel = "G" + digest[:10].upper()
        return {"ok": True, "no_op": True, "already_open": True, "channel": {"id": channel}}

    def _next_ts(self) -> str:
        n = next(self._ts)
        return f"{1_700_000_000 + n // 10_000}.{(n % 10_000) * 100:06d}"

    def _channel_of(self, channel: str) -> str:
        # Posting to a user id lands in the bot's DM with that user.
        return self.dm_channel(channel) if channel[:1] in ("U", "W") else channel

    def _chat_message(self, args: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
            "text": args.get("text", ""),
        }
        if args.get("blocks"):
            message["blocks"] = args["blocks"]
        return message

    def _chat_post_message(self, args: dict[str, Any]) -> dict[str, Any]:
        rejected = _check_chat(args)
        if rejected:
            return rejected
        ts = self._next_ts()
        channel = self._channel_of(args["channel"])
        message = self._chat_message(args, ts)
        if args.get("thread_ts"):
            message["thread_ts"] = args["thread_ts"]
        self.messages.setdefault(channel, []).append(message)
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_post_ephemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        return _check_chat(args) or {"ok": True, "message_ts": self._next_ts()}

    def _chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        rejected = _check_chat(args, require_content=False)
        if rejected:
            return rejected
        return {
            "ok": True,
            "channel": self._channel_of(args["channel"]),
            "ts": args["ts"],
            "text": args.get("text", ""),
            "message": self._chat_message(args, args["ts"]),
        }

    def _chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "channel": self._channel_of(args["channel"]), "ts": args["ts"]}

    def _conversations_history(self, args: dict[str, Any]) -> dict[str, Any]:
        latest = float(args.get("latest") or "inf")
        inclusive = _truthy(args.get("inclusive"))
        limit = int(args.get("limit") or 100)
        found = [
            m
            for m in self.messages.get(str(args["channel"]), [])
            if m.get("thread_ts") in (None, m["ts"])
            and (float(m["ts"]) < latest or (inclusive and float(m["ts"]) == latest))
        ]
        found.sort(key=lambda m: float(m["ts"]), reverse=True)
        return {"ok": True, "messages": found[:limit], "has_more": len(found) > limit}

    def _conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        parent = str(args["ts"])
        found = [
            m
            for m in self.messages.get(str(args["channel"]), [])
            if m["ts"] == parent or m.get("thread_ts") == parent
        ]
        if not found:
            return {"ok": False, "error": "thread_not_found"}
        found.sort(key=lambda m: float(m["ts"]))
        return {"ok": True, "messages": found, "has_more": False}

    def _views(self, args: dict[str, Any], *, kinds: tuple[str, ...]) -> dict[str, Any]:
        view = args["view"]
        problems = list(_check_view(view, kinds))
        if problems:
            return _rejected("invalid_arguments", problems)
        view_id = args.get("view_id") or f"V{next(self._view_ids):08d}"
        answered = {
            **view,
            "id": view_id,
            "team_id": TEAM_ID,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
            "hash": f"{int(time.time())}.{view_id}",
            "state": {"values": {}},
            "root_view_id": view_id,
            "previous_view_id": None,
        }
        self.views[view_id] = answered
        return {"ok": True, "view": answered}

    def _views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (args.get("trigger_id") or args.get("interactivity_pointer")):
            return _rejected("invalid_arguments", ["views.open needs a trigger_id"])
        return self._views(args, kinds=("modal",))

    def _views_push(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (args.get("trigger_id") or args.get("interactivity_pointer")):
            return _rejected("invalid_arguments", ["views.push needs a trigger_id"])
        return self._views(args, kinds=("modal",))

    def _views_update(self, args: dict[str, Any]) -> dict[str, Any]:
        if not (args.get("view_id") or args.get("external_id")):
            return _rejected("invalid_arguments", ["views.update needs view_id or external_id"])
        return self._views(args, kinds=("modal", "home"))

    def _views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        return self._views(args, kinds=("home",))


_ANSWERS: dict[str, Callable[[FakeSlack, dict[str, Any]], dict[str, Any]]] = {
    "auth.test": FakeSlack._auth_test,
    "users.info": FakeSlack._users_info,
    "users.lookupByEmail": FakeSlack._users_lookup_by_email,
    "conversations.open": FakeSlack._conversations_open,
    "chat.postMessage": FakeSlack._chat_post_message,
    "chat.postEphemeral": FakeSlack._chat_post_ephemeral,
    "chat.update": FakeSlack._chat_update,
    "chat.delete": FakeSlack._chat_delete,
    "conversations.history": FakeSlack._conversations_history,
    "conversations.replies": FakeSlack._conversations_replies,
    "views.open": FakeSlack._views_open,
    "views.push": FakeSlack._views_push,
    "views.update": FakeSlack._views_update,
    "views.publish": FakeSlack._views_publish,
}


# ---------------------------------------------------------------- request parsing


async def _read_args(request: web.Request) -> dict[str, Any]:
    args: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        raw = await request.text()
        if raw.strip():
            body = json.loads(raw)
            if isinstance(body, dict):
                args.update(body)
    elif request.can_read_body:
        for key, value in (await request.post()).items():
            args[key] = value.file.read() if isinstance(value, web.FileField) else value
    for key in JSON_FIELDS:
        raw_value = args.get(key)
        if isinstance(raw_value, str) and raw_value.strip():
            # Undecodable JSON stays a string, which the block checks then reject.
            with contextlib.suppress(json.JSONDecodeError):
                args[key] = json.loads(raw_value)
    return args


def _bearer_token(request: web.Request) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme == "Bearer" else None


def _basic_auth(request: web.Request) -> str | None:
    scheme, _, encoded = request.headers.get("Authorization", "").partition(" ")
    if scheme != "Basic" or not encoded.strip():
        return None
    return base64.b64decode(encoded.strip()).decode("utf-8", "replace")


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in ("1", "true")


def _rejected(error: str, problems: list[str]) -> dict[str, Any]:
    # `_detail` marks a refusal to report in FakeSlack.errors; it never goes over the wire.
    return {"ok": False, "error": error, "_detail": "; ".join(problems)}


# -------------------------------------------------------------- Block Kit checks


def _check_chat(args: dict[str, Any], *, require_content: bool = True) -> dict[str, Any] | None:
    """Slack's answer to an unacceptable chat.* message, or None when it is fine."""
    text = args.get("text")
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        return _rejected("msg_too_long", [f"text has {len(text)} characters"])
    problems = list(_check_message(args))
    if problems:
        return _rejected("invalid_blocks", problems)
    if require_content and not (text or args.get("blocks") or args.get("attachments")):
        return _rejected("no_text", ["neither text, blocks nor attachments"])
    return None


def _check_message(args: dict[str, Any]) -> Iterator[str]:
    text = args.get("text")
    if isinstance(text, str) and len(text) > MESSAGE_TEXT_MAX:
        yield f"text has {len(text)} characters (max {MESSAGE_TEXT_MAX})"
    if "blocks" in args:
        yield from _check_blocks(args["blocks"], limit=MESSAGE_BLOCKS_MAX)


def _check_blocks(blocks: Any, *, limit: int) -> Iterator[str]:
    if not isinstance(blocks, list):
        yield f"blocks must be a JSON array, got {type(blocks).__name__}"
        return
    if len(blocks) > limit:
        yield f"{len(blocks)} blocks (max {limit})"
    seen: set[str] = set()
    for i, raw in enumerate(blocks):
        where = f"blocks[{i}]"
        if not isinstance(raw, dict):
            yield f"{where}: not an object"
            continue
        block_id = raw.get("block_id")
        if block_id is not None:
            if block_id in seen:
                yield f"{where}: duplicate block_id {block_id!r}"
            seen.add(block_id)
        try:
            block = Block.parse(raw)
            if block is None:
                yield f"{where}: unknown block type {raw.get('type')!r}"
                continue
            built = block.to_dict()
        except Exception as exc:  # slack_sdk raises several types for malformed input
            yield f"{where}: {exc}"
            continue
        yield from _dropped_fields(raw, built, where)
        yield from _mrkdwn_misplaced(raw, where)


def _check_view(view: Any, kinds: tuple[str, ...]) -> Iterator[str]:
    if not isinstance(view, dict):
        yield "view must be a JSON object"
        return
    if view.get("type") not in kinds:
        yield f"view type {view.get('type')!r} (expected {' or '.join(kinds)})"
    if view.get("type") == "modal":
        if not view.get("title"):
            yield "a modal needs a title"
        has_inputs = any(
            isinstance(b, dict) and b.get("type") == "input" for b in view.get("blocks") or []
        )
        if has_inputs and not view.get("submit"):
            yield "a modal with input blocks needs a submit button"
    try:
        built = View(**view).to_dict()
    except Exception as exc:  # slack_sdk raises several types for malformed input
        yield f"view: {exc}"
        return
    blocks = view.get("blocks", [])
    yield from (f"view.{p}" for p in _check_blocks(blocks, limit=View.blocks_max_length))
    outer = {k: v for k, v in view.items() if k != "blocks"}
    yield from _dropped_fields(outer, built, "view")
    yield from _mrkdwn_misplaced(outer, "view")


# Text objects Slack accepts only as plain_text (slack_sdk lets mrkdwn through).
PLAIN_TEXT_KEYS = frozenset({"placeholder", "label", "title", "submit", "close", "hint"})
PLAIN_TEXT_CONTAINERS = frozenset({"header", "button"})


def _mrkdwn_misplaced(node: Any, where: str) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            plain_only = key in PLAIN_TEXT_KEYS or (
                key == "text" and node.get("type") in PLAIN_TEXT_CONTAINERS
            )
            if plain_only and isinstance(value, dict) and value.get("type") == "mrkdwn":
                yield f"{where}.{key}: must be a plain_text object"
            yield from _mrkdwn_misplaced(value, f"{where}.{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _mrkdwn_misplaced(item, f"{where}[{i}]")


def _dropped_fields(sent: Any, built: Any, where: str) -> Iterator[str]:
    """What slack_sdk ignored or rewrote while parsing (unknown fields, a string where an
    object belongs, a text type it had to change): Slack refuses such payloads."""
    if isinstance(sent, dict) and isinstance(built, dict):
        for key, value in sent.items():
            if value is None:
                continue
            if key not in built:
                yield f"{where}.{key}: not a Block Kit field here (or empty)"
            else:
                yield from _dropped_fields(value, built[key], f"{where}.{key}")
    elif isinstance(sent, list) and isinstance(built, list) and len(sent) == len(built):
        for i, (a, b) in enumerate(zip(sent, built, strict=True)):
            yield from _dropped_fields(a, b, f"{where}[{i}]")
    elif sent != built:
        yield f"{where}: {_short(sent)} is not valid here (Block Kit expects {_short(built)})"


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."
