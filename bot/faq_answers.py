"""/faq as a use case: who is asking (their EAs, partner, contract, ATCs) and what to
answer — an entry, a choice of three, or nothing."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from bot import sla
from bot.domain import Permission, Role, SupportLevel
from bot.faq import AskerContext, FaqCatalog, FaqEntry
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.visibility import Actor, visible_accounts

log = logging.getLogger(__name__)

# Better support levels first: the asker's best active contract speaks for them.
LEVEL_RANK = {
    SupportLevel.PRODUCTION.value: 0,
    SupportLevel.SAAS.value: 1,
    SupportLevel.BASIC.value: 2,
}


@dataclass(frozen=True)
class FaqReply:
    kind: str  # "answer" | "choices" | "none" | "topics"
    question: str
    slug: str | None = None
    text: str = ""
    title: str = ""
    choices: tuple[tuple[str, str], ...] = ()  # (slug, title)
    topics: tuple[tuple[str, tuple[FaqEntry, ...]], ...] = ()


def basic_context(actor: Actor) -> AskerContext:
    """What is known of the asker without reading their accounts."""
    return AskerContext(
        locale=actor.locale,
        audience=actor.kind.value,
        name=actor.contact.name,
        organization=actor.org.name,
        partner_type=actor.org.partner_type.value if actor.org.partner_type else None,
    )


async def asker_context(store: Store, actor: Actor, *, today: dt.date) -> AskerContext:
    """What the templates may use of the asker's own data: their EAs, partners, best
    active contract level and its first-response targets, the ATCs they deal with."""
    async with store.read() as conn:
        views = await visible_accounts(conn, actor=actor, today=today)
        eas = tuple(v.ea for v in views)
        contract_eas = [
            v.ea for v in views if actor.is_customer or v.allows(Permission.VIEW_ORDERS_CONTRACTS)
        ]
        vendor_of = {v.ea: v.account.vendor for v in views}
        best_level: str | None = None
        vendor_id: str | None = views[0].account.vendor if views else None
        for contract in await accounts_db.contracts_on_accounts(conn, eas=contract_eas):
            if contract.active(today) and (
                best_level is None
                or LEVEL_RANK.get(contract.level, 9) < LEVEL_RANK.get(best_level, 9)
            ):
                best_level = contract.level
                vendor_id = vendor_of[contract.ea]
        partners: list[str] = []
        if actor.is_customer:
            for grant in await accounts_db.grants_on_accounts(conn, eas=eas):
                if grant.active(today) and grant.partner not in partners:
                    partners.append(grant.partner)
        partner_orgs = await directory_db.get_organizations(conn, ids=partners)
        atcs: list[tuple[str, str]] = []
        for org_id in [actor.org.id] if actor.is_partner else partners:
            for contact in await directory_db.list_contacts(conn, org=org_id, role=Role.ATC):
                atcs.append((contact.name, contact.email))
        targets: list[tuple[int, str, str]] = []
        vendor = await directory_db.get_vendor(conn, id=vendor_id) if vendor_id else None
        if vendor is not None:
            overrides = await accounts_db.sla_overrides(conn, vendor=vendor.id)
            for severity in (1, 2, 3, 4):
                target = sla.target_for(best_level, severity, overrides)
                label = vendor.severity_label(severity)
                targets.append((severity, label, sla.describe_target(target, actor.locale)))
    base = basic_context(actor)
    return AskerContext(
        locale=base.locale,
        audience=base.audience,
        name=base.name,
        organization=base.organization,
        partner_type=base.partner_type,
        eas=eas,
        partners=tuple(partner_orgs[p].name for p in partners if p in partner_orgs),
        contract_level=best_level,
        response_targets=tuple(targets),
        atcs=tuple(atcs),
    )


async def ask(
    store: Store, catalog: FaqCatalog, actor: Actor, question: str, *, now: dt.datetime
) -> FaqReply:
    locale = actor.locale
    question = " ".join(question.split())
    if not question:
        audience = actor.kind.value
        return FaqReply(
            kind="topics",
            question="",
            topics=tuple(
                (name, tuple(entries)) for name, entries in catalog.topics(audience, locale)
            ),
        )
    result = catalog.search(question, locale=locale)
    if result.slug is None:
        reply = FaqReply(kind="none", question=question)
    elif not result.confident:
        slugs = [result.slug, *(s for s, _ in result.alternatives if s != result.slug)][:3]
        reply = FaqReply(
            kind="choices",
            question=question,
            choices=tuple((s, catalog.title(s, locale)) for s in slugs),
        )
    else:
        return await answer(store, catalog, actor, result.slug, now=now, question=question)
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
) -> FaqReply:
    personal = catalog.needs_account_data(slug, actor.locale)
    if personal:
        context = await asker_context(store, actor, today=now.date())
    else:
        context = basic_context(actor)
    text = catalog.answer(slug, actor.locale, context)
    if personal:
        # The answer shows the asker's accounts, partners or contracts: a protected read,
        # audited before the answer goes out (in a commit shared with concurrent requests).
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
        slug=slug,
        text=text,
        title=catalog.title(slug, actor.locale),
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
