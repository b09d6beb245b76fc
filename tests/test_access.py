"""/access use cases on the demo world: who may grant and revoke, what they may give,
notifications both ways (R9), agreement registration, superuser transfer (R10)."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from account_fixtures import (
    ACME_DEV,
    ACME_MS,
    ACME_PROD,
    ALICE,
    BRUNO,
    CARAVELLE,
    CLAIRE,
    DAVID,
    EOIN,
    GRACE,
    JEAN,
    LEA,
    MARC,
    NOWHERE,
    OLIVER,
    PAUL,
    RIVERBANK,
    RIVERBANK_OLD,
    SOPHIE,
    TOM,
    actor,
    audit_rows,
    message,
    outbox,
    trail,
)

from bot import access, entitlements
from bot.blocks import accounts as account_blocks
from bot.domain import Permission
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.store import Store
from bot.store import accounts as accounts_db

P = Permission


async def grants(store: Store, ea: str) -> dict[str, set[Permission]]:
    async with store.read() as conn:
        return {g.partner: set(g.permissions) for g in await accounts_db.grants_on(conn, ea=ea)}


# --- reading ---------------------------------------------------------------------------------


async def test_customer_sees_every_grant_and_may_manage(
    demo_store: Store, now: dt.datetime
) -> None:
    overview = await access.access_overview(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now
    )
    assert [p.partner for p in overview.partners] == ["distrilog", "nuage"]
    assert overview.superuser is not None and overview.superuser.email == ALICE
    assert overview.can_manage and not overview.only_own
    assert [e.action for e in await trail(demo_store, ea=ACME_PROD)] == ["access.view"]


async def test_partner_without_manage_roles_sees_only_its_own_grant(
    demo_store: Store, now: dt.datetime
) -> None:
    overview = await access.access_overview(
        demo_store, await actor(demo_store, PAUL), ea=ACME_PROD, now=now
    )
    assert [p.partner for p in overview.partners] == ["distrilog"]
    assert overview.only_own and not overview.can_manage
    text = account_blocks.access_overview(overview, "en")
    rendered = str([b.to_dict() for b in text.blocks])
    assert "nuage" not in rendered and "Nuage" not in rendered


async def test_vendor_engineer_sees_grants_but_cannot_manage(
    demo_store: Store, now: dt.datetime
) -> None:
    eoin = await actor(demo_store, EOIN)
    overview = await access.access_overview(demo_store, eoin, ea=ACME_PROD, now=now)
    assert len(overview.partners) == 2 and not overview.can_manage
    with pytest.raises(Forbidden) as refused:
        await access.grant_access(
            demo_store, eoin, ea=ACME_PROD, partner="harbor", permissions=None, now=now
        )
    assert refused.value.key == "accounts.access_forbidden"


# --- grant and revoke by the customer -----------------------------------------------------------


async def test_grant_lets_the_partner_see_and_tells_both_sides(
    demo_store: Store, now: dt.datetime
) -> None:
    tom = await actor(demo_store, TOM)
    with pytest.raises(NotFound):
        await entitlements.account_card(demo_store, tom, ea=ACME_PROD, now=now)

    result = await access.grant_access(
        demo_store,
        await actor(demo_store, ALICE),
        ea=ACME_PROD,
        partner="harbor",
        permissions=[P.VIEW_LICENSE_KEYS, P.FILE_SUPPORT_REQUESTS],
        until=dt.date(2027, 1, 31),
        now=now,
    )
    assert result.permissions == (P.VIEW_LICENSE_KEYS, P.FILE_SUPPORT_REQUESTS)
    assert result.previous is None and result.partner_name == "Harbor IT Ltd"

    card = await entitlements.account_card(demo_store, tom, ea=ACME_PROD, now=now)
    assert card.ea == ACME_PROD
    page = await entitlements.entitlements(demo_store, tom, ea=ACME_PROD, now=now)
    assert not page.keys_masked and "7LRWF-VEALK-XWKKX-ZWWHP-0E4FU" in [k.key for k in page.keys]

    sent = await outbox(demo_store)
    to_queue = [e for e in sent if e["payload"].get("channel") == "C0HARBORQ"]
    to_superuser = [e for e in sent if e["payload"].get("user_email") == ALICE]
    assert len(to_queue) == 1 and len(to_superuser) == 1
    assert ACME_PROD in to_queue[0]["payload"]["text"]
    assert "2027-01-31" in to_queue[0]["payload"]["text"]
    # each side in its own language: harbor speaks English, Alice French
    assert "gave Harbor IT Ltd access" in to_queue[0]["payload"]["text"]
    assert "a reçu un accès" in to_superuser[0]["payload"]["text"]
    (button,) = to_superuser[0]["payload"]["blocks"][1]["elements"]
    assert button["action_id"] == account_blocks.AccountIds.REVOKE_PARTNER
    assert account_blocks.parse_revoke_value(button["value"]) == (ACME_PROD, "harbor")
    entry = next(e for e in await trail(demo_store, ea=ACME_PROD) if e.action == "access.grant")
    assert entry.actor == ALICE
    assert entry.detail["partner"] == "harbor" and entry.detail["until"] == "2027-01-31"


async def test_revoke_hides_the_account_and_tells_both_sides(
    demo_store: Store, now: dt.datetime
) -> None:
    sophie = await actor(demo_store, SOPHIE)
    await entitlements.account_card(demo_store, sophie, ea=ACME_PROD, now=now)

    result = await access.revoke_access(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, partner="nuage", now=now
    )
    assert P.VIEW_LICENSE_KEYS in result.permissions
    with pytest.raises(NotFound) as hidden:
        await entitlements.account_card(demo_store, sophie, ea=ACME_PROD, now=now)
    assert hidden.value.key == "accounts.no_such_ea"
    assert ACME_PROD not in [
        line.ea for line in (await entitlements.my_accounts(demo_store, sophie, now=now)).lines
    ]

    sent = await outbox(demo_store)
    queue = [e["payload"]["text"] for e in sent if e["payload"].get("channel") == "C0NUAGEQ"]
    superuser = [e["payload"]["text"] for e in sent if e["payload"].get("user_email") == ALICE]
    assert len(queue) == 1 and "a retiré" in queue[0]
    assert len(superuser) == 1 and "n'a plus accès" in superuser[0]
    assert (await trail(demo_store, ea=ACME_PROD))[0].action == "access.revoke"


async def test_expired_grant_no_longer_counts(demo_store: Store, now: dt.datetime) -> None:
    alice, tom = await actor(demo_store, ALICE), await actor(demo_store, TOM)
    await access.grant_access(
        demo_store,
        alice,
        ea=ACME_PROD,
        partner="harbor",
        permissions=[P.VIEW_ORDERS_CONTRACTS],
        until=now.date(),
        now=now,
    )
    assert (await entitlements.account_card(demo_store, tom, ea=ACME_PROD, now=now)).ea == ACME_PROD
    tomorrow = now + dt.timedelta(days=1)
    with pytest.raises(NotFound):
        await entitlements.account_card(demo_store, tom, ea=ACME_PROD, now=tomorrow)
    with pytest.raises(NotFound):
        await entitlements.entitlements(demo_store, tom, ea=ACME_PROD, now=tomorrow)
    mine = await entitlements.my_accounts(demo_store, tom, now=tomorrow)
    assert ACME_PROD not in [line.ea for line in mine.lines]
    # the customer still sees it, marked as ended
    overview = await access.access_overview(demo_store, alice, ea=ACME_PROD, now=tomorrow)
    harbor = next(p for p in overview.partners if p.partner == "harbor")
    assert not harbor.active


async def test_until_in_the_past_is_refused_and_nothing_changes(
    demo_store: Store, now: dt.datetime
) -> None:
    before = await grants(demo_store, ACME_PROD)
    with pytest.raises(UserError) as refused:
        await access.grant_access(
            demo_store,
            await actor(demo_store, ALICE),
            ea=ACME_PROD,
            partner="harbor",
            permissions=[P.VIEW_ORDERS_CONTRACTS],
            until=now.date() - dt.timedelta(days=1),
            now=now,
        )
    assert refused.value.key == "accounts.until_in_past"
    assert await grants(demo_store, ACME_PROD) == before
    assert await outbox(demo_store) == []


@pytest.mark.parametrize("partner", ["nosuchpartner", "acme", "vmw"])
async def test_unknown_partner_is_named_without_listing_partners(
    demo_store: Store, now: dt.datetime, partner: str
) -> None:
    alice = await actor(demo_store, ALICE)
    for call in (
        access.grant_access(
            demo_store, alice, ea=ACME_PROD, partner=partner, permissions=None, now=now
        ),
        access.revoke_access(demo_store, alice, ea=ACME_PROD, partner=partner, now=now),
    ):
        with pytest.raises(NotFound) as refused:
            await call
        assert refused.value.key == "accounts.no_such_partner"
        text = message(refused.value)
        assert text == f"There is no partner `{partner}`."


async def test_revoking_a_partner_without_grant(demo_store: Store, now: dt.datetime) -> None:
    with pytest.raises(NotFound) as refused:
        await access.revoke_access(
            demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, partner="harbor", now=now
        )
    assert refused.value.key == "accounts.no_grant"


async def test_who_may_manage_on_the_customer_side(demo_store: Store, now: dt.datetime) -> None:
    # a plain user, and the superuser of another EA of the same customer, may not
    for email in (DAVID, BRUNO):
        with pytest.raises(Forbidden) as refused:
            await access.grant_access(
                demo_store,
                await actor(demo_store, email),
                ea=ACME_PROD,
                partner="harbor",
                permissions=None,
                now=now,
            )
        assert refused.value.key == "accounts.access_forbidden"
        assert refused.value.params["superuser"] == "Alice Martin"
    # procurement may, on every EA of its customer
    result = await access.grant_access(
        demo_store,
        await actor(demo_store, CLAIRE),
        ea=ACME_DEV,
        partner="harbor",
        permissions=None,
        now=now,
    )
    assert result.permissions == tuple(Permission) and result.until is None
    # Bruno manages his own EA
    await access.revoke_access(
        demo_store, await actor(demo_store, BRUNO), ea=ACME_DEV, partner="harbor", now=now
    )


async def test_grant_replaces_the_previous_one(demo_store: Store, now: dt.datetime) -> None:
    result = await access.grant_access(
        demo_store,
        await actor(demo_store, ALICE),
        ea=ACME_PROD,
        partner="distrilog",
        permissions=[P.VIEW_ORDERS_CONTRACTS, P.VIEW_LICENSE_KEYS],
        until=dt.date(2027, 3, 1),
        now=now,
    )
    assert result.previous == (P.VIEW_ORDERS_CONTRACTS,)
    assert (await grants(demo_store, ACME_PROD))["distrilog"] == {
        P.VIEW_ORDERS_CONTRACTS,
        P.VIEW_LICENSE_KEYS,
    }


async def test_grant_on_a_merged_number_lands_on_the_new_account(
    demo_store: Store, now: dt.datetime
) -> None:
    result = await access.grant_access(
        demo_store,
        await actor(demo_store, GRACE),
        ea=RIVERBANK_OLD,
        partner="harbor",
        permissions=[P.FILE_SUPPORT_REQUESTS],
        now=now,
    )
    assert result.ea == RIVERBANK and result.asked_for == RIVERBANK_OLD
    assert "harbor" in await grants(demo_store, RIVERBANK)
    assert "harbor" not in await grants(demo_store, RIVERBANK_OLD)
    reply = account_blocks.granted(result, "en")
    assert "merged" in str([b.to_dict() for b in reply.blocks])


# --- grant and revoke by a partner holding manage_roles -------------------------------------------


async def test_partner_manager_passes_on_only_what_it_holds(
    demo_store: Store, now: dt.datetime
) -> None:
    # nuage holds view_orders_contracts, file/view support requests and manage_roles on
    # ACME Microsoft, until 2028-06-30
    sophie = await actor(demo_store, SOPHIE)
    with pytest.raises(Forbidden) as exceeds:
        await access.grant_access(
            demo_store,
            sophie,
            ea=ACME_MS,
            partner="harbor",
            permissions=[P.VIEW_LICENSE_KEYS, P.VIEW_ORDERS_CONTRACTS],
            now=now,
        )
    assert exceeds.value.key == "accounts.grant_exceeds_own"
    assert exceeds.value.params["permissions"] == ["view_license_keys"]

    with pytest.raises(Forbidden) as too_long:
        await access.grant_access(
            demo_store,
            sophie,
            ea=ACME_MS,
            partner="harbor",
            permissions=[P.VIEW_ORDERS_CONTRACTS],
            until=dt.date(2029, 1, 1),
            now=now,
        )
    assert too_long.value.key == "accounts.grant_beyond_own"

    with pytest.raises(Forbidden) as itself:
        await access.grant_access(
            demo_store,
            sophie,
            ea=ACME_MS,
            partner="nuage",
            permissions=[P.VIEW_ORDERS_CONTRACTS],
            now=now,
        )
    assert itself.value.key == "accounts.grant_to_self"

    # "all" means all it holds; the end date defaults to its own
    result = await access.grant_access(
        demo_store, sophie, ea=ACME_MS, partner="harbor", permissions=None, now=now
    )
    assert set(result.permissions) == {
        P.VIEW_ORDERS_CONTRACTS,
        P.FILE_SUPPORT_REQUESTS,
        P.VIEW_SUPPORT_REQUESTS,
        P.MANAGE_ROLES,
    }
    assert result.until == dt.date(2028, 6, 30)
    # the superuser hears of a grant made by a partner
    assert any(e["payload"].get("user_email") == ALICE for e in await outbox(demo_store))

    # harbor now manages roles too: nuage cannot take that away, the customer can
    with pytest.raises(Forbidden) as peer:
        await access.revoke_access(demo_store, sophie, ea=ACME_MS, partner="harbor", now=now)
    assert peer.value.key == "accounts.peer_grant_protected"
    await access.revoke_access(
        demo_store, await actor(demo_store, ALICE), ea=ACME_MS, partner="harbor", now=now
    )


async def test_partner_manager_revokes_a_lesser_grant_and_may_leave(
    demo_store: Store, now: dt.datetime
) -> None:
    sophie = await actor(demo_store, SOPHIE)
    await access.grant_access(
        demo_store,
        sophie,
        ea=ACME_MS,
        partner="harbor",
        permissions=[P.VIEW_SUPPORT_REQUESTS],
        now=now,
    )
    await access.revoke_access(demo_store, sophie, ea=ACME_MS, partner="harbor", now=now)
    await access.revoke_access(demo_store, sophie, ea=ACME_MS, partner="nuage", now=now)
    assert await grants(demo_store, ACME_MS) == {}


async def test_partner_without_manage_roles_cannot_manage(
    demo_store: Store, now: dt.datetime
) -> None:
    for email, ea in ((PAUL, ACME_PROD), (LEA, ACME_PROD), (TOM, CARAVELLE)):
        with pytest.raises(Forbidden) as refused:
            await access.grant_access(
                demo_store,
                await actor(demo_store, email),
                ea=ea,
                partner="bluepeak",
                permissions=None,
                now=now,
            )
        assert refused.value.key == "accounts.access_forbidden"


# --- parsing -------------------------------------------------------------------------------------


def test_parse_permissions() -> None:
    assert access.parse_permissions(["all"]) is None
    assert access.parse_permissions(["ALL"]) is None
    assert access.parse_permissions(["file_support_requests,view_license_keys"]) == (
        P.VIEW_LICENSE_KEYS,
        P.FILE_SUPPORT_REQUESTS,
    )
    assert access.parse_permissions(["view_license_keys,", "manage_roles"]) == (
        P.VIEW_LICENSE_KEYS,
        P.MANAGE_ROLES,
    )
    with pytest.raises(UserError) as bad:
        access.parse_permissions(["view_keys"])
    assert bad.value.key == "accounts.bad_permission" and bad.value.usage == "accounts.usage_access"
    with pytest.raises(UserError) as missing:
        access.parse_permissions([])
    assert missing.value.key == "parse.missing"


def test_parse_email() -> None:
    assert access.parse_email("Claire.Dubois@ACME.example") == "claire.dubois@acme.example"
    assert (
        access.parse_email("<mailto:claire.dubois@acme.example|claire.dubois@acme.example>")
        == "claire.dubois@acme.example"
    )
    for bad in ("claire", "claire@", "@acme.example", "a b@c.d"):
        with pytest.raises(UserError):
            access.parse_email(bad)


# --- /access register ------------------------------------------------------------------------------


async def test_register_and_customer_removes_the_partner(
    demo_store: Store, now: dt.datetime
) -> None:
    sophie = await actor(demo_store, SOPHIE)
    result = await access.register_agreement_partner(
        demo_store,
        sophie,
        authorization="AUTH-11930427",
        agreement="V4471203",
        customer_email="Claire.Dubois@acme.example",
        now=now,
    )
    assert result.agreement == "V4471203"
    async with demo_store.read() as conn:
        assert (await accounts_db.get_agreement(conn, number="V4471203")).partners == ("nuage",)  # type: ignore[union-attr]

    dms = [
        e["payload"] for e in await outbox(demo_store) if e["payload"].get("user_email") == CLAIRE
    ]
    assert len(dms) == 1 and "Nuage Informatique SARL" in dms[0]["text"]
    button = dms[0]["blocks"][1]["elements"][0]
    assert button["action_id"] == account_blocks.AccountIds.AGREEMENT_REMOVE_PARTNER
    agreement, partner = account_blocks.parse_agreement_value(button["value"])

    with pytest.raises(Conflict):
        await access.register_agreement_partner(
            demo_store,
            sophie,
            authorization="AUTH-11930427",
            agreement="V4471203",
            customer_email=CLAIRE,
            now=now,
        )

    # someone of another company cannot use the button
    with pytest.raises(NotFound) as foreign:
        await access.remove_agreement_partner(
            demo_store, await actor(demo_store, JEAN), agreement=agreement, partner=partner, now=now
        )
    assert foreign.value.key == "accounts.no_such_agreement"

    removed = await access.remove_agreement_partner(
        demo_store, await actor(demo_store, CLAIRE), agreement=agreement, partner=partner, now=now
    )
    assert removed.partner_name == "Nuage Informatique SARL"
    async with demo_store.read() as conn:
        assert (await accounts_db.get_agreement(conn, number="V4471203")).partners == ()  # type: ignore[union-attr]
    told = [
        e["payload"]["text"]
        for e in await outbox(demo_store)
        if e["payload"].get("channel") == "C0NUAGEQ"
    ]
    assert len(told) == 1 and "V4471203" in told[0]
    actions = [r["action"] for r in await audit_rows(demo_store)]
    assert "agreement.partner_registered" in actions and "agreement.partner_removed" in actions

    with pytest.raises(Conflict):
        await access.remove_agreement_partner(
            demo_store,
            await actor(demo_store, CLAIRE),
            agreement=agreement,
            partner=partner,
            now=now,
        )


@pytest.mark.parametrize(
    ("authorization", "agreement", "email"),
    [
        ("AUTH-00000000", "V4471203", CLAIRE),
        ("AUTH-11930427", "V0000000", CLAIRE),
        ("AUTH-11930427", "V4471203", ALICE),
        ("AUTH-48201937", "V4471203", CLAIRE),  # another agreement's authorization
    ],
)
async def test_register_refuses_any_mismatch_alike(
    demo_store: Store, now: dt.datetime, authorization: str, agreement: str, email: str
) -> None:
    with pytest.raises(UserError) as refused:
        await access.register_agreement_partner(
            demo_store,
            await actor(demo_store, SOPHIE),
            authorization=authorization,
            agreement=agreement,
            customer_email=email,
            now=now,
        )
    assert refused.value.key == "accounts.register_refused" and refused.value.params == {}
    assert await outbox(demo_store) == []
    refusal = (await audit_rows(demo_store))[-1]
    assert refusal["action"] == "agreement.register.refused" and refusal["ea"] is None


async def test_register_is_for_partners(demo_store: Store, now: dt.datetime) -> None:
    with pytest.raises(Forbidden):
        await access.register_agreement_partner(
            demo_store,
            await actor(demo_store, CLAIRE),
            authorization="AUTH-11930427",
            agreement="V4471203",
            customer_email=CLAIRE,
            now=now,
        )


# --- superuser transfer ----------------------------------------------------------------------


async def confirmation_status(store: Store, confirmation_id: int) -> tuple[str, str | None]:
    async with store.read() as conn:
        found = await accounts_db.get_confirmation(conn, id=confirmation_id)
    assert found is not None
    return found.status, found.decided_by


async def superuser_of(store: Store, ea: str) -> str | None:
    async with store.read() as conn:
        account = await accounts_db.get_account(conn, ea=ea)
    assert account is not None
    return account.superuser


async def test_superuser_moves_to_a_partner_contact_only_once_confirmed(
    demo_store: Store, now: dt.datetime
) -> None:
    alice, marc = await actor(demo_store, ALICE), await actor(demo_store, MARC)
    requested = await access.request_superuser_transfer(
        demo_store, marc, ea=ACME_PROD, email=MARC, now=now
    )
    assert requested.approver.email == ALICE and requested.candidate.email == MARC
    assert await superuser_of(demo_store, ACME_PROD) == ALICE

    dm = next(
        e["payload"] for e in await outbox(demo_store) if e["payload"].get("user_email") == ALICE
    )
    assert "responsabilité juridique" in dm["text"]  # Alice reads French
    buttons = dm["blocks"][1]["elements"]
    assert [b["action_id"] for b in buttons] == [
        account_blocks.AccountIds.SUPERUSER_CONFIRM,
        account_blocks.AccountIds.SUPERUSER_DECLINE,
    ]
    confirmation_id = account_blocks.parse_confirmation_value(buttons[0]["value"])
    assert confirmation_id == requested.confirmation_id

    # only the current superuser answers; to anyone else the request reads as missing
    for email in (MARC, CLAIRE, SOPHIE):
        with pytest.raises(NotFound):
            await access.decide_superuser_transfer(
                demo_store,
                await actor(demo_store, email),
                confirmation_id=confirmation_id,
                confirm=True,
                now=now,
            )
    assert await superuser_of(demo_store, ACME_PROD) == ALICE

    decided = await access.decide_superuser_transfer(
        demo_store,
        alice,
        confirmation_id=confirmation_id,
        confirm=True,
        now=now + dt.timedelta(hours=1),
    )
    assert decided.outcome == "confirmed"
    assert await superuser_of(demo_store, ACME_PROD) == MARC
    assert await confirmation_status(demo_store, confirmation_id) == ("confirmed", ALICE)
    told = {e["payload"].get("user_email") for e in (await outbox(demo_store))[1:]}
    assert told == {ALICE, MARC}
    actions = [e.action for e in await trail(demo_store, ea=ACME_PROD)]
    assert actions[:2] == ["superuser.confirmed", "superuser.requested"]

    # a second click changes nothing
    with pytest.raises(Conflict):
        await access.decide_superuser_transfer(
            demo_store, alice, confirmation_id=confirmation_id, confirm=True, now=now
        )
    # the new superuser now manages access
    await access.grant_access(
        demo_store,
        marc,
        ea=ACME_PROD,
        partner="harbor",
        permissions=[P.VIEW_ORDERS_CONTRACTS],
        now=now,
    )


async def test_declined_transfer_changes_nothing(demo_store: Store, now: dt.datetime) -> None:
    requested = await access.request_superuser_transfer(
        demo_store, await actor(demo_store, CLAIRE), ea=ACME_PROD, email=DAVID, now=now
    )
    decided = await access.decide_superuser_transfer(
        demo_store,
        await actor(demo_store, ALICE),
        confirmation_id=requested.confirmation_id,
        confirm=False,
        now=now,
    )
    assert decided.outcome == "declined"
    assert await superuser_of(demo_store, ACME_PROD) == ALICE
    assert await confirmation_status(demo_store, requested.confirmation_id) == ("declined", ALICE)
    last = (await outbox(demo_store))[-1]["payload"]
    assert last["user_email"] == CLAIRE and "refusé" in last["text"]


async def test_lapsed_request_changes_nothing(demo_store: Store, now: dt.datetime) -> None:
    requested = await access.request_superuser_transfer(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, email=CLAIRE, now=now
    )
    decided = await access.decide_superuser_transfer(
        demo_store,
        await actor(demo_store, ALICE),
        confirmation_id=requested.confirmation_id,
        confirm=True,
        now=now + dt.timedelta(days=access.CONFIRMATION_DAYS, minutes=1),
    )
    assert decided.outcome == "expired"
    assert await superuser_of(demo_store, ACME_PROD) == ALICE


async def test_candidate_who_lost_eligibility_is_not_appointed(
    demo_store: Store, now: dt.datetime
) -> None:
    alice = await actor(demo_store, ALICE)
    requested = await access.request_superuser_transfer(
        demo_store, alice, ea=ACME_PROD, email=MARC, now=now
    )
    await access.revoke_access(demo_store, alice, ea=ACME_PROD, partner="nuage", now=now)
    decided = await access.decide_superuser_transfer(
        demo_store, alice, confirmation_id=requested.confirmation_id, confirm=True, now=now
    )
    assert decided.outcome == "cancelled"
    assert await superuser_of(demo_store, ACME_PROD) == ALICE


async def test_a_new_request_supersedes_the_pending_one(
    demo_store: Store, now: dt.datetime
) -> None:
    alice = await actor(demo_store, ALICE)
    first = await access.request_superuser_transfer(
        demo_store, alice, ea=ACME_PROD, email=CLAIRE, now=now
    )
    second = await access.request_superuser_transfer(
        demo_store, alice, ea=ACME_PROD, email=DAVID, now=now
    )
    assert (await confirmation_status(demo_store, first.confirmation_id))[0] == "superseded"
    with pytest.raises(Conflict):
        await access.decide_superuser_transfer(
            demo_store, alice, confirmation_id=first.confirmation_id, confirm=True, now=now
        )
    await access.decide_superuser_transfer(
        demo_store, alice, confirmation_id=second.confirmation_id, confirm=True, now=now
    )
    assert await superuser_of(demo_store, ACME_PROD) == DAVID


async def test_who_may_be_proposed(demo_store: Store, now: dt.datetime) -> None:
    alice, marc = await actor(demo_store, ALICE), await actor(demo_store, MARC)
    refusals = []
    # unknown person, another customer's contact, a partner without grant on the EA,
    # vendor staff, and (for a partner) a contact of the customer
    for who, email in (
        (alice, "nobody@nowhere.example"),
        (alice, JEAN),
        (alice, OLIVER),
        (alice, EOIN),
        (marc, CLAIRE),
    ):
        with pytest.raises(UserError) as refused:
            await access.request_superuser_transfer(
                demo_store, who, ea=ACME_PROD, email=email, now=now
            )
        assert refused.value.key == "accounts.superuser_candidate_refused"
        refusals.append(message(refused.value).replace(email, "<email>"))
    assert len(set(refusals)) == 1  # unknown and ineligible read alike
    with pytest.raises(Conflict) as same:
        await access.request_superuser_transfer(
            demo_store, alice, ea=ACME_PROD, email=ALICE, now=now
        )
    assert same.value.key == "accounts.already_superuser"
    with pytest.raises(Forbidden):
        await access.request_superuser_transfer(
            demo_store, await actor(demo_store, DAVID), ea=ACME_PROD, email=DAVID, now=now
        )
    with pytest.raises(Forbidden):
        await access.request_superuser_transfer(
            demo_store, await actor(demo_store, EOIN), ea=ACME_PROD, email=CLAIRE, now=now
        )
    with pytest.raises(NotFound):
        await access.request_superuser_transfer(
            demo_store, alice, ea=NOWHERE, email=CLAIRE, now=now
        )
    assert await outbox(demo_store) == []


# --- texts -----------------------------------------------------------------------------------------


def test_every_message_exists_in_both_languages() -> None:
    root = Path(__file__).resolve().parents[1] / "templates" / "messages"
    signature = re.compile(r"\{% macro (\w+)\(([^)]*)\) %\}")
    macros = {
        locale: dict(signature.findall((root / locale / "accounts.j2").read_text()))
        for locale in ("en", "fr")
    }
    assert macros["en"] == macros["fr"]
    assert {"usage_ea", "usage_entitlements", "usage_access", "usage_audit"} <= set(macros["en"])
