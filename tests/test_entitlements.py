"""/ea, /ea lookup, /entitlements and renewals on the demo world (R8, R11)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from account_fixtures import (
    ACME_DEV,
    ACME_MS,
    ACME_PROD,
    ALICE,
    CARAVELLE,
    CLAIRE,
    EOIN,
    GRACE,
    HEXAGONE,
    JEAN,
    MEGAN,
    NORTHWIND,
    PAUL,
    PRIYA,
    RIVERBANK,
    RIVERBANK_OLD,
    SAM,
    SOPHIE,
    TIDEWATER,
    TOM,
    actor,
    add_licenses,
    audit_rows,
    trail,
)

from bot import entitlements
from bot.blocks import accounts as account_blocks
from bot.domain import LicenseType, Queue, Tier
from bot.errors import Forbidden, NotFound, UserError
from bot.store import Store
from bot.store import tickets as tickets_db

E = entitlements


def rendered(reply: account_blocks.Reply) -> str:
    """Everything a reply shows (to_dict also checks Slack's limits)."""
    return reply.text + json.dumps([b.to_dict() for b in reply.blocks], ensure_ascii=False)


# --- /ea ------------------------------------------------------------------------------------


async def test_my_accounts_by_kind_of_actor(demo_store: Store, now: dt.datetime) -> None:
    mine = await E.my_accounts(demo_store, await actor(demo_store, ALICE), now=now)
    assert [line.ea for line in mine.lines] == [ACME_PROD, ACME_DEV, ACME_MS]
    assert mine.lines[2].vendor == "Microsoft" and mine.lines[0].customer == "ACME SA"

    nuage = await E.my_accounts(demo_store, await actor(demo_store, SOPHIE), now=now)
    by_ea = {line.ea: line for line in nuage.lines}
    assert set(by_ea) == {ACME_PROD, ACME_DEV, ACME_MS, HEXAGONE, CARAVELLE, "318640257"}
    assert by_ea[ACME_PROD].until == dt.date(2027, 12, 31) and by_ea[ACME_DEV].until is None

    # bluepeak's grant on Tidewater has lapsed
    bluepeak = await E.my_accounts(demo_store, await actor(demo_store, SAM), now=now)
    assert [line.ea for line in bluepeak.lines] == [NORTHWIND]

    vmware = await E.my_accounts(demo_store, await actor(demo_store, EOIN), now=now)
    eas = [line.ea for line in vmware.lines]
    assert ACME_MS not in eas and NORTHWIND not in eas and RIVERBANK_OLD not in eas
    assert RIVERBANK in eas and len(eas) == 9

    reply = account_blocks.my_accounts(mine, "fr")
    assert reply.text == "Vous voyez 3 comptes." and ACME_MS in rendered(reply)
    assert (await audit_rows(demo_store))[0]["action"] == "ea.list"


async def test_card_for_the_customer(demo_store: Store, now: dt.datetime) -> None:
    card = await E.account_card(demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now)
    assert card.customer == "ACME SA" and card.vendor == "VMware"
    assert card.superuser is not None and card.superuser.name == "Alice Martin"
    assert [p.partner for p in card.partners] == ["distrilog", "nuage"]
    assert card.contracts is not None and [c.number for c in card.contracts] == ["SNS-0041187"]
    assert card.key_counts == {LicenseType.STANDARD: 6}
    reply = account_blocks.account_card(card, "en")
    assert reply.text == "EA 411023871 — ACME Production (ACME SA, VMware)."
    shown = rendered(reply)
    assert "SNS-0041187" in shown and "6 standard" in shown and "until 2026-12-15" in shown
    assert [e.action for e in await trail(demo_store, ea=ACME_PROD)] == ["ea.view"]


async def test_card_fields_follow_the_partners_permissions(
    demo_store: Store, now: dt.datetime
) -> None:
    # harbor may only file and view support requests on Caravelle
    card = await E.account_card(demo_store, await actor(demo_store, TOM), ea=CARAVELLE, now=now)
    assert card.contracts is None and card.key_counts is None
    assert [p.partner for p in card.partners] == ["harbor"] and card.only_own_grant
    shown = rendered(account_blocks.account_card(card, "en"))
    assert "SNS-0084519" not in shown and "nuage" not in shown.casefold()

    # distrilog reads orders on ACME Production: contracts yes, the other partners no
    card = await E.account_card(demo_store, await actor(demo_store, PAUL), ea=ACME_PROD, now=now)
    assert card.contracts is not None and card.key_counts is not None
    assert [p.partner for p in card.partners] == ["distrilog"]


async def test_card_of_a_merged_number(demo_store: Store, now: dt.datetime) -> None:
    card = await E.account_card(
        demo_store, await actor(demo_store, GRACE), ea=RIVERBANK_OLD, now=now
    )
    assert card.ea == RIVERBANK and card.asked_for == RIVERBANK_OLD
    reply = account_blocks.account_card(card, "en")
    assert "733190001 was merged into" in reply.text
    assert "EA 733190001 was merged into EA 733190462" in rendered(reply)


# --- /ea lookup -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("acme", [ACME_PROD, ACME_DEV, ACME_MS]),
        ("ACME sa", [ACME_PROD, ACME_DEV, ACME_MS]),
        ("lumiere medias", ["620045517"]),
        ("LUMIÈRE", ["620045517"]),
        ("grace.holloway@riverbank.example", [RIVERBANK]),
        ("Grace.Holloway@Riverbank.example", [RIVERBANK]),
        ("riverbank.example", [RIVERBANK]),
        ("@acme.example", [ACME_PROD, ACME_DEV, ACME_MS]),
        ("sophie.bernard@nuage.example", []),  # a partner's contact is no customer
        ("nowhere.example", []),
        ("zzzzzz", []),
    ],
)
async def test_lookup_finds_every_ea_of_the_customer(
    demo_store: Store, now: dt.datetime, query: str, expected: list[str]
) -> None:
    result = await E.lookup_accounts(
        demo_store, await actor(demo_store, PAUL), query=query, now=now
    )
    assert sorted(m.ea for m in result.matches) == sorted(expected)
    entry = (await audit_rows(demo_store))[-1]
    assert entry["action"] == "ea.lookup" and entry["ea"] is None
    assert entry["detail"]["found"] == [m.ea for m in result.matches]


async def test_lookup_reveals_only_number_customer_and_vendor(
    demo_store: Store, now: dt.datetime
) -> None:
    result = await E.lookup_accounts(
        demo_store, await actor(demo_store, PAUL), query="acme", now=now
    )
    assert {(m.customer, m.vendor) for m in result.matches} == {
        ("ACME SA", "VMware"),
        ("ACME SA", "Microsoft"),
    }
    shown = rendered(account_blocks.lookup(result, "en"))
    for secret in ("ACME Production", "alice.martin", "Alice", "SNS-", "0E4FU", "nuage"):
        assert secret not in shown


async def test_lookup_by_vendor_staff_stays_within_the_vendor(
    demo_store: Store, now: dt.datetime
) -> None:
    result = await E.lookup_accounts(
        demo_store, await actor(demo_store, PRIYA), query="acme", now=now
    )
    assert [m.ea for m in result.matches] == [ACME_MS]


async def test_lookup_is_not_for_customers_and_needs_three_letters(
    demo_store: Store, now: dt.datetime
) -> None:
    with pytest.raises(Forbidden) as refused:
        await E.lookup_accounts(
            demo_store, await actor(demo_store, ALICE), query="hexagone", now=now
        )
    assert refused.value.key == "accounts.lookup_forbidden"
    with pytest.raises(UserError) as short:
        await E.lookup_accounts(demo_store, await actor(demo_store, PAUL), query="a c", now=now)
    assert (
        short.value.key == "accounts.lookup_too_short" and short.value.usage == "accounts.usage_ea"
    )
    assert [r["action"] for r in await audit_rows(demo_store)] == [
        "ea.lookup.refused",
        "ea.lookup.refused",
    ]


# --- /entitlements ------------------------------------------------------------------------------


async def test_customer_sees_everything(demo_store: Store, now: dt.datetime) -> None:
    page = await E.entitlements(demo_store, await actor(demo_store, ALICE), ea=ACME_MS, now=now)
    assert not page.keys_masked
    assert [(k.folder, k.key) for k in page.keys] == [
        ("Home", "54W2L-OVTTN-NS28V-AOJHB-83V6M"),
        ("Production BDD", "QSPYA-0JU20-6L4CD-B9ZQK-VCZ8G"),
        ("Préproduction", "Q8SYE-2NJA3-JGZDU-L48VW-PME0R"),
    ]
    assert all(k.order for k in page.keys)
    assert page.contracts is not None and page.subscriptions is not None
    assert [s.seller for s in page.subscriptions] == ["Nuage Informatique SARL"]
    assert page.agreements is not None
    (agreement,) = page.agreements
    assert agreement.number == "V4471203" and agreement.benefits == (
        "e_learning",
        "home_use_program",
    )
    assert [a.name for a in agreement.admins] == ["Alice Martin"]
    shown = rendered(account_blocks.entitlements(page, "en"))
    assert "home use program" in shown and "Visual Studio Enterprise subscription" in shown
    entry = (await trail(demo_store, ea=ACME_MS))[0]
    assert entry.action == "entitlements.view" and entry.detail["masked"] is False


async def test_agreements_are_those_of_the_eas_vendor(demo_store: Store, now: dt.datetime) -> None:
    page = await E.entitlements(demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now)
    assert page.agreements == ()


async def test_keys_are_masked_without_view_license_keys(
    demo_store: Store, now: dt.datetime
) -> None:
    # nuage holds view_orders_contracts but not view_license_keys on Hexagone
    page = await E.entitlements(demo_store, await actor(demo_store, SOPHIE), ea=HEXAGONE, now=now)
    assert page.keys_masked
    assert all(k.key.startswith("•") for k in page.keys)
    assert {k.key[-5:] for k in page.keys} == {"N2UJ0", "O9AFF", "R1RR2"}
    shown = rendered(account_blocks.entitlements(page, "fr"))
    for full in ("QD2L8-HFV30-T6LIA-9DUT4-N2UJ0", "2AALC-XUY1O", "Q3TO9"):
        assert full not in shown
    assert "masquées" in shown
    assert page.contracts is not None  # orders and contracts are granted


async def test_keys_without_orders(demo_store: Store, now: dt.datetime) -> None:
    # dataforge: view_license_keys but no view_orders_contracts on Tidewater
    page = await E.entitlements(demo_store, await actor(demo_store, MEGAN), ea=TIDEWATER, now=now)
    assert not page.keys_masked and all(k.order is None for k in page.keys)
    assert page.contracts is None and page.subscriptions is None and page.agreements is None
    assert "SNS-0090877" not in rendered(account_blocks.entitlements(page, "en"))


async def test_partner_needs_keys_or_orders_permission(demo_store: Store, now: dt.datetime) -> None:
    with pytest.raises(Forbidden) as refused:
        await E.entitlements(demo_store, await actor(demo_store, TOM), ea=CARAVELLE, now=now)
    assert refused.value.key == "accounts.entitlements_forbidden"
    assert (await audit_rows(demo_store))[-1]["action"] == "entitlements.view.refused"


async def test_distributor_reading_orders_sees_masked_keys_and_contracts(
    demo_store: Store, now: dt.datetime
) -> None:
    page = await E.entitlements(demo_store, await actor(demo_store, PAUL), ea=ACME_PROD, now=now)
    assert page.keys_masked and page.contracts is not None
    assert {k.order for k in page.keys} == {"4500012345", "4500014410", "4500012346", "4500013377"}


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (E.Filters(product="vsphere"), {"0E4FU", "1Q7BO"}),
        (E.Filters(product="vSphere_Enterprise"), {"0E4FU", "1Q7BO"}),
        (E.Filters(folder="datacenter_lyon"), {"CMYON", "PQBCP"}),
        (E.Filters(folder="lyon"), {"CMYON", "PQBCP"}),
        (E.Filters(folder="home", product="vcenter"), {"QAZX4"}),
        (E.Filters(type=LicenseType.EVAL), set()),
        (E.Filters(folder="Nowhere"), set()),
    ],
)
async def test_filters(
    demo_store: Store, now: dt.datetime, filters: E.Filters, expected: set[str]
) -> None:
    page = await E.entitlements(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, filters=filters, now=now
    )
    assert {k.key[-5:] for k in page.keys} == expected
    if filters.keys_only:
        assert page.contracts is None


async def test_type_filter(demo_store: Store, now: dt.datetime) -> None:
    page = await E.entitlements(
        demo_store,
        await actor(demo_store, ALICE),
        ea=ACME_DEV,
        filters=E.Filters(type=LicenseType.EVAL),
        now=now,
    )
    assert [k.key[-5:] for k in page.keys] == ["4MWZS"] and page.keys[0].folder == "Évaluations"
    with pytest.raises(UserError) as bad:
        E.parse_type("perpetual")
    assert bad.value.key == "accounts.bad_type" and "nfr" in bad.value.params["types"]  # type: ignore[operator]


async def test_long_lists_page_with_a_more_button(demo_store: Store, now: dt.datetime) -> None:
    await add_licenses(demo_store, HEXAGONE, 45)
    jean = await actor(demo_store, JEAN)
    page = await E.entitlements(demo_store, jean, ea=HEXAGONE, now=now)
    assert len(page.keys) == E.PAGE_SIZE and page.next_offset == E.PAGE_SIZE
    assert page.contracts is not None
    reply = account_blocks.entitlements(page, "en")
    blocks = [b.to_dict() for b in reply.blocks]  # to_dict enforces Slack's limits
    assert len(blocks) <= 50
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    more = blocks[-1]
    assert more["type"] == "actions"
    button = more["elements"][0]
    assert button["action_id"] == account_blocks.AccountIds.ENTITLEMENTS_MORE
    ea, filters, offset = account_blocks.parse_more_value(button["value"])
    assert (ea, offset) == (HEXAGONE, E.PAGE_SIZE)

    seen = {k.key for k in page.keys}
    while offset is not None:
        next_page = await E.entitlements(
            demo_store, jean, ea=ea, filters=filters, offset=offset, now=now
        )
        assert next_page.contracts is None  # the rest comes with the first page
        seen |= {k.key for k in next_page.keys}
        offset = next_page.next_offset  # type: ignore[assignment]
    assert len(seen) == 48
    last = account_blocks.entitlements(next_page, "en")
    assert all(b.to_dict()["type"] != "actions" for b in last.blocks)


def test_more_button_value_round_trips_filters() -> None:
    filters = E.Filters(product="vSphere", type=LicenseType.NFR, folder="Lab démo")
    value = account_blocks.more_value("318640257", filters, 40)
    assert account_blocks.parse_more_value(value) == ("318640257", filters, 40)
    for broken in ("", "{", "[]", '{"ea": "1"}', '{"ea":"318640257","offset":-1}'):
        with pytest.raises(UserError) as stale:
            account_blocks.parse_more_value(broken)
        assert stale.value.key == "accounts.stale_button"


# --- renewals -------------------------------------------------------------------------------------


async def test_renewals_soonest_first(demo_store: Store, now: dt.datetime) -> None:
    result = await E.renewals(demo_store, await actor(demo_store, ALICE), now=now)
    assert [(i.kind, i.ea, i.ref) for i in result.items] == [
        ("key", ACME_DEV, "P67G1-SGUHZ-SDW8A-QS5P9-4MWZS"),
        ("contract", ACME_DEV, "SNS-0041188"),
        ("subscription", ACME_MS, "SUB-1006"),
    ]
    assert [i.days_left for i in result.items] == [27, 48, 83]
    assert result.can_request_quote
    reply = account_blocks.renewals(result, "en")
    assert reply.text == "Ending within 90 days: 3 items."
    buttons = [b.to_dict()["accessory"] for b in reply.blocks[1:]]
    assert all(b["action_id"] == account_blocks.AccountIds.RENEWAL_QUOTE for b in buttons)
    # a button never carries a whole key
    assert "P67G1" not in buttons[0]["value"]

    short = await E.renewals(demo_store, await actor(demo_store, ALICE), days=30, now=now)
    assert [i.ref for i in short.items] == ["P67G1-SGUHZ-SDW8A-QS5P9-4MWZS"]


async def test_renewals_follow_permissions(demo_store: Store, now: dt.datetime) -> None:
    # nuage may see keys of ACME Dev/Test but not its orders: the key, not the contract
    nuage = await E.renewals(demo_store, await actor(demo_store, SOPHIE), days=60, now=now)
    assert [(i.kind, i.ea) for i in nuage.items] == [("key", ACME_DEV)]
    # vendor staff see every EA of the vendor, and have no quote button
    vmware = await E.renewals(demo_store, await actor(demo_store, EOIN), days=60, now=now)
    assert ("contract", ACME_DEV) in [(i.kind, i.ea) for i in vmware.items]
    assert ACME_MS not in [i.ea for i in vmware.items]
    assert not vmware.can_request_quote
    assert all(
        b.to_dict().get("accessory") is None for b in account_blocks.renewals(vmware, "en").blocks
    )
    # keys appear masked to those without view_license_keys
    bluepeak = await E.renewals(demo_store, await actor(demo_store, SAM), days=60, now=now)
    assert [i.kind for i in bluepeak.items] == ["contract", "subscription"]


async def test_renewal_window_bounds(demo_store: Store, now: dt.datetime) -> None:
    alice = await actor(demo_store, ALICE)
    assert E.parse_days("730") == 730 and E.parse_days("1") == 1
    for bad in ("0", "731", "-5", "ninety", "9.5"):
        with pytest.raises(UserError) as refused:
            E.parse_days(bad)
        assert refused.value.key == "accounts.bad_days"
    with pytest.raises(UserError):
        await E.renewals(demo_store, alice, days=0, now=now)
    none = await E.renewals(demo_store, alice, days=1, now=now)
    assert (
        none.items == ()
        and account_blocks.renewals(none, "en").text == "Ending within 1 day: nothing."
    )


async def test_renewal_quote_opens_a_business_ticket(demo_store: Store, now: dt.datetime) -> None:
    alice = await actor(demo_store, ALICE)
    quote = await E.request_renewal_quote(
        demo_store,
        alice,
        ea=ACME_DEV,
        kind="contract",
        ref="SNS-0041188",
        now=now,
        request_key="quote:1",
    )
    assert quote.created and quote.ticket == f"T-{quote.ticket_id}"
    async with demo_store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=quote.ticket_id)
    assert ticket is not None
    assert ticket.queue is Queue.BUSINESS and ticket.ea == ACME_DEV
    # R6: a customer's business ticket goes to its partner
    assert ticket.tier is Tier.PARTNER and ticket.partner == "nuage"
    assert "SNS-0041188" in ticket.subject
    again = await E.request_renewal_quote(
        demo_store,
        alice,
        ea=ACME_DEV,
        kind="contract",
        ref="SNS-0041188",
        now=now,
        request_key="quote:1",
    )
    assert again.ticket_id == quote.ticket_id and not again.created
    actions = [e.action for e in await trail(demo_store, ea=ACME_DEV)]
    assert actions.count("renewal.quote_requested") == 1


async def test_renewal_quote_for_a_key_by_its_tail(demo_store: Store, now: dt.datetime) -> None:
    quote = await E.request_renewal_quote(
        demo_store, await actor(demo_store, CLAIRE), ea=ACME_DEV, kind="key", ref="4MWZS", now=now
    )
    async with demo_store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=quote.ticket_id)
    assert ticket is not None and "VMware Cloud Foundation" in ticket.subject


async def test_renewal_quote_refuses_what_is_not_there(demo_store: Store, now: dt.datetime) -> None:
    alice = await actor(demo_store, ALICE)
    with pytest.raises(UserError) as gone:
        await E.request_renewal_quote(
            demo_store, alice, ea=ACME_DEV, kind="contract", ref="SNS-0041187", now=now
        )
    assert gone.value.key == "accounts.renewal_item_gone"
    with pytest.raises(NotFound):
        await E.request_renewal_quote(
            demo_store, alice, ea=HEXAGONE, kind="contract", ref="SNS-0052260", now=now
        )
