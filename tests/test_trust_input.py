"""Bad bytes and broken payloads get a clear answer, never a 500: the signature is
checked on the raw bytes before anything parses them (401 whatever the body), a signed
body that cannot be parsed gets 400, and signed but malformed input — Unicode digits,
huge numbers, offsets past the end, tampered ``private_metadata`` or button values, a
missing field, a form Slack will not open — gets a specific answer in the user's
language. Ends with a hypothesis fuzz of ids and payloads over HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import SIGNING_SECRET, BotUnderTest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_hardening import row_counts

from bot.blocks.accounts import AccountIds
from bot.blocks.tickets import TicketIds
from bot.render import t

ALICE = "alice.martin@acme.example"
CLAIRE = "claire.dubois@acme.example"
LEA = "lea.girard@nuage.example"
MARC = "marc.dupont@nuage.example"
EOIN = "eoin.byrne@vmware.example"
UNEXPECTED = [
    t("errors.unexpected", locale, correlation_id="@@").split("@@")[0] for locale in ("en", "fr")
]
FORM = "application/x-www-form-urlencoded"


def deep_json(depth: int) -> str:
    return "[" * depth + "]" * depth


BAD_BODIES: list[tuple[str, bytes, str]] = [
    ("invalid utf-8", b"payload=\xff\xfe\xfa" + b"\x80" * 40, FORM),
    ("payload not an object", urlencode({"payload": "[1, 2, 3]"}).encode(), FORM),
    ("payload a string", urlencode({"payload": '"hello"'}).encode(), FORM),
    ("deep json payload", urlencode({"payload": deep_json(20_000)}).encode(), FORM),
    ("deep json body", deep_json(20_000).encode(), "application/json"),
    ("form labelled as json", b"command=%2Fticket&text=show+T-1", "application/json"),
    ("json not an object", b"[1, 2]", "application/json"),
    ("broken json", b'{"type": "event_callback", ', "application/json"),
    ("nul bytes", b"\x00" * 64, FORM),
]


def sign(body: bytes) -> dict[str, str]:
    """Slack's signature over raw bytes (slack_sdk's helper wants text)."""
    ts = str(int(time.time()))
    base = b"v0:" + ts.encode() + b":" + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def ack_text(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    text: str = response.json["text"]
    assert not any(phrase in text for phrase in UNEXPECTED), text
    return text


def not_unexpected(text: str) -> None:
    assert not any(phrase in text for phrase in UNEXPECTED), text


# --------------------------------------------------------------------------- bytes


@pytest.mark.parametrize(
    ("name", "body", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_unsigned_or_badly_signed_bad_bodies_answer_401_and_change_nothing(
    bot_app: BotUnderTest, name: str, body: bytes, content_type: str
) -> None:
    before = await row_counts(bot_app.store)
    now = str(int(time.time()))
    for headers in (
        {"Content-Type": content_type},
        {
            "Content-Type": content_type,
            "X-Slack-Request-Timestamp": now,
            "X-Slack-Signature": "v0=00",
        },
        {  # signed for another body
            "Content-Type": content_type,
            **sign(b"something else"),
        },
    ):
        response = await bot_app.requests.raw(body, headers)
        assert response.status == 401, (name, response.status, response.text)
    assert await row_counts(bot_app.store) == before
    assert bot_app.fake.calls_to("chat.postMessage") == []


@pytest.mark.parametrize(
    ("name", "body", "content_type"), BAD_BODIES, ids=[b[0] for b in BAD_BODIES]
)
async def test_signed_bodies_that_cannot_be_parsed_get_a_plain_400(
    bot_app: BotUnderTest, name: str, body: bytes, content_type: str
) -> None:
    before = await row_counts(bot_app.store)
    response = await bot_app.requests.raw(body, {"Content-Type": content_type, **sign(body)})
    assert response.status in (200, 400, 404), (name, response.status, response.text)
    assert response.status < 500
    not_unexpected(response.text)
    assert await row_counts(bot_app.store) == before


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("command", "text", "expected"),
    [
        ("/audit", "411023871 ²", "²"),
        ("/audit", "411023871 ٣", "٣"),
        ("/audit", "411023871 99999999999999999999999", "99999999999999999999999"),
        ("/audit", "411023871 " + "9" * 5000, "9999"),
        ("/audit", "²²²²²²²²²", "²²²²²²²²²"),
        ("/entitlements", "renewals ²", "²"),
        ("/entitlements", "renewals 1e9", "1e9"),
        ("/entitlements", "renewals " + "7" * 400, "7777"),
        ("/ticket", "show ²", "²"),
        ("/ticket", "show T-٣", "T-٣"),
        ("/ticket", "show 12345678901234567890", "12345678901234567890"),
        ("/ticket", "sev T-1 ² because", "²"),
        ("/ticket", "list sev²", "sev²"),
        ("/escalate", "T-1 sev² Reproduced", "sev²"),
    ],
)
async def test_unicode_digits_and_huge_numbers_get_a_specific_error(
    bot_app: BotUnderTest, command: str, text: str, expected: str
) -> None:
    await bot_app.command("/ticket", "new ea:411023871 product:vsphere Broken", as_=ALICE)
    before = await row_counts(bot_app.store)
    reply = ack_text(await bot_app.command(command, text, as_=ALICE))
    assert expected in reply
    after = await row_counts(bot_app.store)
    # a refusal may leave its audit entry, nothing else
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }


# --------------------------------------------------------------------------- payloads


async def opened_ticket(bot: BotUnderTest) -> None:
    reply = await bot.command("/ticket", "new sev2 ea:411023871 product:vsphere Broken", as_=ALICE)
    assert "T-1" in ack_text(reply)


@pytest.mark.parametrize(
    "metadata", ["", "abc", "-1", "0", "²", "T-٣", "1" * 40, '{"ticket": 1}', "[1]", "99"]
)
@pytest.mark.parametrize(
    "callback", [TicketIds.ESCALATE_MODAL, TicketIds.RESOLVE_MODAL, TicketIds.HAND_BACK_MODAL]
)
async def test_tampered_private_metadata_gets_a_clear_answer_in_the_modal(
    bot_app: BotUnderTest, metadata: str, callback: str
) -> None:
    await opened_ticket(bot_app)
    state = {TicketIds.REASON: {TicketIds.REASON: "Reproduced twice"}}
    response = await bot_app.requests.view_submission(
        bot_app.user(MARC), callback, state, private_metadata=metadata
    )
    assert response.status == 200
    data = response.json
    assert data["response_action"] == "update"
    text = json.dumps(data["view"], ensure_ascii=False)
    not_unexpected(text)
    assert "T-" in text  # names the ticket it could not find, or the bad id


@pytest.mark.parametrize(
    "metadata",
    [
        "",
        "not json",
        "[1, 2]",
        deep_json(5000),
        '{"severity": "²", "subject": "x"}',
        '{"severity": 99999999999, "subject": "x"}',
        '{"ea": ["411023871"], "subject": "x"}',
        '{"ea": "41102387²", "subject": "x"}',
        '{"business": "yes", "subject": "x"}',
    ],
)
async def test_a_tampered_carried_form_opens_nothing_and_says_so(
    bot_app: BotUnderTest, metadata: str
) -> None:
    before = await row_counts(bot_app.store)
    response = await bot_app.requests.view_submission(
        bot_app.user(ALICE), TicketIds.NEW_CONFIRM, {}, private_metadata=metadata
    )
    assert response.status == 200
    text = json.dumps(response.json, ensure_ascii=False)
    not_unexpected(text)
    assert response.json["response_action"] == "update"
    assert (await row_counts(bot_app.store))["tickets"] == before["tickets"]


async def test_a_modal_with_missing_or_odd_fields_says_what_is_missing(
    bot_app: BotUnderTest,
) -> None:
    before = await row_counts(bot_app.store)
    for state in (
        {},
        {TicketIds.SEVERITY: {TicketIds.SEVERITY: {"type": "static_select"}}},
        {TicketIds.SEVERITY: {TicketIds.SEVERITY: {"selected_option": {"value": "²"}}}},
        {TicketIds.SUBJECT: {TicketIds.SUBJECT: {"type": "plain_text_input", "value": 42}}},
    ):
        response = await bot_app.requests.view_submission(
            bot_app.user(ALICE),
            TicketIds.NEW_MODAL,
            state,  # type: ignore[arg-type]
        )
        assert response.status == 200, response.text
        not_unexpected(json.dumps(response.json, ensure_ascii=False))
    assert (await row_counts(bot_app.store))["tickets"] == before["tickets"]


@pytest.mark.parametrize("value", ["", "²", "T-٣", "-5", "0", "9" * 30, "1.5", '{"id": 1}'])
@pytest.mark.parametrize("action_id", [TicketIds.TAKE, TicketIds.ESCALATE, TicketIds.RESOLVE])
async def test_tampered_button_values_get_a_private_answer(
    bot_app: BotUnderTest, value: str, action_id: str
) -> None:
    await opened_ticket(bot_app)
    click = await bot_app.requests.block_action(bot_app.user(LEA), action_id, value)
    assert click.status == 200
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    not_unexpected(answer.args["text"])


@pytest.mark.parametrize(
    ("action_id", "value"),
    [
        (AccountIds.SUPERUSER_CONFIRM, "²"),
        (AccountIds.SUPERUSER_CONFIRM, "9" * 40),
        (AccountIds.ENTITLEMENTS_MORE, '{"ea":"411023871","offset":100000000000000000000}'),
        (AccountIds.ENTITLEMENTS_MORE, '{"ea":"411023871","offset":-1}'),
        (AccountIds.ENTITLEMENTS_MORE, '{"ea":"411023871","offset":true}'),
        (AccountIds.ENTITLEMENTS_MORE, '{"ea":"411023871","offset":"²"}'),
        (AccountIds.ENTITLEMENTS_MORE, '{"ea":"411023871","offset":900000}'),
        (AccountIds.ENTITLEMENTS_MORE, "[" * 5000),
        (AccountIds.RENEWAL_QUOTE, '{"ea":"411023871","kind":"key"}'),
        (AccountIds.REVOKE_PARTNER, '{"ea":7,"partner":"nuage"}'),
    ],
)
async def test_tampered_account_buttons_get_a_private_answer(
    bot_app: BotUnderTest, action_id: str, value: str
) -> None:
    click = await bot_app.requests.block_action(bot_app.user(ALICE), action_id, value)
    assert click.status == 200
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    not_unexpected(answer.args["text"])


async def test_an_offset_past_the_end_says_the_list_got_shorter(bot_app: BotUnderTest) -> None:
    value = '{"ea":"411023871","offset":900000}'
    click = await bot_app.requests.block_action(
        bot_app.user(ALICE), AccountIds.ENTITLEMENTS_MORE, value
    )
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    assert "411023871" in answer.args["text"] and "/entitlements 411023871" in answer.args["text"]


# --------------------------------------------------------------------------- views.open fails


async def test_when_slack_will_not_open_the_form_the_user_is_told_how_to_type_it(
    bot_app: BotUnderTest,
) -> None:
    bot_app.fake.fail_next("views.open", error="expired_trigger_id")
    response = await bot_app.command("/ticket", "", as_=ALICE)
    ack_text(response)
    told = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{response.response_name}"
    )
    # in the reader's language: French users are shown the French command words
    assert "/ticket nouveau" in told.args["text"] or "/ticket new" in told.args["text"]
    not_unexpected(told.args["text"])

    await opened_ticket(bot_app)
    bot_app.fake.fail_next("views.open", status=500)
    response = await bot_app.command("/escalate", "T-1", as_=MARC)
    ack_text(response)
    told = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{response.response_name}"
    )
    assert "/escalate" in told.args["text"]

    bot_app.fake.fail_next("views.open", error="invalid_trigger_id")
    click = await bot_app.requests.block_action(bot_app.user(LEA), TicketIds.RESOLVE, "1")
    told = await bot_app.fake.wait_for(lambda c: c.method == f"response_url:{click.response_name}")
    assert "/ticket résoudre" in told.args["text"] or "/ticket resolve" in told.args["text"]
    assert (await row_counts(bot_app.store))["tickets"] == 1


# --------------------------------------------------------------------------- fuzz

DIGITS = "0123456789²³¹٠١٢٣٤٥٦٧٨٩०१२३４５６"
id_like = st.one_of(
    st.text(alphabet=DIGITS, min_size=0, max_size=30),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
    st.sampled_from(["T-1", "#1", "t-2", "T-", "#", "T-0", "T--1", "1e3", "0x10", " 1 "]),
    st.text(max_size=20),
)
json_value: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**25), 10**25) | st.text(max_size=10) | id_like,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
payload_text = st.one_of(id_like, json_value.map(json.dumps), st.text(max_size=60))
ACTION_IDS = [
    TicketIds.TAKE,
    TicketIds.ESCALATE,
    TicketIds.HAND_BACK,
    TicketIds.RESOLVE,
    AccountIds.SUPERUSER_CONFIRM,
    AccountIds.SUPERUSER_DECLINE,
    AccountIds.ENTITLEMENTS_MORE,
    AccountIds.RENEWAL_QUOTE,
    AccountIds.REVOKE_PARTNER,
    AccountIds.AGREEMENT_REMOVE_PARTNER,
]
CALLBACKS = [
    TicketIds.NEW_MODAL,
    TicketIds.NEW_CONFIRM,
    TicketIds.ESCALATE_MODAL,
    TicketIds.HAND_BACK_MODAL,
    TicketIds.RESOLVE_MODAL,
]
BLOCKS = [
    TicketIds.EA,
    TicketIds.SEVERITY,
    TicketIds.QUEUE,
    TicketIds.SUBJECT,
    TicketIds.REASON,
    TicketIds.CHECKLIST,
]
COMMAND_SHAPES = [
    ("/ticket", "show {}"),
    ("/ticket", "sev T-1 {} reason"),
    ("/ticket", "take {}"),
    ("/ticket", "list {}"),
    ("/ticket", "new sev{} ea:411023871 x"),
    ("/escalate", "{} sev2 reason"),
    ("/reassign", "{} reason"),
    ("/audit", "411023871 {}"),
    ("/audit", "{}"),
    ("/entitlements", "renewals {}"),
    ("/entitlements", "411023871 {}"),
    ("/ea", "{}"),
    ("/access", "grant 411023871 harbor file_support_requests until:{}"),
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


async def assert_no_unexpected_reply(bot: BotUnderTest) -> None:
    await asyncio.sleep(0.05)
    for call in bot.fake.responses():
        not_unexpected(json.dumps(call.args, ensure_ascii=False))
    bot.fake.clear()


@FUZZ
@given(
    shape=st.sampled_from(COMMAND_SHAPES), value=id_like, who=st.sampled_from([ALICE, LEA, EOIN])
)
async def test_fuzzed_ids_in_commands_never_fail(
    bot_app: BotUnderTest, shape: tuple[str, str], value: str, who: str
) -> None:
    command, text = shape
    response = await bot_app.command(command, text.format(value), as_=who)
    assert response.status == 200, response.text
    ack_text(response)
    await assert_no_unexpected_reply(bot_app)


@FUZZ
@given(action_id=st.sampled_from(ACTION_IDS), value=payload_text, who=st.sampled_from([ALICE, LEA]))
async def test_fuzzed_button_values_never_fail(
    bot_app: BotUnderTest, action_id: str, value: str, who: str
) -> None:
    click = await bot_app.requests.block_action(bot_app.user(who), action_id, value)
    assert click.status == 200, click.text
    await bot_app.fake.wait_for(lambda c: c.method == f"response_url:{click.response_name}")
    await assert_no_unexpected_reply(bot_app)


@FUZZ
@given(
    callback=st.sampled_from(CALLBACKS),
    metadata=payload_text,
    state=st.dictionaries(
        st.sampled_from(BLOCKS),
        st.dictionaries(st.sampled_from(BLOCKS), json_value | payload_text, max_size=1),
        max_size=4,
    ),
)
async def test_fuzzed_modal_submissions_never_fail(
    bot_app: BotUnderTest, callback: str, metadata: str, state: dict[str, dict[str, Any]]
) -> None:
    response = await bot_app.requests.view_submission(
        bot_app.user(MARC), callback, state, private_metadata=metadata
    )
    assert response.status == 200, response.text
    not_unexpected(response.text)
    await assert_no_unexpected_reply(bot_app)


@FUZZ
@given(body=st.binary(max_size=300), content_type=st.sampled_from([FORM, "application/json"]))
async def test_fuzzed_bodies_never_reach_a_500(
    bot_app: BotUnderTest, body: bytes, content_type: str
) -> None:
    unsigned = await bot_app.requests.raw(body, {"Content-Type": content_type})
    assert unsigned.status == 401
    signed = await bot_app.requests.raw(body, {"Content-Type": content_type, **sign(body)})
    assert signed.status < 500, signed.text
    not_unexpected(signed.text)
