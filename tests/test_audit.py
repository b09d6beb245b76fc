"""/audit: who may read an EA's or a ticket's trail, and what they read."""

from __future__ import annotations

import datetime as dt

import pytest
from account_fixtures import (
    ACME_PROD,
    ALICE,
    BRUNO,
    CAMILLE,
    CLAIRE,
    DAVID,
    EOIN,
    GRACE,
    JEAN,
    LEA,
    MARC,
    PAUL,
    PRIYA,
    RIVERBANK,
    RIVERBANK_OLD,
    SOPHIE,
    TOM,
    actor,
    audit_rows,
    message,
)

from bot import audit, entitlements, tickets
from bot.blocks import accounts as account_blocks
from bot.errors import Forbidden, NotFound, UserError
from bot.store import Store
from bot.store import audit as audit_db


async def open_ticket(store: Store, now: dt.datetime) -> int:
    outcome = await tickets.open_ticket(
        store, await actor(store, ALICE), subject="vMotion fails", ea=ACME_PROD, now=now
    )
    return outcome.card.ticket.id


async def test_superuser_reads_the_newest_entries_first(
    demo_store: Store, now: dt.datetime
) -> None:
    alice = await actor(demo_store, ALICE)
    await entitlements.account_card(demo_store, alice, ea=ACME_PROD, now=now)
    await entitlements.entitlements(
        demo_store, alice, ea=ACME_PROD, now=now + dt.timedelta(minutes=1)
    )
    result = await audit.audit_trail(
        demo_store, alice, ea=ACME_PROD, now=now + dt.timedelta(minutes=2)
    )
    assert [line.action for line in result.lines] == ["entitlements.view", "ea.view"]
    assert result.lines[0].who == ALICE and result.ea == ACME_PROD
    # reading the trail is itself recorded, after the read
    again = await audit.audit_trail(demo_store, alice, ea=ACME_PROD, limit=1, now=now)
    assert [line.action for line in again.lines] == ["audit.view"]
    reply = account_blocks.audit_trail(result, "fr")
    assert reply.text == "Journal de l'EA 411023871 : les 2 dernières entrées."
    assert "a consulté les droits" in str([b.to_dict() for b in reply.blocks])


@pytest.mark.parametrize("email", [ALICE, CLAIRE, BRUNO, SOPHIE, MARC, CAMILLE, EOIN])
async def test_who_may_read_an_ea_trail(demo_store: Store, now: dt.datetime, email: str) -> None:
    result = await audit.audit_trail(
        demo_store, await actor(demo_store, email), ea=ACME_PROD, now=now
    )
    assert result.ea == ACME_PROD


@pytest.mark.parametrize("email", [DAVID, LEA, PAUL])
async def test_users_and_agents_may_not(demo_store: Store, now: dt.datetime, email: str) -> None:
    with pytest.raises(Forbidden) as refused:
        await audit.audit_trail(demo_store, await actor(demo_store, email), ea=ACME_PROD, now=now)
    assert refused.value.key == "accounts.audit_forbidden"


@pytest.mark.parametrize("email", [JEAN, TOM, PRIYA])
async def test_outsiders_get_the_missing_answer(
    demo_store: Store, now: dt.datetime, email: str
) -> None:
    who = await actor(demo_store, email)
    with pytest.raises(NotFound) as foreign:
        await audit.audit_trail(demo_store, who, ea=ACME_PROD, now=now)
    with pytest.raises(NotFound) as missing:
        await audit.audit_trail(demo_store, who, ea="999999999", now=now)
    assert foreign.value.key == missing.value.key == "accounts.no_such_ea"
    assert message(foreign.value).replace(ACME_PROD, "X") == message(missing.value).replace(
        "999999999", "X"
    )
    # the probe is recorded, but never in the trail of the account asked for
    refusals = [r for r in await audit_rows(demo_store) if r["action"] == "audit.view.refused"]
    assert len(refusals) == 2 and all(r["ea"] is None and r["actor"] == email for r in refusals)
    alice = await actor(demo_store, ALICE)
    shown = await audit.audit_trail(demo_store, alice, ea=ACME_PROD, now=now)
    assert email not in [line.who for line in shown.lines]


async def test_merged_number(demo_store: Store, now: dt.datetime) -> None:
    result = await audit.audit_trail(
        demo_store, await actor(demo_store, GRACE), ea=RIVERBANK_OLD, now=now
    )
    assert result.ea == RIVERBANK and result.asked_for == RIVERBANK_OLD


async def test_partner_sees_other_partners_only_as_an_organization(
    demo_store: Store, now: dt.datetime
) -> None:
    await entitlements.entitlements(
        demo_store, await actor(demo_store, PAUL), ea=ACME_PROD, now=now
    )
    await entitlements.account_card(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now
    )
    await entitlements.account_card(
        demo_store, await actor(demo_store, EOIN), ea=ACME_PROD, now=now
    )
    seen = await audit.audit_trail(
        demo_store, await actor(demo_store, SOPHIE), ea=ACME_PROD, now=now
    )
    assert [line.who for line in seen.lines] == ["VMware", ALICE, "DistriLog Europe SAS"]
    by_customer = await audit.audit_trail(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now
    )
    assert PAUL in [line.who for line in by_customer.lines]


async def test_keys_in_details_are_masked_for_readers_without_keys(
    demo_store: Store, now: dt.datetime
) -> None:
    key = "7LRWF-VEALK-XWKKX-ZWWHP-0E4FU"
    async with demo_store.write() as conn:
        await audit_db.record(
            conn, at=now, actor=ALICE, action="key.moved", ea=ACME_PROD, detail={"key": key}
        )
    with_keys = await audit.audit_trail(
        demo_store, await actor(demo_store, SOPHIE), ea=ACME_PROD, now=now
    )
    assert key in with_keys.lines[0].detail
    without = await audit.audit_trail(
        demo_store, await actor(demo_store, CAMILLE), ea=ACME_PROD, now=now
    )
    detail = next(line.detail for line in without.lines if line.action == "key.moved")
    assert key not in detail and detail.endswith("0E4FU")


async def test_ticket_trail(demo_store: Store, now: dt.datetime) -> None:
    ticket_id = await open_ticket(demo_store, now)
    result = await audit.audit_trail(
        demo_store, await actor(demo_store, ALICE), ticket_id=ticket_id, now=now
    )
    assert result.ticket == f"T-{ticket_id}" and result.ea is None
    assert "ticket.open" in [line.action for line in result.lines]
    # nuage works the ticket (R1) and may read it
    await audit.audit_trail(demo_store, await actor(demo_store, LEA), ticket_id=ticket_id, now=now)
    reply = account_blocks.audit_trail(result, "en")
    assert reply.text.startswith(f"Audit trail of ticket T-{ticket_id}")


@pytest.mark.parametrize("email", [JEAN, TOM, PRIYA, EOIN, PAUL])
async def test_ticket_outside_view_reads_like_a_missing_one(
    demo_store: Store, now: dt.datetime, email: str
) -> None:
    # EOIN: VMware sees a ticket only once it reaches the vendor tier; PAUL: distrilog
    # holds no support permission on the EA
    ticket_id = await open_ticket(demo_store, now)
    who = await actor(demo_store, email)
    with pytest.raises(NotFound) as foreign:
        await audit.audit_trail(demo_store, who, ticket_id=ticket_id, now=now)
    with pytest.raises(NotFound) as missing:
        await audit.audit_trail(demo_store, who, ticket_id=987654, now=now)
    assert foreign.value.key == missing.value.key == "accounts.no_such_ticket"
    assert message(foreign.value).replace(str(ticket_id), "N") == message(missing.value).replace(
        "987654", "N"
    )


async def test_ticket_entries_are_left_out_for_readers_who_cannot_see_the_ticket(
    demo_store: Store, now: dt.datetime
) -> None:
    ticket_id = await open_ticket(demo_store, now)
    camille = await audit.audit_trail(
        demo_store, await actor(demo_store, CAMILLE), ea=ACME_PROD, now=now
    )
    assert all(line.ticket is None for line in camille.lines)
    alice = await audit.audit_trail(
        demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, now=now
    )
    assert f"T-{ticket_id}" in [line.ticket for line in alice.lines]


def test_count_bounds() -> None:
    assert audit.parse_count("1") == 1 and audit.parse_count("100") == 100
    for bad in ("0", "101", "-1", "ten", ""):
        with pytest.raises(UserError) as refused:
            audit.parse_count(bad)
        assert (
            refused.value.key == "accounts.bad_count"
            and refused.value.usage == "accounts.usage_audit"
        )


async def test_limit_is_checked_by_the_use_case(demo_store: Store, now: dt.datetime) -> None:
    with pytest.raises(UserError):
        await audit.audit_trail(
            demo_store, await actor(demo_store, ALICE), ea=ACME_PROD, limit=101, now=now
        )
    with pytest.raises(ValueError):
        await audit.audit_trail(demo_store, await actor(demo_store, ALICE), now=now)
