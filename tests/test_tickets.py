"""Ticket use cases (bot/tickets.py) on a real SQLite store with the demo world."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ticket_fixtures import (
    audit_actions,
    demo_actor,
    dms_to,
    events,
    get_ticket,
    outbox,
    posts_to,
    snapshot,
    ticket_count,
)

from bot import tickets
from bot.blocks.tickets import TicketIds, queue_message
from bot.domain import Queue, Status, Tier
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.render import t
from bot.sla import ClockState
from bot.store import Store
from bot.store import directory as directory_db
from bot.store import tickets as tickets_db

ALICE = "alice.martin@acme.example"  # ACME superuser, fr
DAVID = "david.nguyen@acme.example"  # ACME user, en
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
KARIM = "karim.haddad@nuage.example"  # nuage ATC
PAUL = "paul.lefevre@distrilog.example"  # distributor agent, no file permission
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
SIOBHAN = "siobhan.kelly@vmware.example"
MANON = "manon.blanc@lumiere.example"  # end customer of the MSP pixel
INES = "ines.fabre@pixel.example"  # pixel ATC
JEAN = "jean.morel@hexagone.example"  # basic contract only
GRACE = "grace.holloway@riverbank.example"  # no partner
ETIENNE = "etienne.gagnon@caravelle.example"  # two partners
FRANK = "frank.delgado@tidewater.example"  # OEM
MEGAN = "megan.ford@dataforge.example"  # dataforge ATC
NUAGE_LABS = "licences@nuage.example"  # nuage's own NFR keys
TOM = "tom.walsh@harbor.example"  # harbor agent, no ATC at harbor

PROD_EA = "411023871"


async def open_as(
    store: Store, email: str, now: dt.datetime, subject: str = "vMotion fails", **kw: Any
) -> tickets.TicketOutcome:
    actor = await demo_actor(store, email)
    return await tickets.open_ticket(store, actor, subject=subject, now=now, **kw)


async def escalated_ticket(store: Store, now: dt.datetime, **kw: Any) -> int:
    """An ACME production ticket (nuage first line) escalated by the ATC Marc."""
    opened = await open_as(store, ALICE, now, ea=PROD_EA, product="vsphere ent", severity=2)
    await tickets.escalate(
        store,
        await demo_actor(store, MARC),
        opened.card.ticket.id,
        reason="Reproduced",
        now=now,
        **kw,
    )
    return opened.card.ticket.id


# --------------------------------------------------------------------------- opening (R1, R6)


async def test_customer_ticket_lands_at_its_partner_with_a_queue_post(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="vsphere ent", severity=2)
    tk = opened.card.ticket
    assert opened.created
    assert (tk.tier, tk.partner, tk.queue, tk.status) == (
        Tier.PARTNER,
        "nuage",
        Queue.TECHNICAL,
        Status.NEW,
    )
    assert tk.product == "vSphere Enterprise Plus"
    assert tk.ref == "T-1" and opened.card.severity_label == "Sev 2"
    assert [e.kind for e in await events(demo_store, tk.id)] == ["opened"]
    assert await audit_actions(demo_store, tk.id) == ["ticket.open"]
    entries = await outbox(demo_store)
    [post] = posts_to(entries, "C0NUAGEQ")
    assert post["kind"] == "queue_post" and post["ticket_id"] == tk.id
    assert "T-1" in post["payload"]["text"] and "Sev 2" in post["payload"]["text"]
    assert post["payload"]["blocks"]  # with the Take / Escalate / Resolve buttons
    # the customer opened it herself: her reply is the ack, no DM
    assert dms_to(entries, ALICE) == []
    text = opened.text("en")
    assert "T-1" in text and "Sev 2" in text and "Nuage" in text


async def test_partner_clock_uses_the_partners_calendar_and_the_contract_level(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="vsphere ent", severity=2)
    [clock] = (await get_ticket(demo_store, opened.card.ticket.id)).clocks
    # production, sev2: 4 business hours of nuage (Paris, 09:00-18:00): 11:00 → 15:00 Paris
    assert (clock.tier, clock.target_minutes, clock.around_the_clock) == (Tier.PARTNER, 240, False)
    assert clock.due_at == dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)


async def test_a_retried_request_opens_one_ticket(demo_store, now):
    first = await open_as(demo_store, ALICE, now, ea=PROD_EA, request_key="trigger:abc")
    again = await open_as(demo_store, ALICE, now, ea=PROD_EA, request_key="trigger:abc")
    assert first.created and not again.created
    assert again.card.ticket.id == first.card.ticket.id
    assert await ticket_count(demo_store) == 1
    assert len(posts_to(await outbox(demo_store), "C0NUAGEQ")) == 1


async def test_the_only_ea_is_used_when_none_is_given(demo_store, now):
    opened = await open_as(demo_store, JEAN, now, subject="Host disconnected")
    assert opened.card.ticket.ea == "507781204"


async def test_several_eas_and_none_given_lists_them_and_changes_nothing(demo_store, now):
    before = await snapshot(demo_store)
    with pytest.raises(UserError) as error:
        await open_as(demo_store, ALICE, now, usage="tickets.usage_new")
    assert error.value.key == "tickets.choose_ea"
    assert error.value.params["accounts"] == [
        ("411023871", "ACME Production"),
        ("411023872", "ACME Dev/Test"),
        ("411023873", "ACME Microsoft"),
    ]
    assert "411023872" in t(error.value.key, "en", **error.value.params)
    assert await snapshot(demo_store) == before


async def test_product_must_name_one_product_of_the_ea(demo_store, now):
    before = await snapshot(demo_store)
    with pytest.raises(UserError) as ambiguous:
        await open_as(demo_store, ALICE, now, ea=PROD_EA, product="enterprise")
    assert ambiguous.value.key == "tickets.product_ambiguous"
    assert ambiguous.value.params["products"] == [
        "Horizon Enterprise",
        "vSAN Enterprise",
        "vSphere Enterprise Plus",
    ]
    with pytest.raises(UserError) as unknown:
        await open_as(demo_store, ALICE, now, ea=PROD_EA, product="exchange")
    assert unknown.value.key == "tickets.product_unknown"
    assert await snapshot(demo_store) == before


async def test_r1_two_partners_the_seller_of_the_product_takes_it(demo_store, now):
    horizon = await open_as(demo_store, ETIENNE, now, product="horizon")
    vsphere = await open_as(demo_store, ETIENNE, now, product="vsphere")
    assert horizon.card.ticket.partner == "harbor"
    assert vsphere.card.ticket.partner == "nuage"
    entries = await outbox(demo_store)
    assert len(posts_to(entries, "C0HARBORQ")) == 1 and len(posts_to(entries, "C0NUAGEQ")) == 1


async def test_r1_customer_without_partner_goes_straight_to_the_vendor(demo_store, now):
    opened = await open_as(demo_store, GRACE, now, severity=1, product="vsphere")
    tk = opened.card.ticket
    assert (tk.tier, tk.partner) == (Tier.VENDOR, None)
    [post] = posts_to(await outbox(demo_store), "C0VMWGSS")
    assert "T-1" in post["payload"]["text"] and "Sev 1" in post["payload"]["text"]
    [clock] = tk.clocks
    # production sev1: 30 minutes around the clock, in the vendor's queue
    assert (clock.tier, clock.target_minutes, clock.around_the_clock) == (Tier.VENDOR, 30, True)


async def test_r6_partner_business_ticket_goes_to_the_vendor_business_queue(demo_store, now):
    opened = await open_as(
        demo_store, LEA, now, subject="Usage report wrong", ea=PROD_EA, business=True
    )
    tk = opened.card.ticket
    assert (tk.tier, tk.queue, tk.partner) == (Tier.VENDOR, Queue.BUSINESS, "nuage")
    entries = await outbox(demo_store)
    assert len(posts_to(entries, "C0VMWBIZ")) == 1 and posts_to(entries, "C0VMWGSS") == []
    # opened by the partner: the EA's superuser is told, in French
    [dm] = dms_to(entries, ALICE)
    assert "T-1" in dm["payload"]["text"] and "pour vous" in dm["payload"]["text"]


async def test_r6_customer_business_ticket_goes_to_its_partner(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, subject="Invoice", ea=PROD_EA, business=True)
    tk = opened.card.ticket
    assert (tk.tier, tk.queue, tk.partner) == (Tier.PARTNER, Queue.BUSINESS, "nuage")


async def test_partner_without_file_permission_is_refused_and_nothing_changes(demo_store, now):
    before = await snapshot(demo_store)
    with pytest.raises(Forbidden) as refused:
        await open_as(demo_store, PAUL, now, ea=PROD_EA)
    assert refused.value.key == "tickets.refuse_no_file_permission"
    assert await snapshot(demo_store) == before


async def test_vendor_engineer_opens_at_vendor_tier(demo_store, now):
    opened = await open_as(demo_store, EOIN, now, ea=PROD_EA, product="vsan")
    assert (opened.card.ticket.tier, opened.card.ticket.partner) == (Tier.VENDOR, "nuage")


# --------------------------------------------------------------------------- R8 visibility


async def test_r8_a_ticket_outside_the_view_reads_like_a_missing_one(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA)
    stranger = await demo_actor(demo_store, JEAN)
    with pytest.raises(NotFound) as hidden:
        await tickets.show_ticket(demo_store, stranger, opened.card.ticket.id, now=now)
    with pytest.raises(NotFound) as missing:
        await tickets.show_ticket(demo_store, stranger, 999, now=now)
    assert hidden.value.key == missing.value.key == "tickets.not_found"
    hidden_text = t(hidden.value.key, "en", **hidden.value.params)
    assert hidden_text == t(missing.value.key, "en", ticket="T-1")
    # the vendor sees a partner-tier ticket only once it was escalated
    with pytest.raises(NotFound):
        await tickets.show_ticket(demo_store, await demo_actor(demo_store, EOIN), 1, now=now)


async def test_show_gives_both_clocks_and_the_history(demo_store, now):
    ticket_id = await escalated_ticket(demo_store, now)
    card = await tickets.show_ticket(
        demo_store, await demo_actor(demo_store, EOIN), ticket_id, now=now
    )
    assert [c.tier for c in card.clocks] == [Tier.PARTNER, Tier.VENDOR]
    partner_clock, vendor_clock = card.clocks
    assert partner_clock.state is ClockState.MET and partner_clock.responded_at == now
    assert vendor_clock.state is ClockState.OK and vendor_clock.responded_at is None
    assert [e.kind for e in card.events] == ["opened", "escalated"]
    assert "ticket.show" in await audit_actions(demo_store, ticket_id)


# --------------------------------------------------------------------------- R4 R5 escalation


async def test_r4_agent_escalation_is_refused_naming_the_atcs(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="vsphere ent")
    before = await snapshot(demo_store)
    with pytest.raises(Forbidden) as refused:
        await tickets.escalate(
            demo_store,
            await demo_actor(demo_store, LEA),
            opened.card.ticket.id,
            reason="x",
            now=now,
        )
    text = t(refused.value.key, "en", **refused.value.params)
    assert "Marc Dupont" in text and "karim.haddad@nuage.example" in text
    assert await snapshot(demo_store) == before


async def test_r4_partner_without_any_atc_is_told_to_ask_its_admin(demo_store, now):
    opened = await open_as(demo_store, ETIENNE, now, product="horizon")  # harbor's
    with pytest.raises(Forbidden) as refused:
        await tickets.escalate(
            demo_store,
            await demo_actor(demo_store, TOM),
            opened.card.ticket.id,
            reason="x",
            now=now,
        )
    assert "Oliver Grant" in t(refused.value.key, "en", **refused.value.params)


async def test_escalation_moves_the_ticket_to_the_vendor_with_a_second_clock(demo_store, now):
    ticket_id = await escalated_ticket(demo_store, now)
    tk = await get_ticket(demo_store, ticket_id)
    assert (tk.tier, tk.status, tk.escalated_at) == (Tier.VENDOR, Status.ESCALATED, now)
    assert [c.tier for c in tk.clocks] == [Tier.PARTNER, Tier.VENDOR]
    vendor_clock = tk.clocks[1]
    # production sev2 in VMware's calendar (Dublin 08:00-20:00): 4 business hours
    assert vendor_clock.due_at == dt.datetime(2026, 11, 23, 14, 0, tzinfo=dt.UTC)
    [event] = [e for e in await events(demo_store, ticket_id) if e.kind == "escalated"]
    assert event.actor == MARC and event.data["contract"] == "SNS-0041187"
    assert event.data["reason"] == "Reproduced"
    entries = await outbox(demo_store)
    [post] = posts_to(entries, "C0VMWGSS")
    assert "T-1" in post["payload"]["text"] and "Sev 2" in post["payload"]["text"]
    # the nuage queue message is updated in place, without its buttons
    [update] = [e for e in entries if e["method"] == "chat.update"]
    assert update["ticket_id"] == ticket_id
    assert all(b["type"] != "actions" for b in update["payload"]["blocks"])
    [dm] = dms_to(entries, ALICE)
    assert "T-1" in dm["payload"]["text"] and "VMware" in dm["payload"]["text"]
    assert "escaladée" in dm["payload"]["text"]  # Alice reads French


async def test_escalation_with_the_atcs_severity_and_checklist(demo_store, now):
    ticket_id = await escalated_ticket(
        demo_store, now, severity=1, checklist={"reproduced": True, "logs": False}
    )
    tk = await get_ticket(demo_store, ticket_id)
    assert tk.severity == 1
    assert tk.clocks[1].target_minutes == 30 and tk.clocks[1].around_the_clock
    [event] = [e for e in await events(demo_store, ticket_id) if e.kind == "escalated"]
    assert event.data["previous"] == 2
    assert event.data["checklist"] == {"reproduced": True, "logs": False}


async def test_r5_sev1_on_basic_is_refused_and_sev2_goes_through(demo_store, now):
    opened = await open_as(
        demo_store, JEAN, now, subject="Cluster down", severity=1, product="vsphere"
    )
    marc = await demo_actor(demo_store, MARC)
    before = await snapshot(demo_store)
    with pytest.raises(UserError) as refused:
        await tickets.escalate(demo_store, marc, opened.card.ticket.id, reason="Down", now=now)
    assert refused.value.key == "tickets.refuse_sev1_basic"
    assert "sev2" in t(refused.value.key, "en", **refused.value.params)
    assert await snapshot(demo_store) == before
    done = await tickets.escalate(
        demo_store, marc, opened.card.ticket.id, reason="Down", severity=2, now=now
    )
    assert done.card.ticket.tier is Tier.VENDOR and done.card.ticket.severity == 2


async def test_r5_product_without_contract_is_refused(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="horizon")
    with pytest.raises(UserError) as refused:
        await tickets.escalate(
            demo_store,
            await demo_actor(demo_store, MARC),
            opened.card.ticket.id,
            reason="x",
            now=now,
        )
    assert refused.value.key == "tickets.refuse_no_contract"
    assert refused.value.params["product"] == "Horizon Enterprise"


async def test_r5_nfr_and_oem_are_refused_with_their_faq(demo_store, now):
    nfr = await open_as(demo_store, NUAGE_LABS, now, product="vsan")
    with pytest.raises(UserError) as refused_nfr:
        await tickets.escalate(
            demo_store, await demo_actor(demo_store, KARIM), nfr.card.ticket.id, reason="x", now=now
        )
    assert refused_nfr.value.key == "tickets.refuse_nfr"
    assert "/faq nfr-support" in t(refused_nfr.value.key, "fr", **refused_nfr.value.params)
    oem = await open_as(demo_store, FRANK, now, product="vsphere")
    assert oem.card.ticket.partner == "dataforge"
    with pytest.raises(UserError) as refused_oem:
        await tickets.escalate(
            demo_store, await demo_actor(demo_store, MEGAN), oem.card.ticket.id, reason="x", now=now
        )
    assert refused_oem.value.key == "tickets.refuse_oem"


# --------------------------------------------------------------------------- R2 MSP


async def test_r2_msp_customer_is_never_addressed_by_the_vendor(demo_store, now):
    opened = await open_as(
        demo_store, MANON, now, subject="VCF upgrade stuck", product="cloud found"
    )
    ticket_id = opened.card.ticket.id
    assert opened.card.ticket.partner == "pixel"
    manon = await demo_actor(demo_store, MANON)
    with pytest.raises(Forbidden) as refused:
        await tickets.escalate(demo_store, manon, ticket_id, reason="urgent", now=now)
    assert refused.value.key == "tickets.refuse_msp_customer"
    await tickets.escalate(
        demo_store, await demo_actor(demo_store, INES), ticket_id, reason="Reproduced", now=now
    )
    await tickets.take(demo_store, await demo_actor(demo_store, EOIN), ticket_id, now=now)
    await tickets.resolve(
        demo_store, await demo_actor(demo_store, EOIN), ticket_id, resolution="Patch 3", now=now
    )
    dms = dms_to(await outbox(demo_store), MANON)
    assert len(dms) == 3  # escalated, acknowledged, resolved
    for dm in dms:
        assert "Pixel Cloud Services SAS" in dm["payload"]["text"]
        assert "VMware" not in dm["payload"]["text"]


async def test_r2_the_vendor_asks_an_msp_customer_through_the_msp(demo_store, now):
    opened = await open_as(
        demo_store, MANON, now, subject="VCF upgrade stuck", product="cloud found"
    )
    ticket_id = opened.card.ticket.id
    await tickets.escalate(
        demo_store, await demo_actor(demo_store, INES), ticket_id, reason="Reproduced", now=now
    )
    eoin = await demo_actor(demo_store, EOIN)
    before = await snapshot(demo_store)
    with pytest.raises(Forbidden) as refused:
        await tickets.wait_on_customer(
            demo_store, eoin, ticket_id, text="Logs from VMware?", now=now
        )
    assert refused.value.key == "tickets.refuse_vendor_to_msp_customer"
    assert "/ticket note" in t(refused.value.key, "en", **refused.value.params)
    assert await snapshot(demo_store) == before
    # the MSP relays it in its own words
    await tickets.wait_on_customer(
        demo_store, await demo_actor(demo_store, INES), ticket_id, text="Vos journaux ?", now=now
    )
    await tickets.resolve(demo_store, eoin, ticket_id, resolution="VMware patch 3", now=now)
    [resolved] = [
        d for d in dms_to(await outbox(demo_store), MANON) if "résolue" in d["payload"]["text"]
    ]
    assert "patch" not in resolved["payload"]["text"]  # the vendor's words are not quoted


# --------------------------------------------------------------------------- R7 hand-back


async def test_r7_hand_back_posts_to_the_partner_queue_with_a_new_clock(demo_store, now):
    ticket_id = await escalated_ticket(demo_store, now)
    eoin = await demo_actor(demo_store, EOIN)
    later = now + dt.timedelta(minutes=20)
    with pytest.raises(UserError) as no_reason:
        await tickets.reassign(demo_store, eoin, ticket_id, reason="", now=later)
    assert no_reason.value.key == "tickets.reason_required"
    with pytest.raises(Forbidden):
        await tickets.reassign(
            demo_store, await demo_actor(demo_store, MARC), ticket_id, reason="x", now=later
        )
    done = await tickets.reassign(
        demo_store, eoin, ticket_id, reason="Storage network misconfigured", now=later
    )
    tk = await get_ticket(demo_store, ticket_id)
    assert (tk.tier, tk.status, tk.assignee) == (Tier.PARTNER, Status.IN_PROGRESS, None)
    assert [c.tier for c in tk.clocks] == [Tier.PARTNER, Tier.VENDOR, Tier.PARTNER]
    assert tk.clocks[1].responded_at == later  # the hand-back answers the vendor clock
    assert "Nuage" in done.text("en")
    entries = await outbox(demo_store)
    assert len(posts_to(entries, "C0NUAGEQ")) == 2  # opened, then handed back
    [event] = [e for e in await events(demo_store, ticket_id) if e.kind == "handed_back"]
    assert event.data["reason"] == "Storage network misconfigured"


# --------------------------------------------------------------------------- working


async def test_take_assign_and_their_refusals(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA)
    ticket_id = opened.card.ticket.id
    alice = await demo_actor(demo_store, ALICE)
    with pytest.raises(Forbidden) as not_holder:
        await tickets.take(demo_store, alice, ticket_id, now=now)
    assert not_holder.value.params["holder"] == "Nuage Informatique SARL"
    lea = await demo_actor(demo_store, LEA)
    taken = await tickets.take(demo_store, lea, ticket_id, now=now)
    assert taken.card.ticket.assignee == LEA and taken.card.ticket.status is Status.ACKNOWLEDGED
    # Taking is no answer to the customer: the first-response clock keeps running.
    assert taken.card.current_clock is not None and taken.card.current_clock.responded_at is None
    with pytest.raises(Conflict):
        await tickets.take(demo_store, lea, ticket_id, now=now)
    async with demo_store.write() as conn:
        await directory_db.link_slack_user(conn, email=KARIM, user_id="UKARIM")
        await directory_db.link_slack_user(conn, email=EOIN, user_id="UEOIN")
    with pytest.raises(UserError) as wrong_tier:
        await tickets.assign(demo_store, lea, ticket_id, assignee_slack_id="UEOIN", now=now)
    assert wrong_tier.value.key == "tickets.assignee_not_holder"
    with pytest.raises(UserError) as unknown:
        await tickets.assign(demo_store, lea, ticket_id, assignee_slack_id="UNOBODY", now=now)
    # Someone unknown and someone of the other tier get the same answer, naming nobody.
    assert unknown.value.key == wrong_tier.value.key
    assert "name" not in wrong_tier.value.params
    assigned = await tickets.assign(demo_store, lea, ticket_id, assignee_slack_id="UKARIM", now=now)
    assert assigned.card.ticket.assignee == KARIM
    [dm] = dms_to(await outbox(demo_store), KARIM)
    assert dm["payload"]["channel"] == "UKARIM" and "T-1" in dm["payload"]["text"]
    kinds = [e.kind for e in await events(demo_store, ticket_id)]
    assert kinds == ["opened", "taken", "assigned"]
    # the customer heard of the status change once (new → acknowledged)
    assert len(dms_to(await outbox(demo_store), ALICE)) == 1


async def test_resolve_and_reopen_transitions(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA)
    ticket_id = opened.card.ticket.id
    lea = await demo_actor(demo_store, LEA)
    with pytest.raises(UserError):
        await tickets.resolve(demo_store, lea, ticket_id, resolution=" ", now=now)
    with pytest.raises(Conflict) as not_resolved:
        await tickets.reopen(demo_store, lea, ticket_id, reason="again", now=now)
    assert not_resolved.value.key == "tickets.conflict_not_resolved"
    done = await tickets.resolve(demo_store, lea, ticket_id, resolution="Rebooted vCenter", now=now)
    assert done.card.ticket.status is Status.RESOLVED and done.card.ticket.resolved_at == now
    before = await snapshot(demo_store)
    with pytest.raises(Conflict):
        await tickets.resolve(demo_store, lea, ticket_id, resolution="again", now=now)
    with pytest.raises(Conflict):
        await tickets.add_note(demo_store, lea, ticket_id, text="more", now=now)
    assert await snapshot(demo_store) == before
    alice = await demo_actor(demo_store, ALICE)
    reopened = await tickets.reopen(demo_store, alice, ticket_id, reason="Still failing", now=now)
    assert reopened.card.ticket.status is Status.IN_PROGRESS
    assert reopened.card.ticket.resolved_at is None
    [dm] = dms_to(await outbox(demo_store), ALICE)  # told of the resolution, not of her reopen
    assert "Rebooted vCenter" in dm["payload"]["text"]


async def test_note_by_the_holder_is_a_first_response(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA)
    ticket_id = opened.card.ticket.id
    alice = await demo_actor(demo_store, ALICE)
    await tickets.add_note(demo_store, alice, ticket_id, text="Logs attached", now=now)
    tk = await get_ticket(demo_store, ticket_id)
    assert tk.status is Status.NEW and tk.clocks[0].responded_at is None
    later = now + dt.timedelta(hours=1)
    with pytest.raises(UserError):
        await tickets.add_note(demo_store, alice, ticket_id, text="  ", now=later)
    await tickets.add_note(
        demo_store, await demo_actor(demo_store, LEA), ticket_id, text="Looking", now=later
    )
    tk = await get_ticket(demo_store, ticket_id)
    assert tk.status is Status.IN_PROGRESS and tk.clocks[0].responded_at == later


async def test_severity_change_retargets_the_running_clock(demo_store, now):
    opened = await open_as(demo_store, GRACE, now, product="vsphere", severity=3)
    ticket_id = opened.card.ticket.id
    eoin = await demo_actor(demo_store, EOIN)
    with pytest.raises(UserError):
        await tickets.change_severity(demo_store, eoin, ticket_id, severity=1, reason="", now=now)
    with pytest.raises(Conflict):
        await tickets.change_severity(demo_store, eoin, ticket_id, severity=3, reason="x", now=now)
    later = now + dt.timedelta(minutes=10)
    done = await tickets.change_severity(
        demo_store, eoin, ticket_id, severity=1, reason="Production down now", now=later
    )
    assert done.card.ticket.severity == 1 and "Sev 3" in done.text("en")
    [clock] = (await get_ticket(demo_store, ticket_id)).clocks
    assert (clock.target_minutes, clock.around_the_clock) == (30, True)
    # A new severity tells the customer nothing: the clock runs on, now against 30 min.
    assert clock.responded_at is None
    assert done.card.clocks[0].state is ClockState.OK


# --------------------------------------------------------------------------- SLA clocks


async def test_waiting_on_the_customer_pauses_the_vendor_clock_until_they_reply(demo_store, now):
    ticket_id = await escalated_ticket(demo_store, now, severity=1)  # 30 min, 24×7
    marc = await demo_actor(demo_store, MARC)
    paused_at = now + dt.timedelta(minutes=10)
    waiting = await tickets.wait_on_customer(
        demo_store, marc, ticket_id, text="Which ESXi build?", now=paused_at
    )
    assert waiting.card.ticket.status is Status.WAITING_ON_CUSTOMER
    vendor_clock = (await get_ticket(demo_store, ticket_id)).clocks[1]
    assert vendor_clock.paused and vendor_clock.due_at is None
    assert vendor_clock.responded_at is None  # the partner is not the holding tier
    [question] = [
        d for d in dms_to(await outbox(demo_store), ALICE) if "ESXi" in d["payload"]["text"]
    ]
    assert "T-1" in question["payload"]["text"]
    with pytest.raises(Conflict):
        await tickets.wait_on_customer(demo_store, marc, ticket_id, now=paused_at)
    card = await tickets.show_ticket(demo_store, marc, ticket_id, now=now + dt.timedelta(hours=3))
    assert card.clocks[1].state is ClockState.PAUSED
    replied_at = now + dt.timedelta(hours=1, minutes=10)
    await tickets.add_note(
        demo_store, await demo_actor(demo_store, ALICE), ticket_id, text="8.0u2", now=replied_at
    )
    tk = await get_ticket(demo_store, ticket_id)
    assert tk.status is Status.IN_PROGRESS
    vendor_clock = tk.clocks[1]
    assert not vendor_clock.paused
    # 10 minutes ran before the pause, 20 remain after the reply
    assert vendor_clock.due_at == replied_at + dt.timedelta(minutes=20)
    assert [e.kind for e in await events(demo_store, ticket_id)][-2:] == ["note", "resumed"]


async def test_breaching_lists_open_tickets_past_75_percent(demo_store, now):
    urgent = await open_as(
        demo_store, GRACE, now, subject="Hosts down", severity=1, product="vsphere"
    )
    await open_as(demo_store, GRACE, now, subject="Docs question", severity=4, product="vsphere")
    eoin = await demo_actor(demo_store, EOIN)
    early = await tickets.list_tickets(
        demo_store, eoin, now=now + dt.timedelta(minutes=10), scope="breaching"
    )
    assert early.cards == ()
    late = await tickets.list_tickets(
        demo_store, eoin, now=now + dt.timedelta(minutes=23), scope="breaching"
    )
    assert [c.ticket.id for c in late.cards] == [urgent.card.ticket.id]
    assert late.cards[0].current_clock is not None
    assert late.cards[0].current_clock.state is ClockState.WARNING
    opened = await tickets.list_tickets(demo_store, eoin, now=now, scope="open", severity=4)
    assert [c.ticket.severity for c in opened.cards] == [4]
    # taking it is no answer: still breaching; a note to the customer is one
    await tickets.take(demo_store, eoin, urgent.card.ticket.id, now=now + dt.timedelta(minutes=24))
    taken = await tickets.list_tickets(
        demo_store, eoin, now=now + dt.timedelta(minutes=25), scope="breaching"
    )
    assert [c.ticket.id for c in taken.cards] == [urgent.card.ticket.id]
    await tickets.add_note(
        demo_store,
        eoin,
        urgent.card.ticket.id,
        text="Looking at the logs now",
        now=now + dt.timedelta(minutes=25),
    )
    after = await tickets.list_tickets(
        demo_store, eoin, now=now + dt.timedelta(minutes=40), scope="breaching"
    )
    assert after.cards == ()


async def test_list_follows_each_actors_view(demo_store, now):
    await open_as(demo_store, ALICE, now, ea=PROD_EA)
    await open_as(demo_store, JEAN, now)
    await open_as(demo_store, GRACE, now)
    alice_list = await tickets.list_tickets(
        demo_store, await demo_actor(demo_store, DAVID), now=now
    )
    assert [c.ticket.customer for c in alice_list.cards] == ["acme"]
    nuage = await tickets.list_tickets(demo_store, await demo_actor(demo_store, LEA), now=now)
    assert sorted(c.ticket.customer for c in nuage.cards) == ["acme", "hexagone"]
    vendor = await tickets.list_tickets(demo_store, await demo_actor(demo_store, EOIN), now=now)
    assert [c.ticket.customer for c in vendor.cards] == ["riverbank"]
    mine = await tickets.list_tickets(
        demo_store, await demo_actor(demo_store, ALICE), now=now, scope="mine"
    )
    assert len(mine.cards) == 1
    by_ea = await tickets.list_tickets(
        demo_store, await demo_actor(demo_store, LEA), now=now, ea="507781204"
    )
    assert [c.ticket.ea for c in by_ea.cards] == ["507781204"]
    with pytest.raises(NotFound):
        await tickets.list_tickets(
            demo_store, await demo_actor(demo_store, LEA), now=now, ea="733190462"
        )
    with pytest.raises(UserError):
        await tickets.list_tickets(
            demo_store, await demo_actor(demo_store, LEA), now=now, scope="x"
        )


async def test_home_summary_shows_the_queue_and_what_breaches(demo_store, now):
    await open_as(demo_store, GRACE, now, subject="Hosts down", severity=1, product="vsphere")
    await open_as(demo_store, GRACE, now, subject="Slow UI", severity=3, product="vsphere")
    summary = await tickets.home_summary(
        demo_store, await demo_actor(demo_store, SIOBHAN), now=now + dt.timedelta(minutes=25)
    )
    assert summary.queue_counts == {1: 1, 2: 0, 3: 1, 4: 0}
    assert [c.ticket.severity for c in summary.breaching] == [1]
    customer = await tickets.home_summary(demo_store, await demo_actor(demo_store, GRACE), now=now)
    assert len(customer.mine) == 2 and customer.queue_name is None


async def test_every_change_is_an_event_and_an_audit_entry(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="vsphere ent")
    ticket_id = opened.card.ticket.id
    lea = await demo_actor(demo_store, LEA)
    await tickets.take(demo_store, lea, ticket_id, now=now)
    await tickets.wait_on_customer(demo_store, lea, ticket_id, text="Which build?", now=now)
    await tickets.add_note(
        demo_store, await demo_actor(demo_store, ALICE), ticket_id, text="ok", now=now
    )
    await tickets.change_severity(
        demo_store, lea, ticket_id, severity=2, reason="Spreading", now=now
    )
    await tickets.escalate(
        demo_store, await demo_actor(demo_store, MARC), ticket_id, reason="R", now=now
    )
    await tickets.reassign(
        demo_store, await demo_actor(demo_store, EOIN), ticket_id, reason="Config", now=now
    )
    await tickets.resolve(demo_store, lea, ticket_id, resolution="Fixed", now=now)
    await tickets.reopen(demo_store, lea, ticket_id, reason="Back", now=now)
    kinds = [e.kind for e in await events(demo_store, ticket_id)]
    assert kinds == [
        "opened",
        "taken",
        "waiting",
        "note",
        "resumed",
        "severity",
        "escalated",
        "handed_back",
        "resolved",
        "reopened",
    ]
    assert await audit_actions(demo_store, ticket_id) == [
        "ticket.open",
        "ticket.take",
        "ticket.wait",
        "ticket.note",
        "ticket.sev",
        "ticket.escalate",
        "ticket.reassign",
        "ticket.resolve",
        "ticket.reopen",
    ]
    async with demo_store.read() as conn:
        assert all(e.actor for e in await tickets_db.events_of(conn, ticket_id=ticket_id))


async def test_forms_are_checked_before_they_open(demo_store, now):
    opened = await open_as(demo_store, ALICE, now, ea=PROD_EA, product="vsphere ent", severity=1)
    ticket_id = opened.card.ticket.id
    with pytest.raises(Forbidden):
        await tickets.prepare_escalation(
            demo_store, await demo_actor(demo_store, LEA), ticket_id, now=now
        )
    card = await tickets.prepare_escalation(
        demo_store, await demo_actor(demo_store, MARC), ticket_id, now=now
    )
    assert card.ref == "T-1"
    with pytest.raises(Forbidden):
        await tickets.prepare_change(
            demo_store, await demo_actor(demo_store, LEA), ticket_id, kind="hand_back", now=now
        )
    with pytest.raises(NotFound):  # not escalated: outside the vendor's view
        await tickets.prepare_change(
            demo_store, await demo_actor(demo_store, EOIN), ticket_id, kind="hand_back", now=now
        )
    resolvable = await tickets.prepare_change(
        demo_store, await demo_actor(demo_store, LEA), ticket_id, kind="resolve", now=now
    )
    assert resolvable.ticket.status is Status.NEW
    accounts = await tickets.fileable_accounts(
        demo_store, await demo_actor(demo_store, LEA), now=now
    )
    assert "411023871" in [a.account.ea for a in accounts]
    assert "620045517" not in [a.account.ea for a in accounts]  # pixel's customer


async def test_queue_message_buttons_follow_the_tier(demo_store, now):
    def actions_of(card: tickets.TicketCard) -> list[str]:
        [row] = [b.to_dict() for b in queue_message(card, "en") if b.type == "actions"]
        return [e["action_id"] for e in row["elements"]]

    at_partner = await open_as(demo_store, ALICE, now, ea=PROD_EA)
    assert actions_of(at_partner.card) == [TicketIds.TAKE, TicketIds.ESCALATE, TicketIds.RESOLVE]
    direct = await open_as(demo_store, GRACE, now)  # no partner: nothing to hand back
    assert actions_of(direct.card) == [TicketIds.TAKE, TicketIds.RESOLVE]
    ticket_id = await escalated_ticket(demo_store, now)
    card = await tickets.show_ticket(
        demo_store, await demo_actor(demo_store, EOIN), ticket_id, now=now
    )
    assert actions_of(card) == [TicketIds.TAKE, TicketIds.HAND_BACK, TicketIds.RESOLVE]
