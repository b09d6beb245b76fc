"""Tier rules R1–R7 as plain decisions over domain objects.

The product's rules, by the labels the code refers to:

- R1 intake: a customer's ticket goes to the partner holding ``file_support_requests``
  on the EA (the one the license was sold through, if several); with none, to the vendor.
- R2 MSP: an MSP's end customer never reaches the vendor, nor the vendor it.
- R3 first line: the partner answers usage questions, identifies, checks known issues
  and reproduces; escalating says what was done.
- R4 who escalates: only a partner ATC escalates to the vendor, and sets the severity.
- R5 entitlement gate: a technical escalation needs an active contract on the EA that
  covers the product; sev1 needs a 24×7 level; NFR and OEM keys carry no vendor support.
- R6 business queue: contract, usage, billing and order questions go to the vendor's
  business queue from any partner contact; a customer's go to its partner.
- R7 hand-back: a vendor engineer gives a ticket back to the partner, with a reason.
- R8 visibility: each sees its own EAs and tickets (partners: by grant, within its
  permissions; vendors: theirs at vendor tier); anything else reads as nonexistent.
- R9 notifications: the customer hears of every status change and of partners added
  to or removed from its EAs.
- R10 superuser: moving the role to a partner contact needs the current superuser's
  confirmation.
- R11 orders: ``/ea lookup`` finds a customer's EAs (all of them) before an order.

Nothing here reads the database or talks to Slack: callers load what a rule needs and
act on the answer. A refusal is raised as a :class:`~bot.errors.UserError` whose key
(``tickets.<reason>``) renders a message saying why and what to do instead; its
parameters name the people, contract or FAQ entry that message points to.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot import sla
from bot.domain import (
    Account,
    Contact,
    Contract,
    Grant,
    License,
    LicenseType,
    Organization,
    PartnerType,
    Permission,
    Queue,
    Role,
    Status,
    Ticket,
    Tier,
    Vendor,
)
from bot.errors import Conflict, Forbidden, UserError
from bot.visibility import Actor

# FAQ entries the refusals point to (templates/faq/<locale>/<slug>.md.j2).
FAQ_NFR = "nfr-support"
FAQ_OEM = "oem-support-visibility"
FAQ_MSP_CUSTOMER = "msp-customer-contacts-vendor"
FAQ_ATC = "authorized-technical-contacts"
FAQ_SEVERITY = "severity-and-response-times"
FAQ_MSP_BUSINESS = "msp-business-support"
FAQ_MSP_TECHNICAL = "msp-technical-support"
FAQ_VENDOR_DUTIES = "vendor-support-duties"

VENDOR_STAFF = frozenset({Role.ENGINEER, Role.ADMIN})


def _people(contacts: Iterable[Contact]) -> list[tuple[str, str]]:
    """(name, email) pairs, the way refusals list whom to ask."""
    return [(c.name, c.email) for c in contacts]


def is_vendor_staff(actor: Actor, vendor: str) -> bool:
    return actor.is_vendor and actor.org.id == vendor and bool(actor.contact.roles & VENDOR_STAFF)


def is_partner_of(actor: Actor, ticket: Ticket) -> bool:
    """The actor works for the partner that is the ticket's first line."""
    return actor.is_partner and ticket.partner is not None and actor.org.id == ticket.partner


def is_customer_of(actor: Actor, ticket: Ticket) -> bool:
    return actor.is_customer and actor.org.id == ticket.customer


def is_msp(partner: Organization | None) -> bool:
    """R2 applies: the ticket's partner is a managed service provider."""
    return partner is not None and partner.partner_type is PartnerType.MSP


# --------------------------------------------------------------------------- R1 intake


@dataclass(frozen=True)
class Intake:
    """Where a new ticket lands: the tier that must act, its queue, and the partner that
    is the customer's first line (None when the customer has no partner on the EA)."""

    tier: Tier
    queue: Queue
    partner: str | None


def filing_partners(grants: Iterable[Grant], today: dt.date) -> list[str]:
    """Partners holding an active ``file_support_requests`` grant, by id."""
    return sorted({g.partner for g in grants if g.allows(Permission.FILE_SUPPORT_REQUESTS, today)})


def first_line_partner(
    grants: Iterable[Grant], licenses: Iterable[License], product: str | None, today: dt.date
) -> str | None:
    """R1: the partner that takes the customer's tickets on this EA. With several, the one
    the product's license was sold through; otherwise the first by id."""
    candidates = filing_partners(grants, today)
    if len(candidates) <= 1:
        return candidates[0] if candidates else None
    if product is not None:
        wanted = product.casefold()
        sellers = sorted(
            {
                lic.sold_by
                for lic in licenses
                if lic.product.casefold() == wanted and lic.sold_by in candidates
            }
        )
        if sellers:
            return sellers[0]
    return candidates[0]


def route_intake(
    *,
    actor: Actor,
    account: Account,
    grants: Sequence[Grant],
    licenses: Sequence[License],
    product: str | None,
    business: bool,
    today: dt.date,
) -> Intake:
    """R1 and R6: where a ticket opened by ``actor`` on ``account`` lands.

    - a customer's ticket (technical or business) goes to its first-line partner, or
      straight to the vendor tier when the EA has none;
    - a partner files only where it holds ``file_support_requests``: technical tickets
      land at its own tier (it escalates later), business tickets go straight to the
      vendor's business queue (R6, no ATC needed);
    - a vendor engineer opens tickets on its own vendor's EAs, at vendor tier.
    """
    queue = Queue.BUSINESS if business else Queue.TECHNICAL
    if actor.is_customer:
        if account.customer != actor.org.id:
            raise Forbidden("tickets.refuse_not_your_account", ea=account.ea)
        partner = first_line_partner(grants, licenses, product, today)
        return Intake(Tier.PARTNER if partner else Tier.VENDOR, queue, partner)
    if actor.is_partner:
        if actor.org.id not in filing_partners(grants, today):
            raise Forbidden(
                "tickets.refuse_no_file_permission", ea=account.ea, partner=actor.org.name
            )
        tier = Tier.VENDOR if business else Tier.PARTNER
        return Intake(tier, queue, actor.org.id)
    if is_vendor_staff(actor, account.vendor):
        # The first-line partner is kept so that a hand-back (R7) knows where to go.
        return Intake(Tier.VENDOR, queue, first_line_partner(grants, licenses, product, today))
    raise Forbidden("tickets.refuse_not_your_account", ea=account.ea)


# ----------------------------------------------------------------------- products


def account_products(
    licenses: Iterable[License], contracts: Iterable[Contract], services: Iterable[str] = ()
) -> list[str]:
    """Every product named on an EA (keys, contracts, subscriptions), once, sorted."""
    seen: dict[str, str] = {}
    for name in [*(lic.product for lic in licenses), *(p for c in contracts for p in c.products)]:
        seen.setdefault(name.casefold(), name)
    for name in services:
        seen.setdefault(name.casefold(), name)
    return sorted(seen.values(), key=str.casefold)


def match_product(wanted: str, products: Sequence[str], *, usage: str | None = None) -> str:
    """The one product of the EA that ``wanted`` names: an exact name (any case), else a
    unique prefix, else a unique substring. Ambiguity or no match lists the candidates."""
    folded = " ".join(wanted.replace("_", " ").replace("-", " ").split()).casefold()
    if not folded:
        raise UserError("tickets.product_unknown", usage=usage, product=wanted, products=products)

    def norm(name: str) -> str:
        return " ".join(name.replace("-", " ").split()).casefold()

    exact = [p for p in products if norm(p) == folded]
    if exact:
        return exact[0]
    for matches in (
        [p for p in products if norm(p).startswith(folded)],
        [p for p in products if folded in norm(p)],
    ):
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise UserError(
                "tickets.product_ambiguous", usage=usage, product=wanted, products=matches
            )
    raise UserError("tickets.product_unknown", usage=usage, product=wanted, products=products)


# ------------------------------------------------------------- contracts and levels


def covering_contracts(
    contracts: Iterable[Contract], product: str | None, today: dt.date
) -> list[Contract]:
    """Active contracts covering ``product`` (any active contract when it is None)."""
    return [c for c in contracts if c.active(today) and c.covers(product)]


def best_contract(
    contracts: Iterable[Contract],
    product: str | None,
    severity: int,
    today: dt.date,
    overrides: Mapping[tuple[str, int], int] | None = None,
) -> Contract | None:
    """The active covering contract with the strongest support for ``severity``: around
    the clock first, then the shortest target, then the one ending last."""

    def strength(contract: Contract) -> tuple[bool, int, int]:
        target = sla.target_for(contract.level, severity, overrides)
        return (not target.around_the_clock, target.minutes, -contract.ends.toordinal())

    found = covering_contracts(contracts, product, today)
    return min(found, key=strength) if found else None


def support_level(
    contracts: Iterable[Contract],
    product: str | None,
    severity: int,
    today: dt.date,
    overrides: Mapping[tuple[str, int], int] | None = None,
) -> str:
    """The level the SLA is counted on: the best covering contract's, else basic."""
    contract = best_contract(contracts, product, severity, today, overrides)
    return contract.level if contract is not None else sla.NO_CONTRACT_LEVEL


def has_round_the_clock_sev1(level: str) -> bool:
    return sla.target_for(level, 1).around_the_clock


# ------------------------------------------------------------------ R2, R4, R5, R6


def check_entitlement(
    *,
    ea: str,
    product: str | None,
    severity: int,
    licenses: Sequence[License],
    contracts: Sequence[Contract],
    today: dt.date,
    overrides: Mapping[tuple[str, int], int] | None = None,
) -> Contract:
    """R5: the contract a technical escalation rests on, or the refusal saying why not.

    License types come first: a product held only as NFR has no vendor support (partners
    use their support codes), one held only as OEM is supported by the OEM partner. Then
    an active contract must cover the product, and severity 1 needs a level with 24×7
    severity 1 (production, saas)."""
    if product is not None:
        wanted = product.casefold()
        types = {lic.type for lic in licenses if lic.product.casefold() == wanted}
        if types and types <= {LicenseType.NFR, LicenseType.OEM}:
            if LicenseType.OEM in types:
                sellers = sorted(
                    {
                        lic.sold_by
                        for lic in licenses
                        if lic.product.casefold() == wanted and lic.sold_by
                    }
                )
                raise Forbidden(
                    "tickets.refuse_oem", product=product, ea=ea, sellers=sellers, faq=FAQ_OEM
                )
            raise Forbidden("tickets.refuse_nfr", product=product, ea=ea, faq=FAQ_NFR)
    contract = best_contract(contracts, product, severity, today, overrides)
    if contract is None:
        lapsed = sorted(
            (c for c in contracts if c.covers(product) and not c.active(today)),
            key=lambda c: c.ends,
        )
        raise Forbidden(
            "tickets.refuse_no_contract",
            product=product,
            ea=ea,
            lapsed=lapsed[-1].number if lapsed else None,
            lapsed_end=lapsed[-1].ends.isoformat() if lapsed else None,
            faq=FAQ_VENDOR_DUTIES,
        )
    if severity == 1 and not has_round_the_clock_sev1(contract.level):
        raise Forbidden(
            "tickets.refuse_sev1_basic",
            ea=ea,
            contract=contract.number,
            level=contract.level,
            faq=FAQ_SEVERITY,
        )
    return contract


def check_escalation(
    *,
    actor: Actor,
    ticket: Ticket,
    partner: Organization | None,
    atcs: Sequence[Contact],
    admins: Sequence[Contact],
    severity: int,
    reason: str | None,
    licenses: Sequence[License],
    contracts: Sequence[Contract],
    today: dt.date,
    overrides: Mapping[tuple[str, int], int] | None = None,
    usage: str | None = None,
) -> Contract | None:
    """R2, R3, R4, R5 and R6 for ``/escalate``: who may escalate this ticket, and on what.

    Returns the contract a technical escalation rests on (None for a business ticket,
    which needs no entitlement). ``atcs`` and ``admins`` are the contacts of the ticket's
    partner, named in refusals so that the person knows whom to ask. ``reason`` None
    checks everything but the reason (before the escalation form is shown)."""
    partner_name = partner.name if partner is not None else None
    if is_customer_of(actor, ticket):
        if is_msp(partner):
            raise Forbidden(
                "tickets.refuse_msp_customer", partner=partner_name, faq=FAQ_MSP_CUSTOMER
            )
        raise Forbidden(
            "tickets.refuse_customer_escalation",
            partner=partner_name,
            atcs=_people(atcs),
            faq=FAQ_ATC,
        )
    if actor.is_vendor:
        raise Forbidden("tickets.refuse_vendor_escalation", ticket=ticket.ref)
    if not is_partner_of(actor, ticket):
        raise Forbidden("tickets.refuse_not_first_line", ticket=ticket.ref, partner=partner_name)
    if not ticket.status.is_open:
        raise Conflict("tickets.conflict_closed", ticket=ticket.ref, status=ticket.status.value)
    if ticket.tier is Tier.VENDOR:
        raise Conflict("tickets.conflict_already_at_vendor", ticket=ticket.ref)
    # R6: business questions go to the vendor's business queue; any partner contact may.
    if ticket.queue is not Queue.BUSINESS and not actor.has(Role.ATC):
        raise Forbidden(
            "tickets.refuse_not_atc",
            partner=partner_name,
            atcs=_people(atcs),
            admins=_people(admins),
            faq=FAQ_ATC,
        )
    # R3: the first line says what it did before handing the problem to the vendor.
    if reason is not None and not reason.strip():
        raise UserError("tickets.reason_required", usage=usage, ticket=ticket.ref)
    if ticket.queue is Queue.BUSINESS:
        return None
    return check_entitlement(
        ea=ticket.ea,
        product=ticket.product,
        severity=severity,
        licenses=licenses,
        contracts=contracts,
        today=today,
        overrides=overrides,
    )


def check_talks_to_vendor(actor: Actor, ticket: Ticket, atcs: Sequence[Contact]) -> None:
    """R4 for a reply in the vendor thread: the ticket's partner speaks to the vendor
    through its authorized technical contacts only (``atcs``, named in the refusal)."""
    if not is_partner_of(actor, ticket):
        raise Forbidden("threads.refuse_reply_vendor", ticket=ticket.ref)
    if not actor.has(Role.ATC):
        raise Forbidden("threads.refuse_vendor_atc_only", ticket=ticket.ref, people=_people(atcs))


# --------------------------------------------------------------------- R7 hand-back


def check_hand_back(
    *, actor: Actor, ticket: Ticket, reason: str | None, usage: str | None = None
) -> str:
    """R7: a vendor engineer gives a ticket back to the partner tier, with a reason
    (None: not asked yet, before the form). Returns the partner that gets it back."""
    if not is_vendor_staff(actor, ticket.vendor):
        raise Forbidden("tickets.refuse_hand_back_not_vendor", ticket=ticket.ref)
    if not ticket.status.is_open:
        raise Conflict("tickets.conflict_closed", ticket=ticket.ref, status=ticket.status.value)
    if ticket.tier is not Tier.VENDOR:
        raise Conflict("tickets.conflict_not_at_vendor", ticket=ticket.ref)
    if ticket.partner is None:
        raise Conflict("tickets.conflict_no_partner", ticket=ticket.ref)
    if reason is not None and not reason.strip():
        raise UserError("tickets.reason_required", usage=usage, ticket=ticket.ref)
    return ticket.partner


# ------------------------------------------------------------------ working a ticket


def holds(actor: Actor, ticket: Ticket) -> bool:
    """The actor belongs to the tier that must act on the ticket now."""
    if ticket.tier is Tier.PARTNER:
        return is_partner_of(actor, ticket)
    return is_vendor_staff(actor, ticket.vendor)


def check_holder(
    actor: Actor, ticket: Ticket, *, vendor: Vendor, partner: Organization | None
) -> None:
    """Only the holding tier takes, assigns, changes severity (and, mostly, answers)."""
    if not holds(actor, ticket):
        holder = vendor.name if ticket.tier is Tier.VENDOR else (partner.name if partner else "")
        raise Forbidden("tickets.refuse_not_holder", ticket=ticket.ref, holder=holder)


def may_wait(actor: Actor, ticket: Ticket) -> bool:
    """Waiting on the customer: the holding tier, or the first-line partner while the
    vendor has the ticket (under R2 the vendor's questions reach the customer that way)."""
    return holds(actor, ticket) or is_partner_of(actor, ticket)


def check_vendor_may_ask_customer(
    actor: Actor, ticket: Ticket, partner: Organization | None
) -> None:
    """R2: the vendor does not address an MSP's customer, not even to ask a question; the
    MSP asks its customer (the vendor leaves a note for it)."""
    if actor.is_vendor and partner is not None and is_msp(partner):
        raise Forbidden(
            "tickets.refuse_vendor_to_msp_customer", ticket=ticket.ref, partner=partner.name
        )


def relays_vendor_words(actor: Actor, partner: Organization | None) -> bool:
    """Whether text the actor typed may be quoted to the customer: not a vendor's under
    R2 (the MSP tells its customer in its own words)."""
    return not (actor.is_vendor and is_msp(partner))


def may_resolve(actor: Actor, ticket: Ticket) -> bool:
    return holds(actor, ticket) or is_partner_of(actor, ticket) or is_customer_of(actor, ticket)


def may_reopen(actor: Actor, ticket: Ticket) -> bool:
    return (
        is_customer_of(actor, ticket)
        or is_partner_of(actor, ticket)
        or is_vendor_staff(actor, ticket.vendor)
    )


# ---------------------------------------------------------------- R9 notifications


def customer_recipient(ticket: Ticket, opener: Contact | None, account: Account) -> str | None:
    """Who hears about the ticket on the customer side: the customer contact who opened
    it, else the EA's superuser."""
    if opener is not None and opener.org == ticket.customer:
        return opener.email
    return account.superuser


def notice_sender(
    actor: Actor | None, ticket: Ticket, *, partner: Organization | None, vendor: Vendor
) -> str:
    """The organization a customer notice speaks for (``actor`` None: the bot's own
    change). Under R2 every notice comes from the MSP: the vendor never writes to an
    MSP's customer."""
    if is_msp(partner) and partner is not None:
        return partner.name
    if actor is not None and actor.is_vendor:
        return vendor.name
    if actor is not None and actor.is_partner:
        return actor.org.name
    if ticket.tier is Tier.PARTNER and partner is not None:
        return partner.name
    return vendor.name


OPEN_FOR_WORK = frozenset({Status.NEW, Status.ACKNOWLEDGED, Status.IN_PROGRESS, Status.ESCALATED})
