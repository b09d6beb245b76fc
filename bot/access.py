"""Who may act on an EA, and how that changes: ``/access``.

Rules (R8 visibility, R9 notices, R10 superuser; see bot/routing.py):

- Anyone who sees an EA may read its access list, except that a partner without
  ``manage_roles`` sees only its own grant (other partners' arrangements with the
  customer are not its business).
- Access is managed by the EA's superuser, a procurement contact of the EA's customer,
  or a contact of a partner whose organization holds an active ``manage_roles`` grant on
  the EA. Such a partner is held to what it has itself: it grants only permissions it
  holds, never beyond the end date of its own grant, never to itself, and it cannot
  change or revoke the active grant of a partner holding ``manage_roles`` or permissions
  it lacks (only the customer can). ``all`` from a partner means all it holds. A partner
  may always give up its own grant.
- ``until`` must not lie in the past; an expired grant counts for nothing anywhere.
- An unknown partner id is answered "no partner <id>", without listing partners.
- A grant or revocation tells both sides: the partner's queue channel and the EA's
  superuser (a durable record even when the superuser did it), each in its language.
- ``/access register`` lets a partner ask to manage a volume agreement: the agreement
  number, authorization number and customer email must all match, else one neutral
  refusal. The customer contact gets a DM with a button to remove the partner.
- Superuser transfer (R10): the EA's superuser, a superuser/procurement contact of the
  customer, or a partner contact (for a contact of its own organization, while it holds
  an active grant) may propose a new superuser: a contact of the customer, or of a
  partner holding an active grant on the EA. The current superuser confirms or declines
  from a DM that states what the role commits them to; only they can, within
  ``CONFIRMATION_DAYS``. The decision is recorded (table ``confirmations``) and audited.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import notify, tickets
from bot.audit import record_read, refusals
from bot.blocks import accounts as account_blocks
from bot.domain import Account, Contact, Grant, Organization, OrgKind, Permission, Role
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.render import t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.text import normalize_email
from bot.visibility import AccountView, Actor, account_view

USAGE = "accounts.usage_access"
SUPERUSER_KIND = "superuser"
CONFIRMATION_DAYS = 7
ALL_PERMISSIONS = tuple(Permission)

_EMAIL_RE = re.compile(r"[^@\s<>|]+@[^@\s<>|]+\.[^@\s<>|]+")
_MAILTO_RE = re.compile(r"<mailto:([^|>]+)(?:\|[^>]*)?>")


# --- shared look-ups ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactRef:
    email: str
    name: str | None


@dataclass(frozen=True)
class PartnerAccess:
    partner: str
    name: str
    permissions: tuple[Permission, ...]
    until: dt.date | None
    active: bool


async def require_view(conn: AsyncConnection, actor: Actor, ea: str, today: dt.date) -> AccountView:
    """The actor's view of the EA; a foreign EA fails exactly like a missing one (R8)."""
    view = await account_view(conn, actor=actor, ea=ea, today=today)
    if view is None:
        raise NotFound("accounts.no_such_ea", ea=ea)
    return view


async def contact_ref(conn: AsyncConnection, email: str | None) -> ContactRef | None:
    if email is None:
        return None
    contact = await directory_db.get_contact(conn, email=email)
    return ContactRef(email=email, name=contact.name if contact else None)


def sees_all_grants(actor: Actor, view: AccountView) -> bool:
    return not actor.is_partner or view.allows(Permission.MANAGE_ROLES)


async def partner_accesses(
    conn: AsyncConnection, actor: Actor, view: AccountView, today: dt.date
) -> tuple[PartnerAccess, ...]:
    """The grants on the EA the actor may see, active ones first."""
    grants = await accounts_db.grants_on(conn, ea=view.ea)
    if not sees_all_grants(actor, view):
        grants = [g for g in grants if g.partner == actor.org.id]
    orgs = await directory_db.get_organizations(conn, ids=[g.partner for g in grants])
    found = [
        PartnerAccess(
            partner=g.partner,
            name=orgs[g.partner].name if g.partner in orgs else g.partner,
            permissions=ordered(g.permissions),
            until=g.until,
            active=g.active(today),
        )
        for g in grants
    ]
    return tuple(sorted(found, key=lambda p: (not p.active, p.name.casefold())))


def ordered(permissions: Iterable[Permission]) -> tuple[Permission, ...]:
    """Permissions in their canonical order (the order of the Permission enum)."""
    wanted = set(permissions)
    return tuple(p for p in ALL_PERMISSIONS if p in wanted)


def recipient_locale(contact: Contact | None, org: Organization | None) -> str:
    if contact is not None and contact.locale:
        return contact.locale
    return org.locale if org is not None else "en"


# --- argument parsing --------------------------------------------------------------------


def parse_permissions(words: Iterable[str]) -> tuple[Permission, ...] | None:
    """``perm,perm,…`` (spaces after commas tolerated) → permissions; ``all`` → None."""
    names = [n.strip().lower() for w in words for n in w.split(",") if n.strip()]
    if not names:
        raise UserError("parse.missing", usage=USAGE, argument="perm,perm,…|all")
    if names == ["all"]:
        return None
    found: list[Permission] = []
    for name in names:
        try:
            found.append(Permission(name))
        except ValueError:
            raise UserError(
                "accounts.bad_permission",
                usage=USAGE,
                value=name,
                permissions=[p.value for p in ALL_PERMISSIONS],
            ) from None
    return ordered(found)


def parse_email(token: str, *, usage: str = USAGE) -> str:
    """An email as typed, or as Slack sends it (``<mailto:a@b.c|a@b.c>``)."""
    value = token.strip()
    match = _MAILTO_RE.fullmatch(value)
    if match:
        value = match[1]
    if _EMAIL_RE.fullmatch(value) is None:
        raise UserError("accounts.bad_email", usage=usage, value=token)
    return normalize_email(value)


# --- /access <EA> -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessOverview:
    ea: str
    name: str
    asked_for: str | None
    customer: str
    superuser: ContactRef | None
    partners: tuple[PartnerAccess, ...]
    only_own: bool  # a partner without manage_roles sees only its own grant
    can_manage: bool


async def access_overview(
    store: Store, actor: Actor, *, ea: str, now: dt.datetime
) -> AccessOverview:
    today = now.date()
    async with (
        refusals(store, actor=actor, action="access.view", now=now, ea=ea),
        store.read() as conn,
    ):
        view = await require_view(conn, actor, ea, today)
        account = view.account
        customer = await directory_db.get_organization(conn, id=account.customer)
        partners = await partner_accesses(conn, actor, view, today)
        overview = AccessOverview(
            ea=account.ea,
            name=account.name,
            asked_for=view.asked_for,
            customer=customer.name if customer else account.customer,
            superuser=await contact_ref(conn, account.superuser),
            partners=partners,
            only_own=not sees_all_grants(actor, view),
            can_manage=manager_kind(actor, view) is not None,
        )
    await record_read(store, actor=actor, action="access.view", now=now, ea=overview.ea)
    return overview


# --- who may manage ---------------------------------------------------------------------------


def manager_kind(actor: Actor, view: AccountView) -> str | None:
    """ "customer" (no limits), "partner" (held to its own grant) or None."""
    account = view.account
    if account.superuser is not None and account.superuser == actor.email:
        return "customer"
    if actor.is_customer and actor.org.id == account.customer and actor.has(Role.PROCUREMENT):
        return "customer"
    if actor.is_partner and view.allows(Permission.MANAGE_ROLES):
        return "partner"
    return None


async def _require_manager(conn: AsyncConnection, actor: Actor, view: AccountView) -> str:
    kind = manager_kind(actor, view)
    if kind is None:
        superuser = await contact_ref(conn, view.account.superuser)
        raise Forbidden(
            "accounts.access_forbidden",
            ea=view.ea,
            superuser=(superuser.name or superuser.email) if superuser else None,
        )
    return kind


async def _partner_org(conn: AsyncConnection, partner: str) -> Organization:
    org = await directory_db.get_organization(conn, id=partner.strip().lower())
    if org is None or org.kind is not OrgKind.PARTNER:
        raise NotFound("accounts.no_such_partner", partner=partner)
    return org


def _check_peer_grant(
    actor: Actor, own: frozenset[Permission], existing: Grant | None, today: dt.date
) -> None:
    """A managing partner may not override a grant stronger than its own, nor another
    manager's: only the customer can."""
    if existing is None or not existing.active(today) or existing.partner == actor.org.id:
        return
    if Permission.MANAGE_ROLES in existing.permissions or not existing.permissions <= own:
        raise Forbidden("accounts.peer_grant_protected", partner=existing.partner, ea=existing.ea)


# --- /access grant --------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantResult:
    ea: str
    asked_for: str | None
    partner: str
    partner_name: str
    permissions: tuple[Permission, ...]
    until: dt.date | None
    previous: tuple[Permission, ...] | None  # the permissions it replaced, if any
    moved: tuple[str, ...] = ()  # tickets that left the partner (it lost file_support_requests)


async def grant_access(
    store: Store,
    actor: Actor,
    *,
    ea: str,
    partner: str,
    permissions: Iterable[Permission] | None,
    until: dt.date | None = None,
    now: dt.datetime,
) -> GrantResult:
    """Give ``partner`` the ``permissions`` (None = all the actor may give) on the EA,
    replacing any grant it held there."""
    today = now.date()
    wanted = None if permissions is None else frozenset(permissions)
    async with (
        refusals(store, actor=actor, action="access.grant", now=now, ea=ea, partner=partner),
        store.write() as conn,
    ):
        view = await require_view(conn, actor, ea, today)
        kind = await _require_manager(conn, actor, view)
        org = await _partner_org(conn, partner)
        if until is not None and until < today:
            raise UserError("accounts.until_in_past", usage=USAGE, until=until.isoformat())
        if wanted is not None and not wanted:
            raise UserError("parse.missing", usage=USAGE, argument="perm,perm,…|all")
        existing = await accounts_db.get_grant(conn, ea=view.ea, partner=org.id)
        if kind == "partner":
            if org.id == actor.org.id:
                raise Forbidden("accounts.grant_to_self", ea=view.ea)
            own = await accounts_db.get_grant(conn, ea=view.ea, partner=actor.org.id)
            assert own is not None  # manager_kind saw its active grant
            if wanted is None:
                wanted = own.permissions
            extra = wanted - own.permissions
            if extra:
                raise Forbidden(
                    "accounts.grant_exceeds_own",
                    ea=view.ea,
                    permissions=[p.value for p in ordered(extra)],
                )
            if own.until is not None:
                if until is None:
                    until = own.until
                elif until > own.until:
                    raise Forbidden(
                        "accounts.grant_beyond_own", ea=view.ea, until=own.until.isoformat()
                    )
            _check_peer_grant(actor, own.permissions, existing, today)
        granted = ordered(wanted if wanted is not None else ALL_PERMISSIONS)
        await accounts_db.upsert_grant(
            conn,
            grant=Grant(
                ea=view.ea,
                partner=org.id,
                permissions=frozenset(granted),
                until=until,
                granted_by=actor.email,
                granted_at=now,
            ),
        )
        previous = ordered(existing.permissions) if existing and existing.active(today) else None
        # The same grant again (a repeated request) changes nothing: nobody is told twice.
        unchanged = previous == granted and existing is not None and existing.until == until
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="access.grant",
            ea=view.ea,
            detail={
                "partner": org.id,
                "permissions": [p.value for p in granted],
                "until": until.isoformat() if until else None,
                "previous": [p.value for p in previous] if previous is not None else None,
            },
        )
        moved: list[str] = []
        if existing is not None and Permission.FILE_SUPPORT_REQUESTS not in granted:
            # No longer the customer's first line: its open tickets move on.
            moved = await tickets.release_partner_tickets(
                conn, ea=view.ea, partner=org.id, actor=actor, now=now
            )
        if not unchanged:
            await _tell_both_sides(
                conn,
                account=view.account,
                partner=org,
                actor=actor,
                event="granted",
                permissions=granted,
                until=until,
                now=now,
            )
    return GrantResult(
        ea=view.ea,
        asked_for=view.asked_for,
        partner=org.id,
        partner_name=org.name,
        permissions=granted,
        until=until,
        previous=previous,
        moved=tuple(moved),
    )


# --- /access revoke -------------------------------------------------------------------------


@dataclass(frozen=True)
class RevokeResult:
    ea: str
    asked_for: str | None
    partner: str
    partner_name: str
    permissions: tuple[Permission, ...]  # what it held
    moved: tuple[str, ...] = ()  # the partner's open tickets, now with another holder


async def revoke_access(
    store: Store, actor: Actor, *, ea: str, partner: str, now: dt.datetime
) -> RevokeResult:
    today = now.date()
    async with (
        refusals(store, actor=actor, action="access.revoke", now=now, ea=ea, partner=partner),
        store.write() as conn,
    ):
        view = await require_view(conn, actor, ea, today)
        kind = await _require_manager(conn, actor, view)
        org = await _partner_org(conn, partner)
        existing = await accounts_db.get_grant(conn, ea=view.ea, partner=org.id)
        if existing is None:
            raise NotFound("accounts.no_grant", partner=org.id, ea=view.ea)
        if kind == "partner":
            own = await accounts_db.get_grant(conn, ea=view.ea, partner=actor.org.id)
            assert own is not None
            _check_peer_grant(actor, own.permissions, existing, today)
        await accounts_db.delete_grant(conn, ea=view.ea, partner=org.id)
        moved = await tickets.release_partner_tickets(
            conn, ea=view.ea, partner=org.id, actor=actor, now=now
        )
        held = ordered(existing.permissions)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="access.revoke",
            ea=view.ea,
            detail={
                "partner": org.id,
                "permissions": [p.value for p in held],
                "until": existing.until.isoformat() if existing.until else None,
            },
        )
        await _tell_both_sides(
            conn,
            account=view.account,
            partner=org,
            actor=actor,
            event="revoked",
            permissions=held,
            until=None,
            now=now,
        )
    return RevokeResult(
        ea=view.ea,
        asked_for=view.asked_for,
        partner=org.id,
        partner_name=org.name,
        permissions=held,
        moved=tuple(moved),
    )


async def _tell_both_sides(
    conn: AsyncConnection,
    *,
    account: Account,
    partner: Organization,
    actor: Actor,
    event: str,
    permissions: tuple[Permission, ...],
    until: dt.date | None,
    now: dt.datetime,
) -> None:
    """R9: the partner's queue and the EA's superuser hear of every grant and revocation."""
    customer = await directory_db.get_organization(conn, id=account.customer)
    params = {
        "ea": account.ea,
        "account": account.name,
        "customer": customer.name if customer else account.customer,
        "partner": partner.name,
        "permissions": [p.value for p in permissions],
        "until": until.isoformat() if until else None,
        "by": actor.contact.name,
    }
    key = f"accounts.notify_partner_{event}"
    if partner.queue_channel:
        await notify.to_channel(
            conn,
            channel=partner.queue_channel,
            text=t(key, partner.locale, **params),
            at=now,
            kind="access",
        )
    else:  # no queue: its admins hear of it directly
        for admin in await directory_db.list_contacts(conn, org=partner.id, role=Role.ADMIN):
            await notify.to_person(
                conn,
                email=admin.email,
                slack_user_id=admin.slack_user_id,
                text=t(key, recipient_locale(admin, partner), **params),
                at=now,
                kind="access",
            )
    if account.superuser:
        superuser = await directory_db.get_contact(conn, email=account.superuser)
        locale = recipient_locale(superuser, customer)
        text = t(f"accounts.notify_superuser_{event}", locale, **params)
        blocks = None
        if event == "granted":  # R9: the customer can take it back from the message
            blocks = account_blocks.grant_notice(
                text, ea=account.ea, partner=partner.id, locale=locale
            )
        await notify.to_person(
            conn,
            email=account.superuser,
            slack_user_id=superuser.slack_user_id if superuser else None,
            text=text,
            blocks=[b.to_dict() for b in blocks] if blocks else None,
            at=now,
            kind="access",
        )


# --- /access register (volume agreements) ------------------------------------------------------


@dataclass(frozen=True)
class RegisterResult:
    agreement: str
    customer_email: str


async def register_agreement_partner(
    store: Store,
    actor: Actor,
    *,
    authorization: str,
    agreement: str,
    customer_email: str,
    now: dt.datetime,
) -> RegisterResult:
    """A partner asks to manage an agreement; the customer contact may remove it."""
    async with (
        refusals(
            store,
            actor=actor,
            action="agreement.register",
            now=now,
            agreement=agreement,
            authorization=authorization,
        ),
        store.write() as conn,
    ):
        if not actor.is_partner:
            raise Forbidden("accounts.register_partners_only")
        found = await accounts_db.get_agreement(conn, number=agreement.strip())
        if (
            found is None
            or found.authorization.casefold() != authorization.strip().casefold()
            or found.customer_email != normalize_email(customer_email)
        ):
            # One answer for every mismatch: nothing tells which part was wrong.
            raise UserError("accounts.register_refused")
        added = await accounts_db.add_agreement_partner(
            conn, number=found.number, partner=actor.org.id, requested_by=actor.email, at=now
        )
        if not added:
            raise Conflict("accounts.register_already", agreement=found.number)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="agreement.partner_registered",
            detail={"agreement": found.number, "partner": actor.org.id},
        )
        contact = await directory_db.get_contact(conn, email=found.customer_email)
        customer = await directory_db.get_organization(conn, id=found.customer)
        locale = recipient_locale(contact, customer)
        text = t(
            "accounts.notify_agreement_partner_added",
            locale,
            partner=actor.org.name,
            agreement=found.number,
            by=actor.contact.name,
        )
        blocks = account_blocks.agreement_partner_added(
            text, agreement=found.number, partner=actor.org.id, locale=locale
        )
        await notify.to_person(
            conn,
            email=found.customer_email,
            slack_user_id=contact.slack_user_id if contact else None,
            text=text,
            blocks=[b.to_dict() for b in blocks],
            at=now,
            kind="access",
        )
    return RegisterResult(agreement=found.number, customer_email=found.customer_email)


@dataclass(frozen=True)
class AgreementPartnerRemoved:
    agreement: str
    partner: str
    partner_name: str


async def remove_agreement_partner(
    store: Store, actor: Actor, *, agreement: str, partner: str, now: dt.datetime
) -> AgreementPartnerRemoved:
    """The customer removes a partner from its agreement (the DM's button)."""
    async with (
        refusals(
            store,
            actor=actor,
            action="agreement.remove_partner",
            now=now,
            agreement=agreement,
            partner=partner,
        ),
        store.write() as conn,
    ):
        found = await accounts_db.get_agreement(conn, number=agreement)
        allowed = found is not None and (
            actor.email == found.customer_email
            or (
                actor.is_customer
                and actor.org.id == found.customer
                and (actor.has(Role.SUPERUSER) or actor.has(Role.PROCUREMENT))
            )
        )
        if found is None or not allowed:
            raise NotFound("accounts.no_such_agreement", agreement=agreement)
        org = await directory_db.get_organization(conn, id=partner)
        name = org.name if org else partner
        if not await accounts_db.remove_agreement_partner(
            conn, number=found.number, partner=partner
        ):
            raise Conflict("accounts.agreement_partner_gone", partner=name, agreement=found.number)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="agreement.partner_removed",
            detail={"agreement": found.number, "partner": partner},
        )
        if org is not None and org.queue_channel:
            customer = await directory_db.get_organization(conn, id=found.customer)
            await notify.to_channel(
                conn,
                channel=org.queue_channel,
                text=t(
                    "accounts.notify_agreement_partner_removed",
                    org.locale,
                    agreement=found.number,
                    customer=customer.name if customer else found.customer,
                ),
                at=now,
                kind="access",
            )
    return AgreementPartnerRemoved(agreement=found.number, partner=partner, partner_name=name)


# --- superuser transfer (R10) ---------------------------------------------------------------


@dataclass(frozen=True)
class TransferRequested:
    ea: str
    asked_for: str | None
    confirmation_id: int
    approver: ContactRef
    candidate: ContactRef


async def _eligible(
    conn: AsyncConnection, account: Account, email: str, today: dt.date
) -> Contact | None:
    """The contact, if they may hold the EA's superuser role: a contact of the customer,
    or of a partner holding an active grant on the EA."""
    contact = await directory_db.get_contact(conn, email=email)
    if contact is None:
        return None
    if contact.org == account.customer:
        return contact
    if contact.org_kind is OrgKind.PARTNER:
        grant = await accounts_db.get_grant(conn, ea=account.ea, partner=contact.org)
        if grant is not None and grant.active(today):
            return contact
    return None


async def request_superuser_transfer(
    store: Store, actor: Actor, *, ea: str, email: str, now: dt.datetime
) -> TransferRequested:
    today = now.date()
    candidate_email = normalize_email(email)
    async with (
        refusals(
            store,
            actor=actor,
            action="superuser.request",
            now=now,
            ea=ea,
            candidate=candidate_email,
        ),
        store.write() as conn,
    ):
        view = await require_view(conn, actor, ea, today)
        account = view.account
        customer_side = account.superuser == actor.email or (
            actor.is_customer
            and actor.org.id == account.customer
            and (actor.has(Role.SUPERUSER) or actor.has(Role.PROCUREMENT))
        )
        if not customer_side and not actor.is_partner:
            raise Forbidden("accounts.superuser_request_forbidden", ea=account.ea)
        candidate = await _eligible(conn, account, candidate_email, today)
        if candidate is None or (not customer_side and candidate.org != actor.org.id):
            # Same words whether the person is unknown or just not eligible.
            raise UserError(
                "accounts.superuser_candidate_refused", ea=account.ea, email=candidate_email
            )
        if account.superuser is None:
            raise Conflict("accounts.no_superuser", ea=account.ea)
        if account.superuser == candidate.email:
            raise Conflict("accounts.already_superuser", ea=account.ea, email=candidate.email)
        for older in await accounts_db.pending_confirmations(
            conn, kind=SUPERUSER_KIND, ea=account.ea
        ):
            await accounts_db.decide_confirmation(
                conn, id=older.id, status=accounts_db.SUPERSEDED, decided_by=None, at=now
            )
        confirmation_id = await accounts_db.add_confirmation(
            conn,
            kind=SUPERUSER_KIND,
            ea=account.ea,
            requested_by=actor.email,
            approver=account.superuser,
            subject=candidate.email,
            at=now,
        )
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="superuser.requested",
            ea=account.ea,
            detail={"candidate": candidate.email, "confirmation": confirmation_id},
        )
        approver = await directory_db.get_contact(conn, email=account.superuser)
        customer = await directory_db.get_organization(conn, id=account.customer)
        candidate_org = await directory_db.get_organization(conn, id=candidate.org)
        locale = recipient_locale(approver, customer)
        text = t(
            "accounts.superuser_confirm_request",
            locale,
            ea=account.ea,
            account=account.name,
            candidate=candidate.name,
            candidate_email=candidate.email,
            candidate_org=candidate_org.name if candidate_org else candidate.org,
            by=actor.contact.name,
            days=CONFIRMATION_DAYS,
        )
        blocks = account_blocks.superuser_confirmation(
            text, confirmation_id=confirmation_id, locale=locale
        )
        await notify.to_person(
            conn,
            email=account.superuser,
            slack_user_id=approver.slack_user_id if approver else None,
            text=text,
            blocks=[b.to_dict() for b in blocks],
            at=now,
            kind="access",
        )
    return TransferRequested(
        ea=account.ea,
        asked_for=view.asked_for,
        confirmation_id=confirmation_id,
        approver=ContactRef(account.superuser, approver.name if approver else None),
        candidate=ContactRef(candidate.email, candidate.name),
    )


@dataclass(frozen=True)
class TransferDecision:
    ea: str
    outcome: str  # confirmed | declined | expired | cancelled
    candidate: ContactRef
    previous: ContactRef


async def decide_superuser_transfer(
    store: Store, actor: Actor, *, confirmation_id: int, confirm: bool, now: dt.datetime
) -> TransferDecision:
    """The current superuser's answer. Expired requests, and candidates who are no
    longer eligible (their partner's grant ended…), close without a change."""
    today = now.date()
    async with (
        refusals(
            store, actor=actor, action="superuser.decide", now=now, confirmation=confirmation_id
        ),
        store.write() as conn,
    ):
        request = await accounts_db.get_confirmation(conn, id=confirmation_id)
        account = (
            await accounts_db.get_account(conn, ea=request.ea)
            if request is not None and request.kind == SUPERUSER_KIND and request.ea
            else None
        )
        # Someone else's request reads exactly like a missing one: no EA, no names.
        if request is None or account is None or actor.email != request.approver:
            raise NotFound("accounts.no_such_confirmation")
        if request.status != accounts_db.PENDING:
            raise Conflict("accounts.confirmation_closed", ea=account.ea, status=request.status)
        if account.superuser != actor.email:  # the role moved on since the request
            raise Forbidden("accounts.only_superuser_confirms", ea=account.ea)
        candidate = await _eligible(conn, account, request.subject, today)
        if request.created_at + dt.timedelta(days=CONFIRMATION_DAYS) < now:
            outcome, status = "expired", accounts_db.EXPIRED
        elif not confirm:
            outcome, status = "declined", accounts_db.DECLINED
        elif candidate is None:
            outcome, status = "cancelled", accounts_db.CANCELLED
        else:
            outcome, status = "confirmed", accounts_db.CONFIRMED
        if not await accounts_db.decide_confirmation(
            conn, id=request.id, status=status, decided_by=actor.email, at=now
        ):
            raise Conflict("accounts.confirmation_closed", ea=account.ea, status="decided")
        if outcome == "confirmed":
            await accounts_db.set_superuser(conn, ea=account.ea, email=request.subject)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action=f"superuser.{outcome}",
            ea=account.ea,
            detail={
                "from": actor.email,
                "to": request.subject,
                "requested_by": request.requested_by,
                "confirmation": request.id,
            },
        )
        await _tell_transfer(
            conn,
            account=account,
            request_by=request.requested_by,
            candidate=request.subject,
            actor=actor,
            outcome=outcome,
            now=now,
        )
        candidate_ref = await contact_ref(conn, request.subject)
        assert candidate_ref is not None
    return TransferDecision(
        ea=account.ea,
        outcome=outcome,
        candidate=candidate_ref,
        previous=ContactRef(actor.email, actor.contact.name),
    )


async def _tell_transfer(
    conn: AsyncConnection,
    *,
    account: Account,
    request_by: str,
    candidate: str,
    actor: Actor,
    outcome: str,
    now: dt.datetime,
) -> None:
    """A confirmed transfer tells the previous and the new superuser (and whoever asked);
    any other outcome tells whoever asked."""
    people = [request_by]
    if outcome == "confirmed":
        people = [actor.email, candidate, request_by]
    customer = await directory_db.get_organization(conn, id=account.customer)
    new = await directory_db.get_contact(conn, email=candidate)
    for email in dict.fromkeys(people):
        if email == actor.email and outcome != "confirmed":
            continue  # the decider sees the outcome in place of the buttons
        contact = await directory_db.get_contact(conn, email=email)
        org = await directory_db.get_organization(conn, id=contact.org) if contact else customer
        await notify.to_person(
            conn,
            email=email,
            slack_user_id=contact.slack_user_id if contact else None,
            text=t(
                f"accounts.notify_superuser_{outcome}",
                recipient_locale(contact, org),
                ea=account.ea,
                account=account.name,
                candidate=new.name if new else candidate,
                previous=actor.contact.name,
                you_are_new=email == candidate,
            ),
            at=now,
            kind="access",
        )
