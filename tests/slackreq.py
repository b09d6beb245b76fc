"""Signed Slack requests (slash commands, interactions, events) for driving the real Bolt
app over HTTP, shaped like what Slack sends.

    slack = SlackRequests(f"{app_url}/slack/events", SIGNING_SECRET, session, fake)
    resp = await slack.command("/ticket", "show T-1", user_id="U0ALICE")
    assert resp.status == 200 and resp.json["response_type"] == "ephemeral"
"""

from __future__ import annotations

import itertools
import json
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
from fakeslack import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID, FakeSlack
from slack_sdk.signature import SignatureVerifier

# Deprecated verification token Slack still sends; Bolt ignores it.
VERIFICATION_TOKEN = "legacy-verification-token"


@dataclass
class Response:
    status: int
    json: Any | None
    text: str
    # Name of the fake's response URL handed to Slack-style payloads, for
    # `fake.responses(name)`; None when no response URL was sent.
    response_name: str | None = None


class SlackRequests:
    def __init__(
        self,
        base_url: str,
        signing_secret: str,
        session: aiohttp.ClientSession,
        fake: FakeSlack | None = None,
    ) -> None:
        self.base_url = base_url
        self.session = session
        self.fake = fake
        self._verifier = SignatureVerifier(signing_secret)
        self._seq = itertools.count(1)

    # ------------------------------------------------------------------ signing

    def sign(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Slack's signature headers for `body` (now, unless `timestamp` is given)."""
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = self._verifier.generate_signature(timestamp=ts, body=body)
        assert signature is not None
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def raw(self, body: bytes, headers: dict[str, str]) -> Response:
        """Posts `body` with exactly these headers (no signing), e.g. to test refusals."""
        async with self.session.post(self.base_url, data=body, headers=headers) as resp:
            text = await resp.text()
            payload = None
            if resp.content_type == "application/json" and text.strip():
                payload = json.loads(text)
            return Response(status=resp.status, json=payload, text=text)

    async def _post(
        self,
        body: bytes,
        content_type: str,
        *,
        timestamp: int | None = None,
        headers: dict[str, str] | None = None,
        response_name: str | None = None,
    ) -> Response:
        all_headers = {"Content-Type": content_type, **self.sign(body, timestamp)}
        all_headers.update(headers or {})
        response = await self.raw(body, all_headers)
        response.response_name = response_name
        return response

    async def _post_form(
        self, form: dict[str, str], *, response_name: str | None = None, **kwargs: Any
    ) -> Response:
        body = urlencode(form).encode()
        return await self._post(
            body, "application/x-www-form-urlencoded", response_name=response_name, **kwargs
        )

    # ------------------------------------------------------------ payload parts

    def _trigger_id(self) -> str:
        return f"{next(self._seq)}.{int(time.time())}.{secrets.token_hex(16)}"

    def _response_url(self, kind: str) -> tuple[str, str | None]:
        name = f"{kind}-{next(self._seq)}"
        if self.fake is None:
            # Nothing listens there: a handler that uses it fails loudly.
            return f"https://hooks.slack.invalid/{name}", None
        return self.fake.response_url(name), name

    def _user_name(self, user_id: str) -> str:
        if self.fake is not None:
            user = self.fake.users.get(user_id)
            if user is not None:
                return str(user["handle"])
        return user_id.lower()

    def _user(self, user_id: str, team_id: str) -> dict[str, str]:
        name = self._user_name(user_id)
        return {"id": user_id, "username": name, "name": name, "team_id": team_id}

    @staticmethod
    def _channel_name(channel_id: str) -> str:
        return "directmessage" if channel_id.startswith("D") else "support"

    # ----------------------------------------------------------------- requests

    async def command(
        self,
        command: str,
        text: str,
        *,
        user_id: str,
        channel_id: str = "C0TEST",
        team_id: str = TEAM_ID,
        trigger_id: str | None = None,
        headers: dict[str, str] | None = None,
        timestamp: int | None = None,
        enterprise_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> Response:
        """A slash command, form-encoded and signed like Slack sends it (from a
        workspace of ``enterprise_id`` on Enterprise Grid, when given)."""
        response_url, name = self._response_url(command.lstrip("/"))
        grid = {"enterprise_id": enterprise_id} if enterprise_id else {}
        form = {
            **grid,
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": self._channel_name(channel_id),
            "user_id": user_id,
            "user_name": self._user_name(user_id),
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "true" if is_enterprise_install else "false",
            "response_url": response_url,
            "trigger_id": trigger_id or self._trigger_id(),
        }
        return await self._post_form(form, response_name=name, headers=headers, timestamp=timestamp)

    async def block_action(
        self,
        user_id: str,
        action_id: str,
        value: str | dict[str, Any] | None,
        *,
        block_id: str = "b",
        message: dict[str, Any] | None = None,
        view: dict[str, Any] | None = None,
        container: dict[str, Any] | None = None,
        response_url: bool = True,
        channel_id: str = "C0TEST",
        team_id: str = TEAM_ID,
    ) -> Response:
        """A `block_actions` interaction. `value` is a button's value, or a dict merged
        into the action (e.g. `{"type": "static_select", "selected_option": {...}}`).
        With `view`, the action comes from a modal or the Home tab; otherwise from a
        message (`message`, in `channel_id`)."""
        action: dict[str, Any] = {
            "type": "button",
            "action_id": action_id,
            "block_id": block_id,
            "action_ts": f"{time.time():.6f}",
        }
        if isinstance(value, dict):
            action.update(value)
        elif value is not None:
            action["value"] = value
        payload: dict[str, Any] = {
            "type": "block_actions",
            "token": VERIFICATION_TOKEN,
            "api_app_id": APP_ID,
            "team": {"id": team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id, team_id),
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": self._trigger_id(),
            "actions": [action],
            "state": {"values": {}},
        }
        name = None
        if view is not None:
            payload["view"] = view
            payload["container"] = container or {
                "type": "view",
                "view_id": view.get("id"),
            }
        else:
            message = message or {
                "type": "message",
                "user": BOT_USER_ID,
                "bot_id": BOT_ID,
                "ts": "1700000000.000100",
                "text": "",
            }
            payload["message"] = message
            payload["channel"] = {"id": channel_id, "name": self._channel_name(channel_id)}
            payload["container"] = container or {
                "type": "message",
                "message_ts": message.get("ts"),
                "channel_id": channel_id,
                "is_ephemeral": False,
            }
            if response_url:
                payload["response_url"], name = self._response_url("action")
        return await self._post_form({"payload": json.dumps(payload)}, response_name=name)

    async def view_submission(
        self,
        user_id: str,
        callback_id: str,
        state_values: dict[str, dict[str, Any]],
        *,
        private_metadata: str = "",
        view_id: str | None = None,
        hash: str | None = None,
        team_id: str = TEAM_ID,
    ) -> Response:
        """A modal submission. `state_values` is `{block_id: {action_id: value}}` where a
        plain string stands for a plain_text_input's value and a dict is sent as is.
        When the fake opened the view `view_id`, its title and blocks are reused."""
        view_id = view_id or f"V{secrets.token_hex(5).upper()}"
        opened = self.fake.views.get(view_id, {}) if self.fake is not None else {}
        values = {
            block: {
                action: ({"type": "plain_text_input", "value": v} if isinstance(v, str) else v)
                for action, v in actions.items()
            }
            for block, actions in state_values.items()
        }
        view = {
            "id": view_id,
            "team_id": team_id,
            "type": "modal",
            "title": opened.get("title", {"type": "plain_text", "text": "Form"}),
            "blocks": opened.get("blocks", []),
            "private_metadata": private_metadata,
            "callback_id": callback_id,
            "state": {"values": values},
            "hash": hash or f"{int(time.time())}.{secrets.token_hex(4)}",
            "clear_on_close": False,
            "notify_on_close": False,
            "root_view_id": view_id,
            "previous_view_id": None,
            "app_id": APP_ID,
            "external_id": "",
            "bot_id": BOT_ID,
        }
        payload: dict[str, Any] = {
            "type": "view_submission",
            "token": VERIFICATION_TOKEN,
            "api_app_id": APP_ID,
            "team": {"id": team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id, team_id),
            "enterprise": None,
            "is_enterprise_install": False,
            "trigger_id": self._trigger_id(),
            "view": view,
            "response_urls": [],
        }
        return await self._post_form({"payload": json.dumps(payload)})

    async def event(
        self,
        event: dict[str, Any],
        *,
        retry_num: int | None = None,
        retry_reason: str | None = None,
        event_id: str | None = None,
        team_id: str = TEAM_ID,
        shared: bool = False,
        enterprise_id: str | None = None,
        is_enterprise_install: bool = False,
    ) -> Response:
        """An Events API `event_callback`. Pass the same `event_id` with `retry_num` to
        replay a delivery the way Slack retries it."""
        now = int(time.time())
        envelope = {
            **({"enterprise_id": enterprise_id} if enterprise_id else {}),
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "api_app_id": APP_ID,
            "event": {"event_ts": f"{now}.000100", **event},
            "type": "event_callback",
            "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
            "event_time": now,
            "authorizations": [
                {
                    "enterprise_id": enterprise_id,
                    "team_id": None if is_enterprise_install else team_id,
                    "user_id": BOT_USER_ID,
                    "is_bot": True,
                    "is_enterprise_install": is_enterprise_install,
                }
            ],
            "is_ext_shared_channel": shared,
        }
        headers = {}
        if retry_num is not None:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = retry_reason or "http_timeout"
        body = json.dumps(envelope).encode()
        return await self._post(body, "application/json", headers=headers)

    # ------------------------------------------------------------ message events

    async def message(
        self,
        channel: str,
        user_id: str,
        text: str,
        *,
        thread_ts: str | None = None,
        subtype: str | None = None,
        event_type: str = "message",
        ts: str | None = None,
        user_team: str | None = None,
        **kwargs: Any,
    ) -> tuple[Response, dict[str, Any]]:
        """Someone writes in `channel` (in the thread `thread_ts`): the fake learns the
        message (for conversations.history) and the app gets its `message` event (or
        `app_mention` with `event_type`). Returns the answer and the message."""
        assert self.fake is not None, "message events need the fake Web API"
        message = self.fake.add_message(channel, user_id, text, ts=ts, thread_ts=thread_ts)
        event: dict[str, Any] = {
            "type": event_type,
            "channel": channel,
            "user": user_id,
            "text": text,
            "ts": message["ts"],
            "team": user_team or TEAM_ID,
            "channel_type": "im" if channel.startswith("D") else "channel",
        }
        if user_team is not None:  # an external member of a Slack Connect channel
            event["user_team"] = user_team
            kwargs.setdefault("shared", True)
        if thread_ts is not None:
            event["thread_ts"] = thread_ts
        if subtype is not None:
            event["subtype"] = subtype
        return await self.event(event, **kwargs), message

    async def reaction(
        self, user_id: str, channel: str, ts: str, *, reaction: str = "ticket", **kwargs: Any
    ) -> Response:
        """`reaction_added` on the message `ts` of `channel`."""
        event = {
            "type": "reaction_added",
            "user": user_id,
            "reaction": reaction,
            "item": {"type": "message", "channel": channel, "ts": ts},
            "event_ts": f"{time.time():.6f}",
        }
        return await self.event(event, **kwargs)

    async def message_shortcut(
        self,
        user_id: str,
        callback_id: str,
        channel_id: str,
        message: dict[str, Any],
        *,
        team_id: str = TEAM_ID,
    ) -> Response:
        """A message shortcut (`message_action`) on `message` of `channel_id`."""
        response_url, name = self._response_url("shortcut")
        payload: dict[str, Any] = {
            "type": "message_action",
            "token": VERIFICATION_TOKEN,
            "action_ts": f"{time.time():.6f}",
            "team": {"id": team_id, "domain": TEAM_DOMAIN},
            "user": self._user(user_id, team_id),
            "channel": {"id": channel_id, "name": self._channel_name(channel_id)},
            "is_enterprise_install": False,
            "enterprise": None,
            "callback_id": callback_id,
            "trigger_id": self._trigger_id(),
            "response_url": response_url,
            "message_ts": message["ts"],
            "message": message,
        }
        return await self._post_form({"payload": json.dumps(payload)}, response_name=name)
