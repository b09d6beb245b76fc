"""The Slack surface over HTTP: signatures, identity, /supportbot, error handling."""

from __future__ import annotations

import time
from urllib.parse import urlencode

from conftest import BotUnderTest

from bot.store import directory as directory_db

ALICE = "alice.martin@acme.example"  # customer superuser, French
EOIN = "eoin.byrne@vmware.example"  # vendor engineer
LEA = "lea.girard@nuage.example"  # partner agent
MARC = "marc.dupont@nuage.example"  # partner ATC


async def test_whoami_names_the_contact_and_answers_in_their_language(
    bot_app: BotUnderTest,
) -> None:
    response = await bot_app.command("/supportbot", "whoami", as_=ALICE)
    assert response.status == 200
    assert response.json["response_type"] == "ephemeral"
    assert "Alice Martin" in response.json["text"]
    assert "ACME" in response.json["text"]
    assert "Je vous réponds en français" in response.json["text"]


async def test_help_lists_what_this_actor_may_do(bot_app: BotUnderTest) -> None:
    agent = (await bot_app.command("/supportbot", "help", as_=LEA)).json["text"]
    atc = (await bot_app.command("/supportbot", "help", as_=MARC)).json["text"]
    engineer = (await bot_app.command("/supportbot", "help", as_=EOIN)).json["text"]
    customer = (await bot_app.command("/supportbot", "", as_=ALICE)).json["text"]
    assert "/escalate <id>" in atc
    assert "Marc Dupont" in agent  # an agent is told which ATCs to ask
    assert "/reassign" in engineer and "/reassign" not in atc
    # French readers see the French words of the commands
    assert "/ea recherche" in agent and "/ea recherche" not in customer
    assert "/access accorder" in customer


async def test_lang_switches_and_persists(bot_app: BotUnderTest) -> None:
    response = await bot_app.command("/supportbot", "lang en", as_=ALICE)
    assert "English" in response.json["text"]
    again = await bot_app.command("/supportbot", "whoami", as_=ALICE)
    assert "I answer you in English" in again.json["text"]
    async with bot_app.store.read() as conn:
        contact = await directory_db.get_contact(conn, email=ALICE)
    assert contact is not None and contact.locale == "en"


async def test_bad_subcommand_and_language_give_the_usage_line(bot_app: BotUnderTest) -> None:
    response = await bot_app.command("/supportbot", "lang de", as_=EOIN)
    assert response.json["response_type"] == "ephemeral"
    assert "`de`" in response.json["text"] and "/supportbot lang fr|en" in response.json["text"]
    response = await bot_app.command("/supportbot", "dance", as_=EOIN)
    assert "`dance`" in response.json["text"] and "Usage:" in response.json["text"]


async def test_unknown_slack_user_gets_an_explanation_in_their_language(
    bot_app: BotUnderTest,
) -> None:
    bot_app.fake.add_user("UNOBODY01", "stranger@elsewhere.example", locale="fr-FR")
    response = await bot_app.requests.command("/ticket", "list", user_id="UNOBODY01")
    assert response.status == 200
    assert response.json["response_type"] == "ephemeral"
    assert "stranger@elsewhere.example" in response.json["text"]
    assert "Je ne connais pas" in response.json["text"]


async def test_user_unknown_to_slack_is_not_left_in_silence(bot_app: BotUnderTest) -> None:
    response = await bot_app.requests.command("/supportbot", "whoami", user_id="UGHOST001")
    assert response.status == 200
    assert "registered" in response.json["text"]


async def test_identity_is_cached_after_the_first_request(bot_app: BotUnderTest) -> None:
    for _ in range(3):
        await bot_app.command("/supportbot", "whoami", as_=EOIN)
    assert len(bot_app.fake.calls_to("users.info")) <= 1
    async with bot_app.store.read() as conn:
        contact = await directory_db.get_contact(conn, email=EOIN)
    assert contact is not None and contact.slack_user_id == bot_app.user(EOIN)


async def test_bad_signature_missing_headers_and_stale_requests_answer_401(
    bot_app: BotUnderTest,
) -> None:
    form = {
        "command": "/supportbot",
        "text": "lang en",
        "user_id": bot_app.user(ALICE),
        "team_id": "T0TEAM",
    }
    body = urlencode(form).encode()
    headers = bot_app.requests.sign(body)
    headers["X-Slack-Signature"] = "v0=" + "0" * 64
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot_app.requests.raw(body, headers)).status == 401
    assert (
        await bot_app.requests.raw(body, {"Content-Type": "application/x-www-form-urlencoded"})
    ).status == 401
    stale = bot_app.requests.sign(body, timestamp=int(time.time()) - 6 * 60)
    stale["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot_app.requests.raw(body, stale)).status == 401
    # nothing changed: Alice still reads French
    async with bot_app.store.read() as conn:
        contact = await directory_db.get_contact(conn, email=ALICE)
    assert contact is not None and contact.locale == "fr"


async def test_oversize_bodies_are_refused(bot_app: BotUnderTest) -> None:
    body = b"text=" + b"x" * (300 * 1024)
    headers = bot_app.requests.sign(body)
    headers["Content-Type"] = "application/x-www-form-urlencoded"
    assert (await bot_app.requests.raw(body, headers)).status == 413


async def test_health_endpoint(bot_app: BotUnderTest) -> None:
    url = bot_app.url.replace("/slack/events", "/healthz")
    async with bot_app.requests.session.get(url) as response:
        assert response.status == 200
        assert (await response.json())["ok"] is True


async def test_a_refused_click_is_answered_privately_and_quickly(bot_app: BotUnderTest) -> None:
    from bot.blocks.tickets import TicketIds

    opened = await bot_app.command(
        "/ticket", "new sev3 ea:411023871 license portal shows no keys", as_=ALICE
    )
    assert "T-1" in opened.json["text"]
    # Jean (another customer) clicks Take on ACME's ticket: it reads like a missing one
    started = time.monotonic()
    response = await bot_app.requests.block_action(
        bot_app.user("jean.morel@hexagone.example"), TicketIds.TAKE, "T-1"
    )
    assert response.status == 200
    assert time.monotonic() - started < 2.5
    call = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert "T-1" in call.args["text"]
    assert call.args.get("replace_original") is False


async def test_a_wrong_severity_gets_its_own_error_and_the_usage_line(
    bot_app: BotUnderTest,
) -> None:
    response = await bot_app.command("/ticket", "new sev9 ea:411023871 disk full", as_=EOIN)
    assert "`sev9` is not a severity" in response.json["text"]
    assert "/ticket new" in response.json["text"]
    listed = await bot_app.command("/ticket", "list sev7", as_=EOIN)
    assert "`sev7` is not a severity" in listed.json["text"]
