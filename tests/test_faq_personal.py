"""/faq over HTTP: answers show the asker's own data (within what they may see), in the
question's language, with related entries and the asker's variant."""

from __future__ import annotations

from typing import Any

from conftest import BotUnderTest

from bot.blocks.faq import FaqIds, entry_value
from bot.faq import default_catalog
from bot.store import audit as audit_db

ALICE = "alice.martin@acme.example"  # ACME customer, French; partner nuage
LEA = "lea.girard@nuage.example"  # nuage agent (not an ATC), French
MARC = "marc.dupont@nuage.example"  # nuage ATC, French
RACHEL = "rachel.owens@bluepeak.example"  # bluepeak ATC, English
HELEN = "helen.carter@northwind.example"  # Northwind customer (Software Assurance), English
MANON = "manon.blanc@lumiere.example"  # end customer of the MSP pixel, French
HUGO = "hugo.moreau@pixel.example"  # pixel (MSP) agent, French
FRANK = "frank.delgado@tidewater.example"  # Tidewater customer with OEM keys, English
EOIN = "eoin.byrne@vmware.example"  # vendor engineer


async def ask(bot_app: BotUnderTest, question: str, as_: str) -> tuple[str, dict[str, Any]]:
    body = (await bot_app.command("/faq", question, as_=as_)).json
    first = body["blocks"][0]
    return first.get("block_id", ""), body


def buttons(body: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for b in body["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_sa_activation_names_the_agreements_admins_and_notice_contact(
    bot_app: BotUnderTest,
) -> None:
    block, body = await ask(bot_app, "how do we activate our software assurance", HELEN)
    assert block == "faq:sa-activation"
    text = body["blocks"][0]["text"]["text"]
    assert "V5560781" in text
    assert "raj.mehta@northwind.example" in text  # the Notice Contact
    assert "Helen Carter" in text and "Raj Mehta" in text  # the benefits administrators
    assert "training vouchers" in text
    async with bot_app.store.read() as conn:
        entries = await audit_db.entries(conn, limit=5)
    assert any(e.action == "faq.answer" and e.detail["slug"] == "sa-activation" for e in entries)


async def test_seller_billing_names_the_seller_and_the_contract_code(
    bot_app: BotUnderTest,
) -> None:
    block, body = await ask(bot_app, "qui nous facture le service cloud achete", MANON)
    assert block == "faq:seller-billing-and-discounts"
    text = body["blocks"][0]["text"]["text"]
    assert "VMware Cloud on AWS" in text and "CC-PIXEL-2026-017" in text
    assert "Pixel" in text


async def test_renewals_list_what_ends_within_90_days(bot_app: BotUnderTest) -> None:
    block, body = await ask(bot_app, "regles de renouvellement du support", ALICE)
    assert block == "faq:renewal-policy"
    text = body["blocks"][0]["text"]["text"]
    assert "2027-01-10" in text  # the dev/test contract of 411023872, 48 days away
    assert "411023872" in text


async def test_support_codes_name_the_partner_programme(bot_app: BotUnderTest) -> None:
    block, body = await ask(bot_app, "ou sont nos codes de support", HUGO)
    assert block == "faq:partner-support-codes"
    assert "*msp*" in body["blocks"][0]["text"]["text"]


async def test_nfr_answers_list_the_askers_nfr_keys(bot_app: BotUnderTest) -> None:
    block, body = await ask(bot_app, "support sur nos licences nfr", LEA)
    assert block == "faq:nfr-support"
    text = body["blocks"][0]["text"]["text"]
    assert "318640257" in text and "clés NFR" in text


async def test_oem_answers_list_the_customers_oem_keys_masked(bot_app: BotUnderTest) -> None:
    block, body = await ask(bot_app, "why is there no support shown on my OEM licenses", FRANK)
    assert block == "faq:oem-support-visibility"
    text = body["blocks"][0]["text"]["text"]
    assert "902334178" in text and "OEM keys" in text


async def test_superuser_answers_name_the_superuser_of_each_ea(bot_app: BotUnderTest) -> None:
    block, body = await ask(bot_app, "on est superutilisateur d'un client par erreur", MARC)
    assert block == "faq:superuser-wrongly-assigned"
    text = body["blocks"][0]["text"]["text"]
    assert "411023871 : Alice Martin" in text


async def test_first_line_duties_name_the_partners_atcs(bot_app: BotUnderTest) -> None:
    block, body = await ask(
        bot_app, "qu'est ce que le partenaire doit faire en premier niveau", ALICE
    )
    assert block == "faq:partner-first-line-duties"
    assert "Marc Dupont" in body["blocks"][0]["text"]["text"]


async def test_a_customer_asking_for_her_ea_gets_her_own_eas_not_the_lookup(
    bot_app: BotUnderTest,
) -> None:
    """The README's example asked by a customer."""
    block, body = await ask(bot_app, "comment trouver mon numéro EA", ALICE)
    assert block == "faq:ea-lookup-reseller"
    text = body["blocks"][0]["text"]["text"]
    assert "411023871" in text and "`/ea`" in text and "/ea lookup" not in text
    partner_block, partner = await ask(bot_app, "comment trouver le numéro EA de mon client", LEA)
    assert partner_block == "faq:ea-lookup-reseller"
    assert "/ea lookup" in partner["blocks"][0]["text"]["text"]


async def test_an_agent_is_pointed_to_the_atcs_and_an_atc_to_escalate(
    bot_app: BotUnderTest,
) -> None:
    _, agent = await ask(bot_app, "who can escalate to the vendor", LEA)
    _, atc = await ask(bot_app, "who can escalate to the vendor", MARC)
    assert "/escalate" not in agent["blocks"][0]["text"]["text"]
    assert "/escalate" in atc["blocks"][0]["text"]["text"]


async def test_the_question_language_picks_the_answer_and_button_language(
    bot_app: BotUnderTest,
) -> None:
    # Léa's profile is French; she asks in English: English answer and buttons.
    block, english = await ask(bot_app, "who is allowed to escalate to vendor support", LEA)
    assert block == "faq:authorized-technical-contacts"
    assert english["text"].startswith("*Who may contact vendor support")
    labels = [b["text"]["text"] for b in buttons(english)]
    assert "That answers it" in labels and "Open a ticket" in labels
    assert all(b["value"].endswith(":en") for b in buttons(english))
    # Rachel's profile is English; she asks in French: French answer and buttons.
    _, french = await ask(bot_app, "comment renouveler nos licences a usage interne", RACHEL)
    assert french["blocks"][0]["block_id"] == "faq:iul-renewal"
    assert "Renewals Center" in french["text"] and "Comme avant" in french["text"]
    assert "Ouvrir un ticket" in [b["text"]["text"] for b in buttons(french)]
    # Too short to tell: the user's locale.
    _, unclear = await ask(bot_app, "NFR", RACHEL)
    assert all(b["value"].endswith(":en") for b in buttons(unclear))


async def test_related_entries_open_for_the_asker_in_the_answers_language(
    bot_app: BotUnderTest,
) -> None:
    block, body = await ask(bot_app, "how are NFR licenses renewed", LEA)
    assert block == "faq:nfr-renewal"
    related = next(b for b in body["blocks"] if b.get("block_id") == FaqIds.RELATED_BLOCK)
    picks = related["elements"]
    assert 1 <= len(picks) <= 2
    assert all(p["action_id"].startswith(f"{FaqIds.PICK}.") for p in picks)
    slug = picks[0]["value"].removesuffix(":en")
    assert picks[0]["value"] == entry_value(slug, "en") and slug != "nfr-renewal"
    await bot_app.requests.block_action(bot_app.user(LEA), picks[0]["action_id"], picks[0]["value"])
    call = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url"))
    assert call.args["blocks"][0]["block_id"] == f"faq:{slug}"
    assert call.args["replace_original"] is True
    assert all(b["value"].endswith(":en") for b in buttons(call.args))


async def test_a_customer_is_offered_only_related_entries_written_for_customers(
    bot_app: BotUnderTest,
) -> None:
    block, body = await ask(bot_app, "comment trouver mon numéro EA", ALICE)
    assert block == "faq:ea-lookup-reseller"
    catalog = default_catalog()
    related = [b for b in body["blocks"] if b.get("block_id") == FaqIds.RELATED_BLOCK]
    for pick in related[0]["elements"] if related else []:
        slug = pick["value"].rsplit(":", 1)[0]
        assert catalog.entries[slug].written_for("customer"), slug


async def test_close_entries_are_offered_as_choices(bot_app: BotUnderTest) -> None:
    _, body = await ask(bot_app, "EA", EOIN)
    choices = next(b for b in body["blocks"] if b.get("block_id") == FaqIds.CHOICES_BLOCK)
    assert len(choices["elements"]) >= 2
