"""Routing a request to its listener (handlers.dispatch.Routes) picks what Bolt's own
loop over the listeners would pick, and calls it with the same arguments: the first
listener, in order of registration, whose tests pass and whose listener middleware lets
it run, among those registered with the request's name and those registered with a
pattern."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.kwargs_injection.async_utils import build_async_required_kwargs
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse

from handlers import dispatch
from handlers.dispatch import _ARGUMENTS, Routes


def command(name: str, text: str = "") -> dict[str, Any]:
    return {
        "command": name,
        "text": text,
        "team_id": "T1",
        "user_id": "U1",
        "channel_id": "C1",
        "trigger_id": "1.2.3",
        "response_url": "http://127.0.0.1:9/response",
    }


def action(action_id: str) -> dict[str, Any]:
    return {
        "type": "block_actions",
        "team": {"id": "T1"},
        "user": {"id": "U1", "team_id": "T1"},
        "channel": {"id": "C1"},
        "actions": [{"action_id": action_id, "value": "v"}],
        "response_url": "http://127.0.0.1:9/response",
        "trigger_id": "1.2.4",
    }


def event(kind: str) -> dict[str, Any]:
    return {
        "type": "event_callback",
        "team_id": "T1",
        "event_id": "Ev1",
        "event": {"type": kind, "user": "U1", "channel": "C1", "text": "hi", "ts": "1.0"},
    }


def build(routed: bool) -> tuple[AsyncApp, list[str]]:
    """An app whose listeners record who answered; ``routed``: behind Routes."""

    async def authorize(**_kwargs: Any) -> AuthorizeResult:  # no Web API call
        return AuthorizeResult(enterprise_id=None, team_id="T1", bot_token="xoxb-test")

    app = AsyncApp(
        authorize=authorize,
        signing_secret="",
        request_verification_enabled=False,
        process_before_response=True,
        raise_error_for_unhandled_request=False,
    )
    calls: list[str] = []
    registry = dispatch.prefiltered(app)

    def answer(name: str) -> Any:
        async def listener(ack: AsyncAck, body: dict[str, Any]) -> None:
            calls.append(name)
            await ack(text=name)

        listener.__name__ = name
        return listener

    async def only_marked(body: dict[str, Any]) -> bool:
        return "mark" in str(body.get("text", ""))

    async def keep_out(next: Any, body: dict[str, Any]) -> None:
        if "out" not in str(body.get("text", "")):
            await next()

    async def say_no(body: dict[str, Any]) -> BoltResponse | None:
        if "no" in str(body.get("text", "")):
            return BoltResponse(status=200, body=json.dumps({"text": "middleware said no"}))
        return None

    async def refuse(next: Any, body: dict[str, Any]) -> BoltResponse | None:
        refusal = await say_no(body)
        if refusal is not None:
            return refusal
        await next()
        return None

    registry.command(re.compile(r"^/any"))(answer("pattern-first"))
    registry.command("/ea", matchers=[only_marked])(answer("ea-marked"))
    registry.command("/ea", middleware=[keep_out])(answer("ea-unless-out"))
    registry.command("/ea", middleware=[refuse])(answer("ea-after-middleware"))
    registry.command("/ea")(answer("ea-last"))
    registry.action("go")(answer("go"))
    registry.action(re.compile(r"^pick\.\d+$"))(answer("pick"))

    @registry.event("app_mention")
    async def mention(event: dict[str, Any], context: AsyncBoltContext) -> None:
        calls.append(f"mention:{event['text']}:{context.channel_id}")

    if routed:
        dispatch.route(app)
    return app, calls


async def answered(app: AsyncApp, body: dict[str, Any]) -> tuple[int, str]:
    request = AsyncBoltRequest(
        body=json.dumps(body), headers={"content-type": ["application/json"]}
    )
    response = await app.async_dispatch(request)
    return response.status, response.body


REQUESTS = [
    command("/ea", "mark"),
    command("/ea", "plain"),
    command("/ea", "out"),
    command("/ea", "out no"),
    command("/ea", "no"),
    command("/anything"),
    command("/unknown"),
    action("go"),
    action("pick.12"),
    action("pick.x"),
    event("app_mention"),
    event("reaction_added"),
    {
        "type": "view_submission",
        "view": {"type": "modal", "callback_id": "nobody"},
        "user": {"id": "U1"},
    },
]


@pytest.mark.parametrize("body", REQUESTS, ids=lambda b: json.dumps(b)[:60])
async def test_routes_answer_as_bolts_own_loop_does(body: dict[str, Any]) -> None:
    plain, plain_calls = build(routed=False)
    routed, routed_calls = build(routed=True)
    assert len(routed._async_listeners) == 1 and isinstance(routed._async_listeners[0], Routes)
    assert await answered(routed, body) == await answered(plain, body)
    assert routed_calls == plain_calls


async def test_the_listener_registered_first_wins() -> None:
    app, calls = build(routed=True)
    assert (await answered(app, command("/ea", "mark")))[1] == "ea-marked"
    assert (await answered(app, command("/ea", "out")))[1] == "ea-after-middleware"
    assert (await answered(app, command("/ea", "out no")))[1] == json.dumps(
        {"text": "middleware said no"}
    )
    assert calls == ["ea-marked", "ea-after-middleware"]


async def test_a_request_tries_only_the_listeners_that_can_answer_it() -> None:
    app, _calls = build(routed=True)
    (routes,) = app._async_listeners
    assert isinstance(routes, Routes)
    names = [r.listener.ack_function.__name__ for r in routes._candidates(command("/ea"))]
    assert names == [
        "pattern-first",
        "ea-marked",
        "ea-unless-out",
        "ea-after-middleware",
        "ea-last",
    ]
    names = [r.listener.ack_function.__name__ for r in routes._candidates(action("pick.3"))]
    assert names == ["pick"]  # no action is named so: the patterns of actions alone
    names = [r.listener.ack_function.__name__ for r in routes._candidates(action("go"))]
    assert names == ["go", "pick"]


async def test_arguments_are_those_bolt_would_give() -> None:
    """Each name a listener may ask for has the value Bolt's injection gives it."""
    app, _calls = build(routed=True)
    (routes,) = app._async_listeners
    assert isinstance(routes, Routes)
    listener = routes.routes[-1].listener
    for body in REQUESTS:
        request = AsyncBoltRequest(body=json.dumps(body), headers={})
        app._init_context(request)
        response = BoltResponse(status=200, body="")
        bolts = build_async_required_kwargs(
            logger=listener.logger,  # type: ignore[attr-defined]
            required_arg_names=list(_ARGUMENTS),
            request=request,
            response=response,
            this_func=listener.ack_function,
        )
        for name, read in _ARGUMENTS.items():
            ours = read(request, response, listener)  # type: ignore[arg-type]
            assert ours is bolts[name] or ours == bolts[name], name
