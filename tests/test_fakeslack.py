"""The Slack test harness on its own: the fake Web API seen through slack_sdk, and signed
requests against a bare Bolt app served over aiohttp."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from fakeslack import Call, FakeSlack
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, SectionBlock
from slack_sdk.models.views import View
from slack_sdk.web.async_client import AsyncWebClient
from slackreq import SlackRequests

SECRET = "test-signing-secret"
TOKEN = "xoxb-test-token"


@pytest.fixture
async def fake() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as server:
        server.add_user("U0ALICE", "alice@acme.example", name="Alice Martin", locale="fr-FR")
        yield server


@pytest.fixture
def client(fake: FakeSlack) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=fake.api_url)


def valid_blocks() -> list[dict[str, Any]]:
    return [
        SectionBlock(block_id="summary", text="*T-1* opened").to_dict(),
        ActionsBlock(
            block_id="acts", elements=[ButtonElement(text="Take", action_id="take", value="1")]
        ).to_dict(),
    ]


# --------------------------------------------------------------------- Web API


async def test_auth_test(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.auth_test()
    assert (resp["user_id"], resp["bot_id"], resp["team_id"]) == ("UBOT", "BBOT", "T0TEAM")
    assert resp["url"].startswith("https://")
    assert fake.calls_to("auth.test")[0].token == TOKEN


async def test_users_info_follows_include_locale(client: AsyncWebClient, fake: FakeSlack) -> None:
    plain = await client.users_info(user="U0ALICE")
    user = plain["user"]
    assert user["id"] == "U0ALICE"
    assert user["profile"]["email"] == "alice@acme.example"
    assert user["real_name"] == user["profile"]["real_name"] == "Alice Martin"
    assert user["tz"] == "Europe/Paris" and user["tz_offset"] in (3600, 7200)
    assert "locale" not in user

    with_locale = await client.users_info(user="U0ALICE", include_locale=True)
    assert with_locale["user"]["locale"] == "fr-FR"
    assert fake.calls_to("users.info")[1].args == {"user": "U0ALICE", "include_locale": "1"}


async def test_users_info_unknown_user(client: AsyncWebClient, fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.users_info(user="U0NOBODY")
    assert raised.value.response["error"] == "user_not_found"
    # A normal Slack answer, not a malformed request.
    fake.assert_no_errors()


async def test_conversations_open(client: AsyncWebClient, fake: FakeSlack) -> None:
    resp = await client.conversations_open(users="U0ALICE")
    assert resp["channel"]["id"] == fake.dm_channel("U0ALICE") == "D0ALICE"
    assert fake.calls_to("conversations.open") == [Call("conversations.open", {"users": "U0ALICE"})]


async def test_post_message_with_valid_blocks(client: AsyncWebClient, fake: FakeSlack) -> None:
    first = await client.chat_postMessage(
        channel="C0QUEUE", text="T-1 opened", blocks=valid_blocks()
    )
    second = await client.chat_postMessage(channel="U0ALICE", text="Your ticket T-1 was opened")
    assert first["ts"] == "1700000000.000100"
    assert float(second["ts"]) > float(first["ts"])
    assert second["channel"] == "D0ALICE"

    assert [c.args["text"] for c in fake.posts()] == ["T-1 opened", "Your ticket T-1 was opened"]
    [queued] = fake.posts("C0QUEUE")
    assert queued.args["blocks"] == valid_blocks()
    fake.assert_no_errors()


async def test_blocks_sent_as_json_string_are_decoded(
    client: AsyncWebClient, fake: FakeSlack
) -> None:
    # Form-encoded like older clients do: blocks arrive as a JSON string.
    await client.api_call(
        "chat.postMessage",
        data={"channel": "C0QUEUE", "text": "x", "blocks": '[{"type": "divider"}]'},
    )
    assert fake.posts()[0].args["blocks"] == [{"type": "divider"}]
    fake.assert_no_errors()


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        ({"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}, "3000"),
        ({"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "color": "red"}, "color"),
        ({"type": "header", "text": {"type": "mrkdwn", "text": "x"}}, "plain_text"),
        ({"type": "carousel_of_doom"}, "unknown block type"),
    ],
)
async def test_post_message_with_invalid_blocks(
    client: AsyncWebClient, fake: FakeSlack, block: dict[str, Any], problem: str
) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0QUEUE", text="x", blocks=[block])
    assert raised.value.response["error"] == "invalid_blocks"
    assert len(fake.posts()) == 1
    [error] = fake.errors
    assert error.startswith("chat.postMessage: invalid_blocks") and problem in error
    with pytest.raises(AssertionError, match="Slack would have rejected"):
        fake.assert_no_errors()


async def test_message_limits(client: AsyncWebClient, fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as too_long:
        await client.chat_postMessage(channel="C0QUEUE", text="x" * 40_001)
    assert too_long.value.response["error"] == "msg_too_long"
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(SlackApiError) as crowded:
        await client.chat_postMessage(channel="C0QUEUE", text="x", blocks=too_many)
    assert crowded.value.response["error"] == "invalid_blocks"
    assert len(fake.errors) == 2


async def test_other_chat_methods(client: AsyncWebClient, fake: FakeSlack) -> None:
    eph = await client.chat_postEphemeral(channel="C0TEST", user="U0ALICE", text="only you")
    posted = await client.chat_postMessage(channel="C0QUEUE", text="v1")
    updated = await client.chat_update(channel="C0QUEUE", ts=posted["ts"], text="v2")
    deleted = await client.chat_delete(channel="C0QUEUE", ts=posted["ts"])
    assert eph["message_ts"] and updated["ts"] == deleted["ts"] == posted["ts"]
    assert [c.method for c in fake.calls] == [
        "chat.postEphemeral",
        "chat.postMessage",
        "chat.update",
        "chat.delete",
    ]
    fake.assert_no_errors()


async def test_views(client: AsyncWebClient, fake: FakeSlack) -> None:
    modal = View(type="modal", callback_id="new_ticket", title="New ticket", blocks=valid_blocks())
    opened = await client.views_open(trigger_id="1.2.3", view=modal)
    view_id = opened["view"]["id"]
    await client.views_update(view_id=view_id, view=modal)
    await client.views_push(trigger_id="1.2.4", view=modal)
    await client.views_publish(user_id="U0ALICE", view=View(type="home", blocks=valid_blocks()))
    assert fake.views[view_id]["callback_id"] == "new_ticket"
    assert fake.calls_to("views.open")[0].args["view"]["title"]["text"] == "New ticket"
    fake.assert_no_errors()

    with pytest.raises(SlackApiError):
        # A home view cannot be opened as a modal.
        await client.views_open(trigger_id="1.2.5", view={"type": "home", "blocks": []})
    assert fake.errors and "views.open: invalid_arguments" in fake.errors[0]


async def test_unknown_method(client: AsyncWebClient, fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        await client.api_call("reactions.add", params={"name": "eyes"})
    assert raised.value.response["error"] == "unknown_method"
    assert fake.calls_to("reactions.add")[0].args == {"name": "eyes"}
    assert "reactions.add: unknown_method" in fake.errors[0]


async def test_stub_answers_other_methods(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.stub("chat.getPermalink", {"ok": True, "permalink": "https://x.example/p1"})
    resp = await client.chat_getPermalink(channel="C0QUEUE", message_ts="1.2")
    assert resp["permalink"] == "https://x.example/p1"
    fake.assert_no_errors()


async def test_missing_token_is_refused(fake: FakeSlack) -> None:
    with pytest.raises(SlackApiError) as raised:
        await AsyncWebClient(base_url=fake.api_url).chat_postMessage(channel="C0Q", text="x")
    assert raised.value.response["error"] == "not_authed"


# ------------------------------------------------------------- fault injection


async def test_fail_next_429_with_retry_after(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", status=429, retry_after=7)
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0QUEUE", text="T-1")
    assert raised.value.response.status_code == 429
    assert raised.value.response.headers["Retry-After"] == "7"
    assert raised.value.response["error"] == "ratelimited"

    await client.chat_postMessage(channel="C0QUEUE", text="T-1")
    assert len(fake.faulted) == 1
    assert len(fake.posts("C0QUEUE")) == 1  # delivered exactly once


async def test_fail_next_500_several_times(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", times=2)
    for _ in range(2):
        with pytest.raises(SlackApiError) as raised:
            await client.chat_postMessage(channel="C0QUEUE", text="T-1")
        assert raised.value.response.status_code == 500
    await client.chat_postMessage(channel="C0QUEUE", text="T-1")
    assert [c.method for c in fake.faulted] == ["chat.postMessage"] * 2
    assert len(fake.posts()) == 1
    # Other methods are not affected.
    await client.auth_test()


async def test_fail_next_with_slack_error(client: AsyncWebClient, fake: FakeSlack) -> None:
    fake.fail_next("chat.postMessage", error="channel_not_found")
    with pytest.raises(SlackApiError) as raised:
        await client.chat_postMessage(channel="C0GONE", text="x")
    assert raised.value.response.status_code == 200
    assert raised.value.response["error"] == "channel_not_found"
    assert fake.posts() == []


async def test_delay_makes_the_client_time_out(fake: FakeSlack) -> None:
    fake.delay("chat.postMessage", 0.5)
    slow = AsyncWebClient(token=TOKEN, base_url=fake.api_url, timeout=0.1)  # type: ignore[arg-type]
    with pytest.raises(asyncio.TimeoutError):
        await slow.chat_postMessage(channel="C0QUEUE", text="x")
    fake.delay("chat.postMessage", 0)
    # a client with room to breathe: 0.1 s can pass before a busy machine even connects
    patient = AsyncWebClient(token=TOKEN, base_url=fake.api_url, timeout=10)  # type: ignore[arg-type]
    await patient.chat_postMessage(channel="C0QUEUE", text="y")
    # Like Slack, the fake handled the slow request although the client gave up on it.
    assert [c.args["text"] for c in fake.posts()] == ["x", "y"]


async def test_wait_for_and_clear(client: AsyncWebClient, fake: FakeSlack) -> None:
    async def later() -> None:
        await asyncio.sleep(0.05)
        await client.chat_postMessage(channel="C0QUEUE", text="late")

    task = asyncio.create_task(later())
    call = await fake.wait_for(lambda c: c.method == "chat.postMessage", timeout=2)
    await task
    assert call.args["text"] == "late"

    fake.clear()
    assert fake.calls == [] and fake.errors == []
    with pytest.raises(AssertionError, match="no matching call"):
        await fake.wait_for(lambda c: c.method == "chat.postMessage", timeout=0.05)


async def test_response_url(fake: FakeSlack) -> None:
    url = fake.response_url("cmd1")
    async with aiohttp.ClientSession() as session:
        async with session.post(url, json={"text": "done", "blocks": valid_blocks()}) as ok:
            assert ok.status == 200
        bad = {"text": "x", "blocks": [{"type": "section"}]}
        async with session.post(url, json=bad) as refused:
            assert refused.status == 400
            assert (await refused.json())["error"] == "invalid_blocks"
    assert [c.args["text"] for c in fake.responses("cmd1")] == ["done", "x"]
    assert len(fake.errors) == 1


# ---------------------------------------------------- signed requests to Bolt


@pytest.fixture
async def bolt(fake: FakeSlack) -> AsyncIterator[SlackRequests]:
    app = AsyncApp(signing_secret=SECRET, client=AsyncWebClient(TOKEN, base_url=fake.api_url))

    @app.command("/faq")
    async def faq(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(response_type="ephemeral", text=f"you asked: {command['text']}")

    @app.command("/echo")
    async def echo(ack: AsyncAck, command: dict[str, Any]) -> None:
        await ack(response_type="ephemeral", text=json.dumps(command))

    @app.command("/later")
    async def later(ack: AsyncAck, respond: AsyncRespond) -> None:
        await ack()
        await respond(text="answered later", blocks=valid_blocks())

    @app.action("take")
    async def take(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
        await ack()
        await respond(text=f"taken by {body['user']['id']}")

    @app.view("new_ticket")
    async def submitted(ack: AsyncAck, view: dict[str, Any]) -> None:
        subject = view["state"]["values"]["subject"]["subject"]["value"]
        await ack(response_action="errors", errors={"subject": f"got {subject}"})

    @app.event("app_home_opened")
    async def home(event: dict[str, Any], client: AsyncWebClient) -> None:
        await client.views_publish(user_id=event["user"], view={"type": "home", "blocks": []})

    runner = web.AppRunner(app.web_app(path="/slack/events"), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    async with aiohttp.ClientSession() as session:
        yield SlackRequests(f"http://127.0.0.1:{port}/slack/events", SECRET, session, fake)
    await runner.cleanup()


async def test_signed_command_is_acked(bolt: SlackRequests, fake: FakeSlack) -> None:
    resp = await bolt.command("/faq", "renew a contract", user_id="U0ALICE")
    assert resp.status == 200
    assert resp.json == {"response_type": "ephemeral", "text": "you asked: renew a contract"}
    # Bolt checked its token once with auth.test against the fake.
    assert fake.calls_to("auth.test")


async def test_command_payload_looks_like_slack(bolt: SlackRequests, fake: FakeSlack) -> None:
    first = await bolt.command("/echo", "show <@U0BOB|bob> T-1", user_id="U0ALICE")
    second = await bolt.command("/echo", "", user_id="U0BOB", channel_id="D0ALICE")
    assert first.json is not None and second.json is not None
    one, two = json.loads(first.json["text"]), json.loads(second.json["text"])
    assert one["command"] == "/echo" and one["text"] == "show <@U0BOB|bob> T-1"
    assert (one["user_id"], one["user_name"], one["team_id"]) == ("U0ALICE", "alice", "T0TEAM")
    assert (one["channel_id"], one["channel_name"]) == ("C0TEST", "support")
    assert two["channel_name"] == "directmessage" and two["user_name"] == "u0bob"
    assert one["trigger_id"] != two["trigger_id"]
    assert one["response_url"] == fake.response_url(first.response_name or "")


async def test_respond_posts_to_the_fake_response_url(bolt: SlackRequests, fake: FakeSlack) -> None:
    resp = await bolt.command("/later", "", user_id="U0ALICE")
    assert resp.status == 200
    reply = await fake.wait_for(lambda c: c.method == f"response_url:{resp.response_name}")
    assert reply.args["text"] == "answered later"
    assert reply.args["blocks"] == valid_blocks()
    fake.assert_no_errors()


async def test_block_action_and_response_url(bolt: SlackRequests, fake: FakeSlack) -> None:
    resp = await bolt.block_action("U0ALICE", "take", "1", block_id="acts")
    assert resp.status == 200
    reply = await fake.wait_for(lambda c: c.method == f"response_url:{resp.response_name}")
    assert reply.args["text"] == "taken by U0ALICE"


async def test_view_submission(bolt: SlackRequests) -> None:
    resp = await bolt.view_submission("U0ALICE", "new_ticket", {"subject": {"subject": "hello"}})
    assert resp.status == 200
    assert resp.json == {"response_action": "errors", "errors": {"subject": "got hello"}}


async def test_event(bolt: SlackRequests, fake: FakeSlack) -> None:
    resp = await bolt.event({"type": "app_home_opened", "user": "U0ALICE", "tab": "home"})
    assert resp.status == 200
    published = await fake.wait_for(lambda c: c.method == "views.publish")
    assert published.args["user_id"] == "U0ALICE"
    retried = await bolt.event(
        {"type": "app_home_opened", "user": "U0ALICE", "tab": "home"}, retry_num=1
    )
    assert retried.status == 200


async def test_bad_signature_is_refused(bolt: SlackRequests) -> None:
    body = b"command=%2Ffaq&text=x&user_id=U0ALICE"
    headers = bolt.sign(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    resp = await bolt.raw(body, headers)
    assert resp.status == 401


async def test_body_changed_after_signing_is_refused(bolt: SlackRequests) -> None:
    headers = bolt.sign(b"command=%2Ffaq&text=x")
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    resp = await bolt.raw(b"command=%2Ffaq&text=y", headers)
    assert resp.status == 401


async def test_stale_timestamp_is_refused(bolt: SlackRequests) -> None:
    resp = await bolt.command("/faq", "x", user_id="U0ALICE", timestamp=int(time.time()) - 360)
    assert resp.status == 401


async def test_missing_headers_are_refused(bolt: SlackRequests) -> None:
    body = b"command=%2Ffaq&text=x&user_id=U0ALICE"
    resp = await bolt.raw(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 401
