"""Tier rules R1–R7 (bot/routing.py): pure decisions, allowed and refused paths."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
from ticket_fixtures import (
    TODAY,
    VENDOR,
    account,
    actor_of,
    contact,
    contract,
    grant,
    license_,
    org,
    ticket,
)

from bot import routing
from bot.domain import (
    LicenseType,
    OrgKind,
    PartnerType,
    Permission,
    Queue,
    Role,
    Status,
    Tier,
)
from bot.errors import Conflict, Forbidden, UserError

NUAGE = org("nuage")
HARBOR = org("harbor")
PIXEL = org("pixel", partner_type=PartnerType.MSP)
ACME = org("acme", OrgKind.CUSTOMER)
OTHER_CUSTOMER = org("hexagone", OrgKind.CUSTOMER)
VMW = org("vmw", OrgKind.VENDOR)
MSFT = org("msft", OrgKind.VENDOR)

CUSTOMER = actor_of(ACME, Role.USER, email="alice@acme.example")
AGENT = actor_of(NUAGE, Role.AGENT, email="lea@nuage.example")
ATC = actor_of(NUAGE, Role.ATC, email="marc@nuage.example")
HARBOR_AGENT = actor_of(HARBOR, Role.AGENT)
ENGINEER = actor_of(VMW, Role.ENGINEER, email="eoin@vmw.example")
OTHER_ENGINEER = actor_of(MSFT, Role.ENGINEER)

ATCS = [contact("Marc", "nuage", Role.ATC), contact("Karim", "nuage", Role.ATC)]
ADMINS = [contact("Sophie", "nuage", Role.ADMIN)]
VSPHERE = "vSphere Enterprise Plus"
HORIZON = "Horizon Enterprise"


def intake(actor, *, grants=(), licenses=(), product=None, business=False, acct=None):
    return routing.route_intake(
        actor=actor,
        account=acct or account(),
        grants=list(grants),
        licenses=list(licenses),
        product=product,
        business=business,
        today=TODAY,
    )


def escalation(actor, tk=None, *, partner=NUAGE, atcs=ATCS, severity=3, reason="reproduced", **kw):
    tk = tk or ticket()
    return routing.check_escalation(
        actor=actor,
        ticket=tk,
        partner=partner,
        atcs=atcs,
        admins=ADMINS,
        severity=severity,
        reason=reason,
        licenses=kw.get("licenses", [license_(VSPHERE)]),
        contracts=kw.get("contracts", [contract(VSPHERE)]),
        today=TODAY,
    )


# --------------------------------------------------------------------------- R1 intake


def test_r1_customer_ticket_goes_to_the_partner_filing_support_requests():
    found = intake(CUSTOMER, grants=[grant("nuage")])
    assert found == routing.Intake(Tier.PARTNER, Queue.TECHNICAL, "nuage")


def test_r1_with_several_partners_the_seller_of_the_product_wins():
    grants = [grant("harbor"), grant("nuage")]
    licenses = [license_(VSPHERE, sold_by="nuage"), license_(HORIZON, sold_by="harbor")]
    assert intake(CUSTOMER, grants=grants, licenses=licenses, product=VSPHERE).partner == "nuage"
    assert intake(CUSTOMER, grants=grants, licenses=licenses, product=HORIZON).partner == "harbor"
    # matched whatever the case of the product name
    assert (
        intake(CUSTOMER, grants=grants, licenses=licenses, product=VSPHERE.upper()).partner
        == "nuage"
    )


def test_r1_with_several_partners_and_no_seller_the_first_by_id_wins():
    grants = [grant("nuage"), grant("harbor")]
    assert intake(CUSTOMER, grants=grants).partner == "harbor"
    sold_direct = [license_(VSPHERE, sold_by=None)]
    assert intake(CUSTOMER, grants=grants, licenses=sold_direct, product=VSPHERE).partner == (
        "harbor"
    )


def test_r1_without_a_filing_partner_the_ticket_goes_to_the_vendor():
    grants = [
        grant("distrilog", Permission.VIEW_ORDERS_CONTRACTS),
        grant("bluepeak", until=TODAY - dt.timedelta(days=1)),  # lapsed
    ]
    assert intake(CUSTOMER, grants=grants) == routing.Intake(Tier.VENDOR, Queue.TECHNICAL, None)


def test_r1_a_grant_ending_today_still_counts():
    assert intake(CUSTOMER, grants=[grant("nuage", until=TODAY)]).partner == "nuage"


def test_r1_customer_business_ticket_goes_to_its_partner():
    found = intake(CUSTOMER, grants=[grant("nuage")], business=True)
    assert found == routing.Intake(Tier.PARTNER, Queue.BUSINESS, "nuage")


def test_r1_customer_business_ticket_without_partner_goes_to_the_vendor_business_queue():
    assert intake(CUSTOMER, business=True) == routing.Intake(Tier.VENDOR, Queue.BUSINESS, None)


def test_r1_customer_cannot_file_on_someone_elses_account():
    with pytest.raises(Forbidden) as refused:
        intake(actor_of(OTHER_CUSTOMER, Role.SUPERUSER), grants=[grant("nuage")])
    assert refused.value.key == "tickets.refuse_not_your_account"


def test_r1_partner_technical_ticket_lands_at_its_own_tier():
    found = intake(AGENT, grants=[grant("nuage")])
    assert found == routing.Intake(Tier.PARTNER, Queue.TECHNICAL, "nuage")


def test_r6_partner_business_ticket_goes_straight_to_the_vendor_business_queue():
    # no ATC needed: an agent files it
    found = intake(AGENT, grants=[grant("nuage")], business=True)
    assert found == routing.Intake(Tier.VENDOR, Queue.BUSINESS, "nuage")


def test_r1_partner_without_file_support_requests_is_refused():
    grants = [grant("nuage", Permission.VIEW_SUPPORT_REQUESTS), grant("harbor")]
    with pytest.raises(Forbidden) as refused:
        intake(AGENT, grants=grants)
    assert refused.value.key == "tickets.refuse_no_file_permission"
    assert refused.value.params["partner"] == NUAGE.name
    assert refused.value.params["ea"] == "411023871"


def test_r1_partner_with_a_lapsed_grant_is_refused():
    with pytest.raises(Forbidden):
        intake(AGENT, grants=[grant("nuage", until=TODAY - dt.timedelta(days=1))])


def test_r1_vendor_engineer_opens_at_vendor_tier_keeping_the_first_line_partner():
    found = intake(ENGINEER, grants=[grant("nuage")])
    assert found == routing.Intake(Tier.VENDOR, Queue.TECHNICAL, "nuage")


def test_r1_engineer_of_another_vendor_is_refused():
    with pytest.raises(Forbidden):
        intake(OTHER_ENGINEER, grants=[grant("nuage")])


# --------------------------------------------------------------------------- products


def test_product_matches_exact_then_prefix_then_substring():
    products = [VSPHERE, "vSphere Standard", "vSAN Enterprise", HORIZON]
    assert routing.match_product("vsphere enterprise plus", products) == VSPHERE
    assert routing.match_product("horizon", products) == HORIZON
    assert routing.match_product("plus", products) == VSPHERE
    assert routing.match_product("vsphere_standard", products) == "vSphere Standard"


def test_product_ambiguous_or_unknown_lists_the_candidates():
    products = [VSPHERE, "vSphere Standard", "vSAN Enterprise"]
    with pytest.raises(UserError) as ambiguous:
        routing.match_product("vsphere", products, usage="tickets.usage_new")
    assert ambiguous.value.key == "tickets.product_ambiguous"
    assert ambiguous.value.params["products"] == [VSPHERE, "vSphere Standard"]
    assert ambiguous.value.usage == "tickets.usage_new"
    with pytest.raises(UserError) as unknown:
        routing.match_product("exchange", products)
    assert unknown.value.key == "tickets.product_unknown"
    assert unknown.value.params["products"] == products


# --------------------------------------------------------------------------- R2 MSP


def test_r2_msp_customer_cannot_escalate():
    tk = ticket(partner="pixel")
    with pytest.raises(Forbidden) as refused:
        escalation(CUSTOMER, tk, partner=PIXEL)
    assert refused.value.key == "tickets.refuse_msp_customer"
    assert refused.value.params["faq"] == "msp-customer-contacts-vendor"
    assert refused.value.params["partner"] == PIXEL.name


def test_r2_msp_atc_escalates_for_its_customer():
    pixel_atc = actor_of(PIXEL, Role.ATC)
    tk = ticket(partner="pixel")
    assert escalation(pixel_atc, tk, partner=PIXEL) == contract(VSPHERE)


def test_r2_notices_to_an_msp_customer_speak_for_the_msp_never_the_vendor():
    tk = ticket(partner="pixel", tier=Tier.VENDOR)
    assert routing.notice_sender(ENGINEER, tk, partner=PIXEL, vendor=VENDOR) == PIXEL.name
    assert routing.is_msp(PIXEL)
    # without an MSP the vendor speaks for itself, and a partner for itself
    tk = ticket(tier=Tier.VENDOR)
    assert routing.notice_sender(ENGINEER, tk, partner=NUAGE, vendor=VENDOR) == "VMware"
    assert routing.notice_sender(AGENT, tk, partner=NUAGE, vendor=VENDOR) == NUAGE.name
    assert not routing.is_msp(NUAGE)


# --------------------------------------------------------------------------- R3 reason


def test_r3_escalation_needs_a_reason():
    with pytest.raises(UserError) as refused:
        escalation(ATC, reason="   ")
    assert refused.value.key == "tickets.reason_required"


def test_r3_the_form_check_skips_the_reason():
    assert escalation(ATC, reason=None) == contract(VSPHERE)


# --------------------------------------------------------------------------- R4 who escalates


def test_r4_only_an_atc_escalates():
    assert escalation(ATC) == contract(VSPHERE)


def test_r4_agent_is_refused_with_the_names_of_the_atcs():
    with pytest.raises(Forbidden) as refused:
        escalation(AGENT)
    assert refused.value.key == "tickets.refuse_not_atc"
    assert refused.value.params["atcs"] == [
        ("Marc", "marc@nuage.example"),
        ("Karim", "karim@nuage.example"),
    ]
    assert refused.value.params["faq"] == "authorized-technical-contacts"


def test_r4_partner_without_atc_points_to_its_administrators():
    with pytest.raises(Forbidden) as refused:
        escalation(AGENT, atcs=[])
    assert refused.value.params["atcs"] == []
    assert refused.value.params["admins"] == [("Sophie", "sophie@nuage.example")]


def test_r4_customer_of_a_reseller_is_refused_with_the_partners_atcs():
    with pytest.raises(Forbidden) as refused:
        escalation(CUSTOMER)
    assert refused.value.key == "tickets.refuse_customer_escalation"
    assert refused.value.params["atcs"] == [
        ("Marc", "marc@nuage.example"),
        ("Karim", "karim@nuage.example"),
    ]


def test_r4_vendor_and_other_partners_cannot_escalate():
    with pytest.raises(Forbidden) as vendor:
        escalation(ENGINEER)
    assert vendor.value.key == "tickets.refuse_vendor_escalation"
    with pytest.raises(Forbidden) as other:
        escalation(actor_of(HARBOR, Role.ATC))
    assert other.value.key == "tickets.refuse_not_first_line"


def test_escalation_of_a_ticket_already_at_the_vendor_or_resolved_is_a_conflict():
    with pytest.raises(Conflict) as at_vendor:
        escalation(ATC, ticket(tier=Tier.VENDOR))
    assert at_vendor.value.key == "tickets.conflict_already_at_vendor"
    with pytest.raises(Conflict) as resolved:
        escalation(ATC, ticket(status=Status.RESOLVED))
    assert resolved.value.key == "tickets.conflict_closed"


# --------------------------------------------------------------------------- R5 entitlement


def test_r5_no_active_contract_covering_the_product_is_refused():
    lapsed = contract(VSPHERE, ends=dt.date(2026, 3, 31), number="SNS-OLD")
    with pytest.raises(UserError) as refused:
        escalation(ATC, contracts=[lapsed, contract("vSAN Enterprise")])
    assert refused.value.key == "tickets.refuse_no_contract"
    assert refused.value.params["lapsed"] == "SNS-OLD"
    assert refused.value.params["lapsed_end"] == "2026-03-31"
    assert refused.value.params["product"] == VSPHERE


def test_r5_a_contract_not_started_yet_does_not_count():
    future = contract(VSPHERE, starts=TODAY + dt.timedelta(days=1))
    with pytest.raises(UserError):
        escalation(ATC, contracts=[future])


def test_r5_ticket_without_product_needs_any_active_contract():
    tk = ticket(product=None)
    assert escalation(ATC, tk, licenses=[], contracts=[contract("vSAN Enterprise")]).number == (
        "SNS-1"
    )
    with pytest.raises(UserError):
        escalation(ATC, tk, licenses=[], contracts=[])


def test_r5_nfr_product_is_refused_before_looking_at_contracts():
    nfr = [license_(VSPHERE, type=LicenseType.NFR)]
    with pytest.raises(UserError) as refused:
        escalation(ATC, licenses=nfr, contracts=[contract(VSPHERE)])
    assert refused.value.key == "tickets.refuse_nfr"
    assert refused.value.params["faq"] == "nfr-support"


def test_r5_nfr_next_to_a_standard_key_of_the_same_product_is_supported():
    mixed = [license_(VSPHERE, type=LicenseType.NFR), license_(VSPHERE)]
    assert escalation(ATC, licenses=mixed) == contract(VSPHERE)


def test_r5_oem_product_is_supported_by_the_oem_partner():
    oem = [license_(VSPHERE, type=LicenseType.OEM, sold_by="dataforge")]
    with pytest.raises(UserError) as refused:
        escalation(ATC, licenses=oem)
    assert refused.value.key == "tickets.refuse_oem"
    assert refused.value.params["sellers"] == ["dataforge"]
    assert refused.value.params["faq"] == "oem-support-visibility"


def test_r5_sev1_on_basic_is_refused_with_alternatives():
    basic = [contract(VSPHERE, level="basic", number="SNS-B")]
    with pytest.raises(UserError) as refused:
        escalation(ATC, severity=1, contracts=basic)
    assert refused.value.key == "tickets.refuse_sev1_basic"
    assert refused.value.params == {
        "ea": "411023871",
        "contract": "SNS-B",
        "level": "basic",
        "faq": "severity-and-response-times",
    }
    # the alternative offered: severity 2 on the same contract
    assert escalation(ATC, severity=2, contracts=basic).number == "SNS-B"


def test_r5_sev1_on_production_or_saas_is_allowed_and_the_best_contract_is_used():
    contracts = [
        contract(VSPHERE, level="basic", number="SNS-B"),
        contract(VSPHERE, level="saas", number="SNS-S"),
    ]
    assert escalation(ATC, severity=1, contracts=contracts).number == "SNS-S"


def test_support_level_is_the_best_covering_contract_else_basic():
    contracts = [contract(VSPHERE, level="basic"), contract(VSPHERE, level="production")]
    assert routing.support_level(contracts, VSPHERE, 2, TODAY) == "production"
    assert routing.support_level(contracts, HORIZON, 2, TODAY) == "basic"
    assert routing.support_level([], None, 1, TODAY) == "basic"


# --------------------------------------------------------------------------- R6 business


def test_r6_business_ticket_is_forwarded_by_any_partner_contact_without_entitlement():
    tk = ticket(queue=Queue.BUSINESS, product=None)
    assert escalation(AGENT, tk, licenses=[], contracts=[]) is None


def test_r6_business_ticket_still_needs_a_reason_and_the_first_line_partner():
    tk = ticket(queue=Queue.BUSINESS)
    with pytest.raises(UserError):
        escalation(AGENT, tk, reason="")
    with pytest.raises(Forbidden):
        escalation(HARBOR_AGENT, tk)


# --------------------------------------------------------------------------- R7 hand-back


def test_r7_vendor_engineer_hands_back_with_a_reason():
    tk = ticket(tier=Tier.VENDOR, status=Status.ESCALATED)
    assert routing.check_hand_back(actor=ENGINEER, ticket=tk, reason="partner network") == "nuage"


def test_r7_reason_is_required():
    tk = ticket(tier=Tier.VENDOR)
    with pytest.raises(UserError) as refused:
        routing.check_hand_back(actor=ENGINEER, ticket=tk, reason=" ")
    assert refused.value.key == "tickets.reason_required"


def test_r7_only_the_tickets_vendor_hands_back():
    tk = ticket(tier=Tier.VENDOR)
    for actor in (ATC, CUSTOMER, OTHER_ENGINEER, actor_of(VMW)):  # vendor contact, no role
        with pytest.raises(Forbidden):
            routing.check_hand_back(actor=actor, ticket=tk, reason="x")


def test_r7_nothing_to_hand_back():
    with pytest.raises(Conflict) as at_partner:
        routing.check_hand_back(actor=ENGINEER, ticket=ticket(), reason="x")
    assert at_partner.value.key == "tickets.conflict_not_at_vendor"
    direct = ticket(tier=Tier.VENDOR, partner=None)
    with pytest.raises(Conflict) as no_partner:
        routing.check_hand_back(actor=ENGINEER, ticket=direct, reason="x")
    assert no_partner.value.key == "tickets.conflict_no_partner"


# --------------------------------------------------------------------------- working a ticket


def test_the_holding_tier_works_the_ticket():
    at_partner = ticket()
    at_vendor = ticket(tier=Tier.VENDOR)
    assert routing.holds(AGENT, at_partner) and not routing.holds(ENGINEER, at_partner)
    assert routing.holds(ENGINEER, at_vendor) and not routing.holds(AGENT, at_vendor)
    assert not routing.holds(CUSTOMER, at_partner)
    with pytest.raises(Forbidden) as refused:
        routing.check_holder(CUSTOMER, at_vendor, vendor=VENDOR, partner=NUAGE)
    assert refused.value.params["holder"] == "VMware"
    # the first-line partner may still put a vendor-tier ticket on hold for the customer
    assert routing.may_wait(AGENT, at_vendor)
    assert routing.may_resolve(CUSTOMER, at_vendor) and routing.may_reopen(CUSTOMER, at_vendor)
    assert not routing.may_wait(HARBOR_AGENT, at_vendor)


def test_r9_the_customer_who_opened_is_told_else_the_superuser():
    tk = ticket()
    alice = dataclasses.replace(contact("Alice", "acme", Role.USER), org_kind=OrgKind.CUSTOMER)
    assert routing.customer_recipient(tk, alice, account()) == alice.email
    partner_contact = contact("Lea", "nuage", Role.AGENT)
    assert routing.customer_recipient(tk, partner_contact, account()) == "boss@acme.example"
    assert routing.customer_recipient(tk, None, account()) == "boss@acme.example"


def test_r2_vendor_words_never_reach_an_msp_customer():
    tk = ticket(partner="pixel", tier=Tier.VENDOR)
    with pytest.raises(Forbidden) as refused:
        routing.check_vendor_may_ask_customer(ENGINEER, tk, PIXEL)
    assert refused.value.params["partner"] == PIXEL.name
    routing.check_vendor_may_ask_customer(ENGINEER, ticket(tier=Tier.VENDOR), NUAGE)
    routing.check_vendor_may_ask_customer(actor_of(PIXEL, Role.ATC), tk, PIXEL)
    assert not routing.relays_vendor_words(ENGINEER, PIXEL)
    assert routing.relays_vendor_words(ENGINEER, NUAGE)
    assert routing.relays_vendor_words(actor_of(PIXEL, Role.ATC), PIXEL)


def test_r4_only_the_partners_atcs_write_to_the_vendor_thread():
    tk = ticket(tier=Tier.VENDOR)
    routing.check_talks_to_vendor(ATC, tk, [])  # allowed: returns nothing
    with pytest.raises(Forbidden) as refused:
        routing.check_talks_to_vendor(AGENT, tk, ATCS)
    assert refused.value.key == "threads.refuse_vendor_atc_only"
    assert [name for name, _email in refused.value.params["people"]] == ["Marc", "Karim"]
    for outsider in (HARBOR_AGENT, CUSTOMER, ENGINEER):
        with pytest.raises(Forbidden) as refused:
            routing.check_talks_to_vendor(outsider, tk, ATCS)
        assert refused.value.key == "threads.refuse_reply_vendor"
