"""The shared checks behind the trust rules, as plain functions (no Slack): the grant
decides a partner's view of tickets, one lens filters what each reader sees, one path
parses numbers, keys are masked in any text, and a partner's tickets move when it
loses its hold."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_visibility import _ticket, actor, view_of

from bot import access, tickets
from bot.domain import (
    Contact,
    Organization,
    OrgKind,
    PartnerType,
    Status,
    TicketEvent,
    Tier,
)
from bot.errors import Forbidden, NotFound, UserError
from bot.parser import MAX_DIGITS, whole_number
from bot.store import Store
from bot.store import tickets as tickets_db
from bot.visibility import (
    FULL_VIEW,
    Actor,
    can_see_ticket,
    can_work_ticket,
    lens_for,
    mask_keys,
)

NOW = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
LEA = "lea.girard@nuage.example"
ETIENNE = "etienne.gagnon@caravelle.example"


def _org(kind: OrgKind, partner_type: PartnerType | None = None, org_id: str = "o") -> Organization:
    return Organization(
        id=org_id,
        kind=kind,
        name=f"{org_id} name",
        partner_type=partner_type,
        locale="fr",
        timezone="Europe/Paris",
        business_hours="mon-fri 09:00-18:00",
        queue_channel=None,
    )


# --------------------------------------------------------------------------- the grant


async def test_a_first_line_partner_sees_its_ticket_only_through_its_grant(
    demo_store: Store,
) -> None:
    lea = await actor(demo_store, LEA)
    ticket = _ticket(ea="507781204", customer="hexagone", partner="nuage")
    view = await view_of(demo_store, LEA, "507781204")
    assert can_see_ticket(lea, ticket, view) and can_work_ticket(lea, view)
    # the same ticket, with no grant behind it: invisible, first line or not
    assert not can_see_ticket(lea, ticket, None)
    assert not can_work_ticket(lea, None)
    # a grant that only reads support requests reads, and does not work
    assert view is not None
    reading = dataclasses.replace(
        view,
        permissions=frozenset(p for p in view.permissions if p.value == "view_support_requests"),
    )
    assert can_see_ticket(lea, ticket, reading) and not can_work_ticket(lea, reading)


# --------------------------------------------------------------------------- the lens


def test_the_lens_hides_the_vendor_from_an_msp_customer_only() -> None:
    customer = _org(OrgKind.CUSTOMER, org_id="lumiere")
    msp = _org(OrgKind.PARTNER, PartnerType.MSP, "pixel")
    reseller = _org(OrgKind.PARTNER, PartnerType.RESELLER, "nuage")
    contact = Contact(
        email="m@l", org="lumiere", org_kind=OrgKind.CUSTOMER, name="M", roles=frozenset()
    )
    manon = Actor(contact=contact, org=customer, locale="fr")
    lens = lens_for(manon, customer="lumiere", partner=msp)
    assert lens.hide_vendor and lens.shown_as == "pixel name"
    assert lens_for(manon, customer="lumiere", partner=reseller) is FULL_VIEW
    assert lens_for(None, customer="lumiere", partner=msp) is FULL_VIEW

    at = NOW
    note = TicketEvent(ticket_id=1, at=at, actor="e@v", kind="note", data={"text": "KB"})
    resolved = TicketEvent(
        ticket_id=1, at=at, actor="e@v", kind="resolved", data={"resolution": "r"}
    )
    escalated = TicketEvent(ticket_id=1, at=at, actor="i@p", kind="escalated", data={"reason": "x"})
    own = TicketEvent(ticket_id=1, at=at, actor="i@p", kind="note", data={"text": "ours"})
    assert lens.event(note, by_vendor=True) is None
    assert lens.event(escalated, by_vendor=False) is None
    assert lens.event(own, by_vendor=False) == own
    shown = lens.event(resolved, by_vendor=True)
    assert shown is not None and shown.actor == "pixel name" and shown.data == {}
    assert lens.status(Status.ESCALATED) is Status.IN_PROGRESS
    assert lens.tier(Tier.VENDOR) is Tier.PARTNER
    engineer = Contact(email="e@v", org="vmw", org_kind=OrgKind.VENDOR, name="E", roles=frozenset())
    assert lens.person(engineer) is None and FULL_VIEW.person(engineer) is engineer
    assert not lens.audit_entry("ticket.note", by_vendor=True)
    assert not lens.audit_entry("ticket.escalate", by_vendor=False)
    assert lens.audit_entry("ticket.note", by_vendor=False)
    assert FULL_VIEW.event(note, by_vendor=True) == note


def test_a_reader_without_view_license_keys_gets_keys_masked_in_any_text() -> None:
    lens = lens_for(None, customer="c", partner=None, shows_keys=False)
    text = "Key p67g1-sguhz-sdw8a-qs5p9-4mwzs and QD2L8-HFV30-T6LIA-9DUT4-N2UJ0 fail"
    masked = lens.text(text)
    assert "SGUHZ" not in masked.upper() and "HFV30" not in masked
    assert masked.endswith("N2UJ0 fail") and "4mwzs" in masked
    assert mask_keys("no key here: ABCDE-12345") == "no key here: ABCDE-12345"


# --------------------------------------------------------------------------- numbers


@given(st.text(max_size=40))
def test_whole_number_takes_ascii_digits_in_bounds_only(text: str) -> None:
    try:
        value = whole_number(text, low=1, high=100, key="k")
    except UserError as error:
        assert error.key == "k" and error.params["value"] == text
        stripped = text.strip()
        assert not (stripped.isascii() and stripped.isdigit() and 1 <= int(stripped) <= 100)
    else:
        assert 1 <= value <= 100 and text.strip().isascii()


@pytest.mark.parametrize(
    "value",
    [
        "²",
        "١٢",
        "１２",
        "",
        " ",
        "-1",
        "+1",
        "1e3",
        "0x10",
        "9" * (MAX_DIGITS + 1),
        True,
        None,
        1.5,
        [],
        10**40,
    ],
)
def test_whole_number_refuses_what_int_would_misread(value: object) -> None:
    with pytest.raises(UserError):
        whole_number(value, low=0, high=10**MAX_DIGITS, key="k")


def test_whole_number_takes_ints_within_bounds() -> None:
    assert whole_number(7, low=0, high=10, key="k") == 7
    assert whole_number(" 42 ", low=0, high=100, key="k") == 42


# --------------------------------------------------------------------------- moving on


async def test_a_revocation_moves_the_partners_tickets_in_the_same_transaction(
    demo_store: Store,
) -> None:
    etienne = await actor(demo_store, ETIENNE)
    opened = await tickets.open_ticket(
        demo_store, etienne, subject="Datastore lost", ea="845512930", product="vsphere", now=NOW
    )
    assert opened.card.ticket.partner == "nuage"
    revoked = await access.revoke_access(
        demo_store, etienne, ea="845512930", partner="nuage", now=NOW
    )
    assert revoked.moved == ("T-1",)
    async with demo_store.read() as conn:
        moved = await tickets_db.get_ticket(conn, ticket_id=1)
    assert moved is not None and moved.partner == "harbor" and moved.tier is Tier.PARTNER
    lea = await actor(demo_store, LEA)
    with pytest.raises(NotFound):
        await tickets.show_ticket(demo_store, lea, 1, now=NOW)
    # and with no partner left, the vendor tier
    await access.revoke_access(demo_store, etienne, ea="845512930", partner="harbor", now=NOW)
    async with demo_store.read() as conn:
        moved = await tickets_db.get_ticket(conn, ticket_id=1)
    assert moved is not None and (moved.tier, moved.partner) == (Tier.VENDOR, None)


async def test_a_partner_reading_only_is_refused_work_in_words_not_as_missing(
    demo_store: Store,
) -> None:
    etienne = await actor(demo_store, ETIENNE)
    await tickets.open_ticket(
        demo_store, etienne, subject="Datastore lost", ea="845512930", product="vsphere", now=NOW
    )
    await access.grant_access(
        demo_store,
        etienne,
        ea="845512930",
        partner="nuage",
        permissions=[p for p in access.ALL_PERMISSIONS if p.value == "view_support_requests"],
        now=NOW,
    )
    lea = await actor(demo_store, LEA)
    assert (await tickets.show_ticket(demo_store, lea, 1, now=NOW)).ref == "T-1"
    with pytest.raises(Forbidden) as refused:
        await tickets.add_note(demo_store, lea, 1, text="still here", now=NOW)
    assert refused.value.key == "tickets.refuse_view_only"
