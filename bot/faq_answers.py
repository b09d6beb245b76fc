"""/faq as a use case: who is asking (their role, EAs, partner, contracts, agreements…),
in which language to answer, and what to answer — an entry with related ones, a choice
of close entries, or nothing.

Language: the question's own when it is clear, else the asker's locale; everything in
the reply (answer, titles, buttons) follows it.

Personal data: an answer shows only what the asker may see elsewhere in the bot: the
EAs in their view; contracts, subscriptions and agreements where they may see orders
and contracts (customers on their own EAs, partners holding ``view_orders_contracts``);
keys where they may see entitlements, masked unless ``view_license_keys``. Only the
fields the answer's template reads are gathered, and an answer that shows any leaves an
audit entry.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import entitlements, render, sla, tickets
from bot.domain import LicenseType, Permission, Role, SupportLevel
from bot.faq import (
    RENEWAL_DAYS,
    AgreementInfo,
    AskerContext,
    FaqCatalog,
    FaqEntry,
    LicenseInfo,
    RenewalInfo,
    SearchResult,
    SubscriptionInfo,
)
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store.readmodel import remembered
from bot.visibility import AccountView, Actor, mask_key, visible_accounts

log = logging.getLogger(__name__)

# Better support levels first: the asker's best active contract speaks for them.
LEVEL_RANK = {
    SupportLevel.PRODUCTION.value: 0,
    SupportLevel.SAAS.value: 1,
    SupportLevel.BASIC.value: 2,
}
# Runners-up offered as "related" under an answer: at most this many, and only those
# scoring at least this share of the answer's score (the rest is noise).
RELATED_COUNT = 2
RELATED_SHARE = 0.5
# Keys of these types are listed in the answers about them; a few per type and EA.
SPECIAL_LICENSE_TYPES = (LicenseType.OEM, LicenseType.NFR, LicenseType.IUL, LicenseType.VSPP)
LICENSES_PER_TYPE = 5
# At most this many EAs are read for the lists of an answer (one section holds little).
MAX_EAS = 20


@dataclass(frozen=True)
class FaqReply:
    kind: str  # "answer" | "choices" | "none" | "topics"
    question: str
    locale: str = "en"  # the reply's language: the question's when clear, else the asker's
    slug: str | None = None
    text: str = ""
    title: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (slug, title)
    topics: tuple[tuple[str, tuple[FaqEntry, ...]], ...] = ()
    related: tuple[tuple[str, str], ...] = ()  # (slug, title): runners-up of an answer


def reply_locale(catalog: FaqCatalog, actor: Actor, question: str) -> str:
    """The language to answer ``question`` in: its own when clear, else the asker's."""
    return catalog.language_of(question) or actor.locale


def basic_context(actor: Actor, locale: str | None = None) -> AskerContext:
    """What is known of the asker without reading their accounts."""
    return AskerContext(
        locale=locale or actor.locale,
        audience=actor.kind.value,
        name=actor.contact.name,
        organization=actor.org.name,
        partner_type=actor.org.partner_type.value if actor.org.partner_type else None,
        atc=actor.is_partner and actor.has(Role.ATC),
    )


def search(catalog: FaqCatalog, actor: Actor, question: str) -> SearchResult:
    """The search, preferring the entries written for the asker's audience."""
    return catalog.remembered_search(
        question,
        audience=actor.kind.value,
        partner_type=actor.org.partner_type.value if actor.org.partner_type else None,
    )


def _shows_orders(actor: Actor, view: AccountView) -> bool:
    return actor.is_customer or view.allows(Permission.VIEW_ORDERS_CONTRACTS)


async def _names(conn: AsyncConnection, ids: Iterable[str]) -> dict[str, str]:
    """Display names of organizations or vendors, by id."""
    wanted = set(ids)
    names = {i: o.name for i, o in (await directory_db.get_organizations(conn, ids=wanted)).items()}
    for vendor_id in wanted - set(names):
        vendor = await directory_db.get_vendor(conn, id=vendor_id)
        if vendor is not None:
            names[vendor_id] = vendor.name
    return names


async def _contact_names(conn: AsyncConnection, emails: Iterable[str]) -> dict[str, str]:
    contacts = await directory_db.get_contacts(conn, emails=emails)
    return {email: contact.name for email, contact in contacts.items()}


async def asker_context(
    store: Store,
    actor: Actor,
    *,
    now: dt.datetime,
    fields: Iterable[str] | None = None,
    locale: str | None = None,
) -> AskerContext:
    """What the templates may use of the asker's own data, within what they may see.

    ``fields`` names the :class:`AskerContext` account fields to gather (all when None).
    """
    wanted = frozenset(fields) if fields is not None else None
    today = now.date()

    def needs(*names: str) -> bool:
        return wanted is None or any(n in wanted for n in names)

    async with store.read() as conn:
        # Reference data only, read at the request's version: kept for the next ask.
        data = await remembered(
            ("faq.account_data", actor, today, wanted, locale),
            partial(_account_data, conn, actor, today, wanted, locale),
        )
    renewals: list[RenewalInfo] = []
    if needs("renewals"):
        # The /entitlements renewals use case, under its own rules (and audit entry).
        found = await entitlements.renewals(store, actor, days=RENEWAL_DAYS, now=now)
        renewals = [
            RenewalInfo(i.kind, i.ea, i.ref, i.label, i.ends, i.days_left) for i in found.items
        ]
    base = basic_context(actor, locale)
    return AskerContext(
        locale=base.locale,
        audience=base.audience,
        name=base.name,
        organization=base.organization,
        partner_type=base.partner_type,
        atc=base.atc,
        eas=data.eas,
        partners=data.partners,
        contract_level=data.contract_level,
        response_targets=data.response_targets,
        atcs=data.atcs,
        superusers=data.superusers,
        agreements=data.agreements,
        subscriptions=data.subscriptions,
        renewals=tuple(renewals),
        licenses=data.licenses,
    )


@dataclass(frozen=True)
class _AccountData:
    """The asker's account fields that come from reference data alone."""

    eas: tuple[str, ...]
    partners: tuple[str, ...]
    contract_level: str | None
    response_targets: tuple[tuple[int, str, str], ...]
    atcs: tuple[tuple[str, str], ...]
    superusers: tuple[tuple[str, str], ...]
    agreements: tuple[AgreementInfo, ...]
    subscriptions: tuple[SubscriptionInfo, ...]
    licenses: tuple[LicenseInfo, ...]


async def _account_data(
    conn: AsyncConnection,
    actor: Actor,
    today: dt.date,
    wanted: frozenset[str] | None,
    locale: str | None,
) -> _AccountData:
    def needs(*names: str) -> bool:
        return wanted is None or any(n in wanted for n in names)

    views = await visible_accounts(conn, actor=actor, today=today)
    eas = tuple(v.ea for v in views)
    order_views = [v for v in views if _shows_orders(actor, v)]
    vendor_of = {v.ea: v.account.vendor for v in views}
    best_level: str | None = None
    targets: list[tuple[int, str, str]] = []
    if needs("contract_level", "response_targets"):
        vendor_id: str | None = views[0].account.vendor if views else None
        contracts = await accounts_db.contracts_on_accounts(conn, eas=[v.ea for v in order_views])
        for contract in contracts:
            if contract.active(today) and (
                best_level is None
                or LEVEL_RANK.get(contract.level, 9) < LEVEL_RANK.get(best_level, 9)
            ):
                best_level = contract.level
                vendor_id = vendor_of[contract.ea]
        vendor = await directory_db.get_vendor(conn, id=vendor_id) if vendor_id else None
        if vendor is not None:
            overrides = await accounts_db.sla_overrides(conn, vendor=vendor.id)
            for severity in (1, 2, 3, 4):
                target = sla.target_for(best_level, severity, overrides)
                label = vendor.severity_label(severity)
                targets.append(
                    (severity, label, sla.describe_target(target, locale or actor.locale))
                )
    partners: list[str] = []
    partner_names: dict[str, str] = {}
    atcs: list[tuple[str, str]] = []
    if needs("partners", "atcs") and actor.is_customer:
        for grant in await accounts_db.grants_on_accounts(conn, eas=eas):
            if grant.active(today) and grant.partner not in partners:
                partners.append(grant.partner)
        partner_names = await _names(conn, partners)
    if needs("atcs"):
        for org_id in [actor.org.id] if actor.is_partner else partners:
            for contact in await directory_db.list_contacts(conn, org=org_id, role=Role.ATC):
                atcs.append((contact.name, contact.email))
    superusers: list[tuple[str, str]] = []
    if needs("superusers"):
        listed = [(v.ea, v.account.superuser) for v in views if v.account.superuser]
        names = await _contact_names(conn, {email for _, email in listed[:MAX_EAS]})
        superusers = [(ea, names.get(email, email)) for ea, email in listed[:MAX_EAS]]
    listed_orders = order_views[:MAX_EAS]
    agreements = await _agreements(conn, listed_orders) if needs("agreements") else []
    subscriptions = await _subscriptions(conn, listed_orders) if needs("subscriptions") else []
    licenses = await _licenses(conn, views) if needs("licenses") else []
    return _AccountData(
        eas=eas,
        partners=tuple(partner_names[p] for p in partners if p in partner_names),
        contract_level=best_level,
        response_targets=tuple(targets),
        atcs=tuple(atcs),
        superusers=tuple(superusers),
        agreements=tuple(agreements),
        subscriptions=tuple(subscriptions),
        licenses=tuple(licenses),
    )


async def _agreements(conn: AsyncConnection, views: list[AccountView]) -> list[AgreementInfo]:
    """The agreements of the customers of these EAs, with that EA's vendor."""
    pairs = {(v.account.customer, v.account.vendor) for v in views}
    found = []
    for customer in sorted({c for c, _ in pairs}):
        for agreement in await accounts_db.agreements_of(conn, customer=customer):
            if (customer, agreement.vendor) in pairs:
                found.append(agreement)
    names = await _contact_names(conn, {e for a in found for e in a.benefit_admins})
    return [
        AgreementInfo(
            number=a.number,
            benefits=a.benefits,
            admins=tuple(names.get(e, e) for e in a.benefit_admins),
            notice_contact=a.customer_email,
        )
        for a in found
    ]


async def _subscriptions(conn: AsyncConnection, views: list[AccountView]) -> list[SubscriptionInfo]:
    subscriptions = []
    for view in views:
        subscriptions.extend(await accounts_db.subscriptions_on(conn, ea=view.ea))
    names = await _names(conn, {s.seller for s in subscriptions})
    return [
        SubscriptionInfo(
            ea=s.ea,
            service=s.service,
            seller=names.get(s.seller, s.seller),
            contract_code=s.contract_code,
            ends=s.ends,
        )
        for s in subscriptions
    ]


async def _licenses(conn: AsyncConnection, views: list[AccountView]) -> list[LicenseInfo]:
    """A few keys of each special type on the EAs where the asker may see entitlements."""
    found = []
    for view in [v for v in views if entitlements.may_see_entitlements(v)][:MAX_EAS]:
        shows_keys = view.allows(Permission.VIEW_LICENSE_KEYS)
        for kind in SPECIAL_LICENSE_TYPES:
            for lic in await accounts_db.list_licenses(
                conn, ea=view.ea, type=kind, limit=LICENSES_PER_TYPE
            ):
                found.append(
                    LicenseInfo(
                        ea=lic.ea,
                        key=lic.key if shows_keys else mask_key(lic.key),
                        product=lic.product,
                        type=lic.type.value,
                        expires=lic.expires,
                    )
                )
    return found


def _related(
    catalog: FaqCatalog, result: SearchResult, actor: Actor, locale: str
) -> tuple[tuple[str, str], ...]:
    kind = actor.kind.value
    partner_type = actor.org.partner_type.value if actor.org.partner_type else None
    return tuple(
        (slug, catalog.title(slug, locale, kind, partner_type))
        for slug, score in result.alternatives[1:]
        # only entries written for the asker: a customer is not offered a partner's page
        if score >= RELATED_SHARE * result.score
        and catalog.entries[slug].written_for(kind, partner_type)
    )[:RELATED_COUNT]


async def ask(
    store: Store, catalog: FaqCatalog, actor: Actor, question: str, *, now: dt.datetime
) -> FaqReply:
    question = " ".join(question.split())
    if not question:
        return FaqReply(
            kind="topics",
            question="",
            locale=actor.locale,
            topics=tuple(
                (name, tuple(entries))
                for name, entries in catalog.topics(actor.kind.value, actor.locale)
            ),
        )
    locale = reply_locale(catalog, actor, question)
    result = search(catalog, actor, question)
    if result.slug is None:
        reply = FaqReply(kind="none", question=question, locale=locale)
    elif not result.confident:
        kind = actor.kind.value
        partner_type = actor.org.partner_type.value if actor.org.partner_type else None
        slugs = [result.slug, *(s for s, _ in result.alternatives if s != result.slug)][:3]
        reply = FaqReply(
            kind="choices",
            question=question,
            locale=locale,
            choices=tuple((s, catalog.title(s, locale, kind, partner_type)) for s in slugs),
        )
    else:
        return await answer(
            store,
            catalog,
            actor,
            result.slug,
            now=now,
            question=question,
            locale=locale,
            related=_related(catalog, result, actor, locale),
        )
    # No protected data was read: nothing to audit, but unanswered questions are worth
    # a line in the log (they show which entries to write next).
    log.info("faq %s for %r (%s)", reply.kind, question[:200], locale)
    return reply


async def answer(
    store: Store,
    catalog: FaqCatalog,
    actor: Actor,
    slug: str,
    *,
    now: dt.datetime,
    question: str = "",
    locale: str | None = None,
    related: tuple[tuple[str, str], ...] = (),
) -> FaqReply:
    """The entry ``slug`` written for this asker, in ``locale`` (default: theirs)."""
    locale = locale or actor.locale
    context = basic_context(actor, locale)
    fields = catalog.account_fields(slug, locale, context)
    if fields:
        context = await asker_context(store, actor, now=now, fields=fields, locale=locale)
    text = catalog.answer(slug, locale, context)
    if fields:
        # The answer shows the asker's accounts, partners or contracts: a protected read.
        # audited before the answer goes out (in a commit shared with concurrent requests)
        await audit_db.append(
            store,
            at=now,
            actor=actor.email,
            action="faq.answer",
            detail={"slug": slug, "question": question[:500]},
        )
    return FaqReply(
        kind="answer",
        question=question,
        locale=locale,
        slug=slug,
        text=text,
        title=catalog.title(slug, locale, context.audience, context.partner_type),
        related=related,
    )


async def record_feedback(
    store: Store, actor: Actor, slug: str, helpful: bool, *, now: dt.datetime
) -> None:
    await audit_db.append(
        store,
        at=now,
        actor=actor.email,
        action="faq.helped" if helpful else "faq.not_helped",
        detail={"slug": slug},
    )


async def deflection(
    store: Store, catalog: FaqCatalog, actor: Actor, subject: str, *, now: dt.datetime
) -> FaqReply | None:
    """The FAQ answer to offer beside a ticket just opened with ``subject``, when an entry
    matches the subject confidently (the asker may then close the ticket); else None."""
    subject = " ".join(subject.split())
    if not subject:
        return None
    result = search(catalog, actor, subject)
    if result.slug is None or not result.confident:
        return None
    locale = reply_locale(catalog, actor, subject)
    return await answer(
        store, catalog, actor, result.slug, now=now, question=subject, locale=locale
    )


def self_served_resolution(catalog: FaqCatalog, slug: str, locale: str) -> str:
    """The resolution text of a ticket its asker closed because an FAQ entry answered it."""
    return render.t("faq.self_served_resolution", locale, title=catalog.title(slug, locale))


async def resolve_self_served(
    store: Store,
    catalog: FaqCatalog,
    actor: Actor,
    ticket_id: int,
    slug: str,
    *,
    locale: str,
    now: dt.datetime,
) -> tickets.TicketOutcome:
    """The asker closes the ticket the FAQ answered: the resolve use case (same rules and
    notifications as ``/ticket resolve``), and the answer counted as helpful."""
    outcome = await tickets.resolve(
        store,
        actor,
        ticket_id,
        resolution=self_served_resolution(catalog, slug, locale),
        now=now,
    )
    await record_feedback(store, actor, slug, True, now=now)
    return outcome
