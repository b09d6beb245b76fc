"""Scenarios over HTTP: the real Bolt app, signed requests, the fake Slack Web API.

Each test plays people of the demo world through /ea, /entitlements, /access and
/audit, clicks the buttons the bot sent, and checks what Slack received."""

from __future__ import annotations

import json
from typing import Any

from account_fixtures import (
    ACME_PROD,
    ALICE,
    CLAIRE,
    GRACE,
    HEXAGONE,
    JEAN,
    MARC,
    PAUL,
    RIVERBANK_OLD,
    SOPHIE,
    TOM,
    add_licenses,
)
from conftest import BotUnderTest

from bot.blocks.accounts import AccountIds


def body(response: Any) -> dict[str, Any]:
    assert response.status == 200
    data = response.json
    assert isinstance(data, dict) and data["response_type"] == "ephemeral"
    assert data["text"]
    return data


def everything(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)


def buttons(blocks: list[dict[str, Any]], action_id: str) -> list[dict[str, Any]]:
    found = []
    for block in blocks:
        found += [e for e in block.get("elements", []) if e.get("action_id") == action_id]
        accessory = block.get("accessory")
        if accessory and accessory.get("action_id") == action_id:
            found.append(accessory)
    return found


async def test_my_accounts_and_a_card(bot_app: BotUnderTest) -> None:
    mine = body(await bot_app.command("/ea", "", as_=ALICE))
    assert mine["text"] == "Vous voyez 3 comptes."
    assert all(ea in everything(mine) for ea in ("411023871", "411023872", "411023873"))

    card = body(await bot_app.command("/ea", ACME_PROD, as_=ALICE))
    assert card["text"].startswith("EA 411023871 — ACME Production")
    assert "SNS-0041187" in everything(card) and "distrilog" in everything(card)

    merged = body(await bot_app.command("/ea", RIVERBANK_OLD, as_=GRACE))
    assert "733190001" in merged["text"] and "733190462" in merged["text"]

    bad = body(await bot_app.command("/ea", "41102387", as_=ALICE))
    assert "41102387" in bad["text"] and "/ea recherche" in bad["text"]


async def test_partner_looks_up_a_customer_before_ordering(bot_app: BotUnderTest) -> None:
    found = body(await bot_app.command("/ea", "lookup acme.example", as_=PAUL))
    assert "3" in found["text"] and "acme.example" in found["text"]
    shown = everything(found)
    assert all(ea in shown for ea in ("411023871", "411023872", "411023873"))
    assert "ACME Production" not in shown and "alice" not in shown

    accents = body(await bot_app.command("/ea", "lookup lumiere médias", as_=PAUL))
    assert "620045517" in everything(accents)

    refused = body(await bot_app.command("/ea", "lookup hexagone", as_=ALICE))
    assert "/ea" in refused["text"] and "507781204" not in everything(refused)


async def test_entitlements_page_through_with_the_more_button(bot_app: BotUnderTest) -> None:
    await add_licenses(bot_app.store, HEXAGONE, 30)
    first = body(await bot_app.command("/entitlements", HEXAGONE, as_=SOPHIE))
    assert "507781204" in first["text"]
    assert "QD2L8-HFV30" not in everything(first)  # nuage may not see Hexagone's keys
    (more,) = buttons(first["blocks"], AccountIds.ENTITLEMENTS_MORE)

    click = await bot_app.requests.block_action(
        bot_app.user(SOPHIE), AccountIds.ENTITLEMENTS_MORE, more["value"]
    )
    assert click.status == 200
    page = await bot_app.fake.wait_for(lambda c: c.method == f"response_url:{click.response_name}")
    assert page.args["replace_original"] is True
    assert "21" in page.args["text"] and "507781204" in page.args["text"]
    bot_app.fake.assert_no_errors()


async def test_bad_input_gets_a_specific_error_and_the_usage(bot_app: BotUnderTest) -> None:
    days = body(await bot_app.command("/entitlements", "renewals 0", as_=ALICE))
    assert "730" in days["text"] and "/entitlements renouvellements" in days["text"]
    perm = body(await bot_app.command("/access", f"grant {ACME_PROD} harbor keys", as_=ALICE))
    assert "keys" in perm["text"] and "view_license_keys" in perm["text"]
    past = body(
        await bot_app.command(
            "/access", f"grant {ACME_PROD} harbor all until:2020-01-01", as_=ALICE
        )
    )
    assert "2020-01-01" in past["text"]
    count = body(await bot_app.command("/audit", f"{ACME_PROD} 500", as_=ALICE))
    assert "500" in count["text"] and "/audit" in count["text"]
    unknown = body(await bot_app.command("/access", f"grant {ACME_PROD} globex all", as_=ALICE))
    assert "globex" in unknown["text"] and "harbor" not in unknown["text"].lower()


async def test_grant_then_revoke_tells_both_sides(bot_app: BotUnderTest) -> None:
    before = body(await bot_app.command("/entitlements", ACME_PROD, as_=TOM))
    assert "411023871" in before["text"] and "7LRWF" not in everything(before)

    granted = body(
        await bot_app.command(
            "/access",
            f"grant {ACME_PROD} harbor view_license_keys,view_orders_contracts until:2027-01-31",
            as_=ALICE,
        )
    )
    assert "Harbor IT Ltd" in granted["text"] and "2027-01-31" in granted["text"]
    await bot_app.drain()
    (queue,) = bot_app.fake.posts("C0HARBORQ")
    assert "411023871" in queue.args["text"] and "view_license_keys" in queue.args["text"]
    (dm,) = bot_app.fake.posts(bot_app.user(ALICE))
    assert "Harbor IT Ltd" in dm.args["text"]

    keys = body(await bot_app.command("/entitlements", ACME_PROD, as_=TOM))
    assert "7LRWF-VEALK-XWKKX-ZWWHP-0E4FU" in everything(keys)

    # the superuser takes it back from the notice's button (R9)
    (revoke,) = buttons(dm.args["blocks"], AccountIds.REVOKE_PARTNER)
    click = await bot_app.requests.block_action(
        bot_app.user(ALICE), AccountIds.REVOKE_PARTNER, revoke["value"]
    )
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    assert "Harbor IT Ltd" in answer.args["text"] and answer.args["replace_original"] is True
    await bot_app.drain()
    assert len(bot_app.fake.posts("C0HARBORQ")) == 2
    assert len(bot_app.fake.posts(bot_app.user(ALICE))) == 2
    after = body(await bot_app.command("/entitlements", ACME_PROD, as_=TOM))
    assert after["text"] == before["text"]

    body(await bot_app.command("/access", f"grant {ACME_PROD} harbor all", as_=ALICE))
    body(await bot_app.command("/access", f"revoke {ACME_PROD} harbor", as_=ALICE))
    trail = body(await bot_app.command("/audit", ACME_PROD, as_=ALICE))
    shown = everything(trail)
    assert "a accordé un accès" in shown and "a retiré un accès" in shown


async def test_partner_registers_on_an_agreement_and_the_customer_removes_it(
    bot_app: BotUnderTest,
) -> None:
    done = body(
        await bot_app.command("/access", f"register AUTH-11930427 V4471203 {CLAIRE}", as_=SOPHIE)
    )
    assert "V4471203" in done["text"]
    wrong = body(
        await bot_app.command("/access", f"register AUTH-11930427 V4471203 {ALICE}", as_=SOPHIE)
    )
    assert "V4471203" not in wrong["text"] and "ACME" not in wrong["text"]

    await bot_app.drain()
    (dm,) = bot_app.fake.posts(bot_app.user(CLAIRE))
    assert "Nuage Informatique SARL" in dm.args["text"]
    (remove,) = buttons(dm.args["blocks"], AccountIds.AGREEMENT_REMOVE_PARTNER)

    click = await bot_app.requests.block_action(
        bot_app.user(CLAIRE), AccountIds.AGREEMENT_REMOVE_PARTNER, remove["value"]
    )
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    assert "V4471203" in answer.args["text"] and answer.args["replace_original"] is True
    await bot_app.drain()
    (told,) = bot_app.fake.posts("C0NUAGEQ")
    assert "V4471203" in told.args["text"]


async def test_superuser_transfer_to_a_partner_contact(bot_app: BotUnderTest) -> None:
    asked = body(await bot_app.command("/access", f"superuser {ACME_PROD} {MARC}", as_=MARC))
    assert "411023871" in asked["text"] and "Alice Martin" in asked["text"]
    await bot_app.drain()
    (dm,) = bot_app.fake.posts(bot_app.user(ALICE))
    assert "responsabilité juridique" in dm.args["text"]
    (confirm,) = buttons(dm.args["blocks"], AccountIds.SUPERUSER_CONFIRM)

    # Marc cannot confirm for Alice
    stolen = await bot_app.requests.block_action(
        bot_app.user(MARC), AccountIds.SUPERUSER_CONFIRM, confirm["value"]
    )
    refused = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{stolen.response_name}"
    )
    # exactly the answer to a missing request: no EA, no names
    assert "411023871" not in refused.args["text"] and "Alice" not in refused.args["text"]

    click = await bot_app.requests.block_action(
        bot_app.user(ALICE), AccountIds.SUPERUSER_CONFIRM, confirm["value"]
    )
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    assert "Marc Dupont" in answer.args["text"] and answer.args["replace_original"] is True
    await bot_app.drain()
    assert any(
        "Vous êtes désormais" in c.args["text"] for c in bot_app.fake.posts(bot_app.user(MARC))
    )
    assert len(bot_app.fake.posts(bot_app.user(ALICE))) == 2

    card = body(await bot_app.command("/ea", ACME_PROD, as_=ALICE))
    assert "marc.dupont@nuage.example" in everything(card)


async def test_renewal_quote_from_the_renewals_list(bot_app: BotUnderTest) -> None:
    listed = body(await bot_app.command("/entitlements", "renewals", as_=CLAIRE))
    assert listed["text"] == "Échéances d'ici 90 jours : 3 éléments."
    quotes = buttons(listed["blocks"], AccountIds.RENEWAL_QUOTE)
    assert len(quotes) == 3
    contract = next(b for b in quotes if "SNS-0041188" in b["value"])
    click = await bot_app.requests.block_action(
        bot_app.user(CLAIRE), AccountIds.RENEWAL_QUOTE, contract["value"]
    )
    answer = await bot_app.fake.wait_for(
        lambda c: c.method == f"response_url:{click.response_name}"
    )
    assert "T-" in answer.args["text"] and "411023872" in answer.args["text"]
    await bot_app.drain()
    # R6: the customer's business ticket lands with its partner
    assert any("T-" in c.args["text"] for c in bot_app.fake.posts("C0NUAGEQ"))


async def test_outsiders_over_http(bot_app: BotUnderTest) -> None:
    for command in ("/ea", "/entitlements", "/access", "/audit"):
        foreign = body(await bot_app.command(command, ACME_PROD, as_=JEAN))
        missing = body(await bot_app.command(command, "999999999", as_=JEAN))
        assert foreign["text"].replace(ACME_PROD, "X") == missing["text"].replace("999999999", "X")
        assert "ACME" not in everything(foreign)
