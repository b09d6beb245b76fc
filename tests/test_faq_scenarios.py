"""/faq over HTTP: answers, choices, topics, and the buttons under an answer."""

from __future__ import annotations

from conftest import BotUnderTest

from bot.blocks.faq import FaqIds
from bot.store import audit as audit_db

ALICE = "alice.martin@acme.example"  # customer, French
LEA = "lea.girard@nuage.example"  # partner agent at Nuage, French
RACHEL = "rachel.owens@bluepeak.example"  # partner ATC, English


async def test_answer_first_block_names_the_slug_and_uses_the_askers_data(
    bot_app: BotUnderTest,
) -> None:
    response = await bot_app.command(
        "/faq", "qui a le droit d'escalader vers le support de l'éditeur", as_=LEA
    )
    body = response.json
    assert body["response_type"] == "ephemeral"
    assert body["blocks"][0]["block_id"] == "faq:authorized-technical-contacts"
    # a French question for a French reader; her ATCs are named
    assert "Marc Dupont" in body["blocks"][0]["text"]["text"]
    assert "contacts techniques autorisés" in body["text"]
    feedback = next(b for b in body["blocks"] if b.get("block_id") == FaqIds.FEEDBACK_BLOCK)
    assert [e["action_id"] for e in feedback["elements"]] == [
        FaqIds.HELPED,
        FaqIds.NOT_HELPED,
        FaqIds.OPEN_TICKET,
    ]


async def test_a_slug_answers_directly_and_a_french_question_finds_its_entry(
    bot_app: BotUnderTest,
) -> None:
    direct = await bot_app.command("/faq", "nfr-renewal", as_=RACHEL)
    assert direct.json["blocks"][0]["block_id"] == "faq:nfr-renewal"
    french = await bot_app.command(
        "/faq", "mon client a recu plusieurs numeros EA par erreur", as_=RACHEL
    )
    assert french.json["blocks"][0]["block_id"] == "faq:ea-duplicates-merge"
    assert "EA" in french.json["text"]


async def test_nothing_matches_offers_a_ticket(bot_app: BotUnderTest) -> None:
    response = await bot_app.command("/faq", "zzqx vvkkp", as_=RACHEL)
    assert "zzqx vvkkp" in response.json["text"]
    elements = response.json["blocks"][-1]["elements"]
    assert elements[0]["action_id"] == FaqIds.OPEN_TICKET


async def test_topics_are_grouped_for_the_askers_audience(bot_app: BotUnderTest) -> None:
    customer = await bot_app.command("/faq", "", as_=ALICE)
    partner = await bot_app.command("/faq", "", as_=RACHEL)
    customer_text = str(customer.json["blocks"])
    partner_text = str(partner.json["blocks"])
    assert "/faq seller-onboarding" in customer_text
    assert "/faq nfr-renewal" not in customer_text  # a partner topic
    assert "/faq nfr-renewal" in partner_text


async def test_feedback_clicks_are_recorded(bot_app: BotUnderTest) -> None:
    response = await bot_app.requests.block_action(
        bot_app.user(RACHEL), FaqIds.HELPED, "nfr-support"
    )
    assert response.status == 200
    await bot_app.fake.wait_for(lambda call: call.method.startswith("response_url"))
    async with bot_app.store.read() as conn:
        entries = await audit_db.entries(conn, limit=5)
    assert any(e.action == "faq.helped" and e.detail == {"slug": "nfr-support"} for e in entries)


async def test_pick_among_choices_replaces_with_the_answer(bot_app: BotUnderTest) -> None:
    await bot_app.requests.block_action(bot_app.user(RACHEL), f"{FaqIds.PICK}.1", "sa-benefits")
    call = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert call.args["blocks"][0]["block_id"] == "faq:sa-benefits"
    assert call.args["replace_original"] is True


async def test_open_ticket_button_opens_the_ticket_form(bot_app: BotUnderTest) -> None:
    await bot_app.requests.block_action(bot_app.user(ALICE), FaqIds.OPEN_TICKET, "nfr-support")
    call = await bot_app.fake.wait_for(lambda c: c.method == "views.open")
    assert call.args["view"]["type"] == "modal"
    async with bot_app.store.read() as conn:
        entries = await audit_db.entries(conn, limit=5)
    assert any(e.action == "faq.not_helped" for e in entries)
