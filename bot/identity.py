"""Who a Slack person is, and whether they may act as a contact.

A person is named by Slack as (team, user) — the team of their own workspace, or their
Enterprise Grid organization. The bot knows them as a contact in one of these ways:

- an explicit identity: declared in the dataset (``contacts[].slack``), proven with a
  one-time code sent to the contact through a workspace already known for them, or
  confirmed by an admin. It is trusted as it is;
- the email of their Slack profile, when Slack shows it (people of another company in a
  Slack Connect channel often have it hidden). A workspace's admins set its members'
  emails, so an email is trusted only where the workspace is vouched for: a workspace
  that belongs to the contact's organization (``workspaces``); the one workspace of a
  single-workspace install, whose operator runs the bot (for anyone the request does
  not show as of another team); or, for someone of a workspace no organization claims,
  a channel shared with the contact's organization.

So no one acts as a contact of an organization whose workspace or channel they are not in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from sqlalchemy.ext.asyncio import AsyncConnection

from bot import notify
from bot.access import parse_email
from bot.domain import (
    Channel,
    Contact,
    IdentityProof,
    Organization,
    OrgKind,
    Role,
    SlackIdentity,
    Workspace,
)
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.render import t
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import identities as identities_db
from bot.store import threads as threads_db
from bot.store.readmodel import remembered
from bot.visibility import Actor

USAGE_LINK = "identity.usage_link"
USAGE_WORKSPACE = "identity.usage_workspace"
CODE_LIFETIME = dt.timedelta(minutes=15)
CODE_ATTEMPTS = 5  # wrong codes before the code is void
CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read from a DM, typed back
CODE_LENGTH = 8


@dataclass(frozen=True)
class Person:
    """A Slack person as a request names them, and where the request comes from."""

    user: str
    team: str
    enterprise: str | None = None
    channel: str | None = None
    # In a single-workspace install, of the workspace the request came through (not an
    # external member of a Slack Connect channel): that workspace is the operator's own.
    at_home: bool = False


@dataclass(frozen=True)
class Identified:
    """The outcome of identifying a person: the contact, or why not (a message key)."""

    contact: Contact | None
    email: str | None = None  # the email Slack showed, if it was asked
    org: Organization | None = None  # the contact's
    refusal: str | None = (
        None  # errors.unknown_contact | identity.link_needed | identity.not_your_workspace
    )


def email_trusted(
    contact_org: str, *, workspace_org: str | None, at_home: bool, channel: Channel | None
) -> bool:
    """May a person whose Slack email is a contact's act as that contact?"""
    if workspace_org is not None:
        return workspace_org == contact_org
    if at_home:
        return True
    # Someone of another workspace in a shared channel is of the organization the
    # channel is shared with, never of the one hosting it.
    return channel is not None and contact_org == channel.org


async def workspace_org(conn: AsyncConnection, person: Person) -> str | None:
    """The organization the person's workspace (or their grid organization) belongs to."""
    for team in (person.team, person.enterprise):
        if team:
            found = await identities_db.get_workspace(conn, team=team)
            if found is not None:
                return found.org
    return None


async def _trusted(
    conn: AsyncConnection, person: Person, contact: Contact
) -> tuple[bool, bool, bool]:
    """(may act as the contact by email, the trust lasts: worth recording, the answer
    read the person's channel)."""
    home = await workspace_org(conn, person)
    channel = None
    read_channel = home is None and not person.at_home and bool(person.channel)
    if read_channel:
        channel = await threads_db.get_channel(conn, channel=str(person.channel))
    trusted = email_trusted(
        contact.org, workspace_org=home, at_home=person.at_home, channel=channel
    )
    return trusted, trusted and (home is not None or person.at_home), read_channel


async def _with_org(conn: AsyncConnection, found: Identified) -> Identified:
    if found.contact is None:
        return found
    org = await directory_db.get_organization(conn, id=found.contact.org)
    if org is None:
        return Identified(None, email=found.email, refusal="errors.unknown_contact")
    return replace(found, org=org)


async def _known(conn: AsyncConnection, person: Person) -> tuple[Identified | None, bool]:
    """(what the bot's own records say of the person — None: Slack must be asked —,
    whether that answer rests on reference data alone: a channel is not)."""
    known = await identities_db.find_identity(
        conn, team=person.team, user=person.user, enterprise=person.enterprise
    )
    if known is not None:
        contact = await directory_db.get_contact(conn, email=known.email)
        if contact is not None:
            if known.proof is not IdentityProof.EMAIL:
                return await _with_org(conn, Identified(contact)), True
            # Trusted by email: only as long as the workspace is still theirs.
            refusal = Identified(None, refusal="identity.not_your_workspace")
            return await _by_email(conn, person, contact, otherwise=refusal)
    remembered = await directory_db.get_contact_by_slack_id(conn, user_id=person.user)
    if remembered is not None:
        return await _by_email(conn, person, remembered, otherwise=None)
    return None, True


async def _by_email(
    conn: AsyncConnection, person: Person, contact: Contact, *, otherwise: Identified | None
) -> tuple[Identified | None, bool]:
    """``_known``'s answer for a person known by the email of ``contact``: the contact
    where that email is trusted, else ``otherwise``."""
    trusted, _lasting, read_channel = await _trusted(conn, person, contact)
    found = await _with_org(conn, Identified(contact)) if trusted else otherwise
    return found, not read_channel


async def identify(
    store: Store, person: Person, *, slack_email: Callable[[], Awaitable[str | None]]
) -> Identified:
    """Find the contact a Slack person is, with their organization. ``slack_email`` asks
    Slack for the email of their profile; it is called only when nothing the bot knows
    answers. What the read model alone answers is kept there for the person (a known
    person's request then costs one look-up)."""
    async with store.read() as conn:
        found, _settled = await remembered(
            ("identify", person), lambda: _known(conn, person), keep=lambda known: known[1]
        )
    if found is not None:
        return found
    email = await slack_email()
    if email is None:
        return Identified(None, refusal="identity.link_needed")
    async with store.read() as conn:
        contact = await directory_db.get_contact(conn, email=email)
        if contact is None:
            return Identified(None, email=email, refusal="errors.unknown_contact")
        trusted, lasting, _read_channel = await _trusted(conn, person, contact)
        if not trusted:
            return Identified(None, email=email, refusal="identity.not_your_workspace")
        identified = await _with_org(conn, Identified(contact, email=email))
    if lasting and identified.contact is not None:
        # Remembered: the next request needs neither Slack nor this check's reads.
        async with store.write() as conn:
            await identities_db.save_identity(
                conn,
                identity=_identity_of(person, contact.email, IdentityProof.EMAIL),
                at=None,
            )
            await directory_db.link_slack_user(conn, email=contact.email, user_id=person.user)
    return identified


def _identity_of(person: Person, email: str, proof: IdentityProof) -> SlackIdentity:
    return SlackIdentity(
        team=person.team, user=person.user, email=email, proof=proof, enterprise=person.enterprise
    )


# ------------------------------------------------------------------ /supportbot link


def _digest(code: str, person: Person) -> str:
    # Bound to the person who asked: a code is worthless typed by anyone else.
    key = f"{person.team}:{person.user}".encode()
    return hmac.new(key, code.strip().upper().encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def looks_like_code(word: str) -> bool:
    word = word.strip().upper()
    return len(word) == CODE_LENGTH and all(c in CODE_ALPHABET for c in word)


@dataclass(frozen=True)
class LinkRequest:
    """What ``/supportbot link <email>`` did. The answer is the same whether or not the
    email is a contact's (no one learns who the directory holds); ``sent`` is for logs
    and tests only."""

    email: str
    sent: bool


@dataclass(frozen=True)
class _KnownAt:
    """A Slack person the contact already is: where a one-time code goes."""

    user: str
    team: str | None = None
    enterprise: str | None = None


async def _known_elsewhere(
    conn: AsyncConnection, contact: Contact, person: Person
) -> _KnownAt | None:
    """The most recently proven identity of the contact other than the asker, else the
    Slack user a single-workspace install remembers for them."""
    for identity in await identities_db.identities_of(conn, email=contact.email):
        if (identity.team, identity.user) != (person.team, person.user):
            return _KnownAt(identity.user, identity.team, identity.enterprise)
    if contact.slack_user_id and contact.slack_user_id != person.user:
        return _KnownAt(contact.slack_user_id)
    return None


async def request_link(
    store: Store, person: Person, email_text: str, *, now: dt.datetime, locale: str
) -> LinkRequest:
    """``/supportbot link <email>``: send a one-time code to that contact, through a
    workspace already known for them, to be typed back here as ``/supportbot link <code>``.
    Also tells the admins who may confirm the link instead."""
    email = parse_email(email_text, usage=USAGE_LINK)
    async with store.write() as conn:
        contact = await directory_db.get_contact(conn, email=email)
        if contact is None:
            return LinkRequest(email=email, sent=False)
        known = await _known_elsewhere(conn, contact, person)
        code = new_code()
        await identities_db.put_link_code(
            conn,
            code=identities_db.LinkCode(
                team=person.team,
                user=person.user,
                enterprise=person.enterprise,
                email=contact.email,
                digest=_digest(code, person),
                expires_at=now + CODE_LIFETIME,
                attempts=0,
            ),
            at=now,
        )
        lang = contact.locale or locale
        if known is not None:
            await notify.to_person(
                conn,
                email=contact.email,
                slack_user_id=known.user,
                team=known.team,
                enterprise=known.enterprise,
                text=t(
                    "identity.code_dm",
                    lang,
                    code=code,
                    user=person.user,
                    team=person.team,
                    minutes=int(CODE_LIFETIME.total_seconds() // 60),
                ),
                at=now,
                kind="link_code",
            )
        for admin in await _confirming_admins(conn, contact):
            if admin.slack_user_id == person.user:
                continue  # never the person asking
            await notify.to_person(
                conn,
                email=admin.email,
                slack_user_id=admin.slack_user_id,
                text=t(
                    "identity.confirm_dm",
                    admin.locale or lang,
                    user=person.user,
                    team=person.team,
                    email=contact.email,
                    name=contact.name,
                ),
                at=now,
                kind="link_confirm",
            )
        await audit_db.record(
            conn,
            at=now,
            actor=f"slack:{person.team}:{person.user}",
            action="identity.link_requested",
            detail={"email": contact.email, "code_sent": known is not None},
        )
        return LinkRequest(email=email, sent=known is not None)


async def confirm_code(
    store: Store, person: Person, code: str, *, now: dt.datetime, locale: str
) -> str:
    """``/supportbot link <code>``: the code sent to the contact, typed by the person who
    asked for it, before it expires. Returns the answer, in the contact's language."""
    # A refusal is raised once the transaction is over: a wrong try must stay counted.
    refusal: UserError | None = None
    async with store.write() as conn:
        pending = await identities_db.get_link_code(conn, team=person.team, user=person.user)
        contact, org = None, ""
        if pending is None or pending.expires_at <= now or pending.attempts >= CODE_ATTEMPTS:
            if pending is not None:
                await identities_db.drop_link_code(conn, team=person.team, user=person.user)
            refusal = UserError("identity.no_code", usage=USAGE_LINK)
        elif not hmac.compare_digest(pending.digest, _digest(code, person)):
            await identities_db.count_link_attempt(conn, team=person.team, user=person.user)
            refusal = UserError(
                "identity.wrong_code", usage=USAGE_LINK, left=CODE_ATTEMPTS - pending.attempts - 1
            )
        else:
            contact = await directory_db.get_contact(conn, email=pending.email)
            await identities_db.drop_link_code(conn, team=person.team, user=person.user)
            if contact is None:
                refusal = NotFound("identity.no_code", usage=USAGE_LINK)
            else:
                await _link(conn, person, contact, IdentityProof.CODE, by=contact.email, now=now)
                org = await _org_name(conn, contact.org)
    if refusal is not None or contact is None:
        raise refusal or NotFound("identity.no_code", usage=USAGE_LINK)
    return t("identity.linked", contact.locale or locale, name=contact.name, org=org)


async def _link(
    conn: AsyncConnection,
    person: Person,
    contact: Contact,
    proof: IdentityProof,
    *,
    by: str,
    now: dt.datetime,
) -> None:
    await identities_db.save_identity(
        conn, identity=_identity_of(person, contact.email, proof), at=now
    )
    if contact.slack_user_id is None:
        await directory_db.link_slack_user(conn, email=contact.email, user_id=person.user)
    await audit_db.record(
        conn,
        at=now,
        actor=by,
        action="identity.linked",
        detail={"team": person.team, "user": person.user, "email": contact.email, "proof": proof},
    )


async def _confirming_admins(conn: AsyncConnection, contact: Contact) -> list[Contact]:
    """Who may confirm that a Slack person is this contact: the admins of the contact's
    own partner or vendor organization (and, for a partner, the vendors' admins); for a
    customer's contact, its superuser and the admins of its partners — never the
    contact themselves."""
    admins: list[Contact] = []
    if contact.org_kind is OrgKind.CUSTOMER:
        for account in await accounts_db.list_accounts(conn, customer=contact.org):
            if account.superuser:
                superuser = await directory_db.get_contact(conn, email=account.superuser)
                if superuser is not None:
                    admins.append(superuser)
            for grant in await accounts_db.grants_on(conn, ea=account.ea):
                admins.extend(
                    await directory_db.list_contacts(conn, org=grant.partner, role=Role.ADMIN)
                )
    else:
        admins.extend(await directory_db.list_contacts(conn, org=contact.org, role=Role.ADMIN))
    if contact.org_kind is OrgKind.PARTNER:
        # The vendors run the partner programme: how a partner's first admin is known in
        # a workspace of its own that nobody has linked yet.
        for vendor in await directory_db.list_organizations(conn, kind=OrgKind.VENDOR):
            admins.extend(await directory_db.list_contacts(conn, org=vendor.id, role=Role.ADMIN))
    return list({a.email: a for a in admins if a.email != contact.email}.values())


async def may_confirm(conn: AsyncConnection, admin: Actor, contact: Contact) -> bool:
    return admin.email in {a.email for a in await _confirming_admins(conn, contact)}


async def confirm_by_admin(
    store: Store, admin: Actor, *, team: str, user: str, now: dt.datetime
) -> Contact:
    """``/supportbot link confirm <team> <user>``: an admin vouches for a pending request."""
    async with store.write() as conn:
        pending = await identities_db.get_link_code(conn, team=team, user=user)
        if pending is None or pending.expires_at <= now:
            raise NotFound("identity.no_request", usage=USAGE_LINK, team=team, user=user)
        contact = await directory_db.get_contact(conn, email=pending.email)
        if contact is None or not await may_confirm(conn, admin, contact):
            raise Forbidden("identity.not_your_contact", email=pending.email)
        person = Person(user=user, team=team, enterprise=pending.enterprise)
        await identities_db.drop_link_code(conn, team=team, user=user)
        await _link(conn, person, contact, IdentityProof.ADMIN, by=admin.email, now=now)
        await notify.to_person(
            conn,
            email=contact.email,
            slack_user_id=user,
            team=team,
            enterprise=pending.enterprise,
            text=t("identity.linked_dm", contact.locale or admin.locale, name=contact.name),
            at=now,
            kind="link_done",
        )
        return contact


# ------------------------------------------------------------ /supportbot workspace


async def _may_link_workspace(
    conn: AsyncConnection, actor: Actor, org_id: str, today: dt.date
) -> bool:
    """An admin of the organization itself (partner or vendor), of a partner with an
    active grant on one of the customer's accounts, or of the vendor of those accounts."""
    if not actor.has(Role.ADMIN):
        return False
    if actor.org.id == org_id:
        return True
    org = await directory_db.get_organization(conn, id=org_id)
    if org is None or org.kind is not OrgKind.CUSTOMER:
        # A partner's workspace: its vendor's admins may link it too.
        return org is not None and actor.is_vendor and org.kind is OrgKind.PARTNER
    for account in await accounts_db.list_accounts(conn, customer=org_id):
        if actor.is_vendor and account.vendor == actor.org.id:
            return True
        for grant in await accounts_db.grants_on(conn, ea=account.ea):
            if grant.partner == actor.org.id and grant.active(today):
                return True
    return False


async def link_workspace(
    store: Store, actor: Actor, *, team: str, org_id: str, now: dt.datetime
) -> str:
    """``/supportbot workspace link <org-id> [<team-id>]``: this workspace (or the one
    named) belongs to that organization. Returns the answer."""
    if not team or team[0] not in "TE":
        raise UserError("identity.bad_team", usage=USAGE_WORKSPACE, value=team)
    async with store.write() as conn:
        org = await directory_db.get_organization(conn, id=org_id)
        if org is None or not await _may_link_workspace(conn, actor, org_id, now.date()):
            # The same answer for an unknown organization and for one not theirs.
            raise NotFound("identity.workspace_unknown_org", usage=USAGE_WORKSPACE, org=org_id)
        linked = t("identity.workspace_linked", actor.locale, team=team, org=org.name)
        existing = await identities_db.get_workspace(conn, team=team)
        if existing is not None:
            if existing.org == org_id:
                return linked
            current = await directory_db.get_organization(conn, id=existing.org)
            raise Conflict(
                "identity.workspace_taken",
                team=team,
                org=current.name if current else existing.org,
            )
        await identities_db.link_workspace(
            conn, workspace=Workspace(team=team, org=org_id), linked_by=actor.email, at=now
        )
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="workspace.link",
            detail={"team": team, "org": org_id},
        )
        return linked


async def unlink_workspace(store: Store, actor: Actor, *, team: str, now: dt.datetime) -> str:
    """``/supportbot workspace unlink [<team-id>]``. Returns the answer."""
    async with store.write() as conn:
        existing = await identities_db.get_workspace(conn, team=team)
        if existing is None or not await _may_link_workspace(conn, actor, existing.org, now.date()):
            raise NotFound("identity.workspace_not_linked", usage=USAGE_WORKSPACE, team=team)
        await identities_db.unlink_workspace(conn, team=team)
        await audit_db.record(
            conn,
            at=now,
            actor=actor.email,
            action="workspace.unlink",
            detail={"team": team, "org": existing.org},
        )
        return t(
            "identity.workspace_unlinked",
            actor.locale,
            team=team,
            org=await _org_name(conn, existing.org),
        )


async def workspace_status(store: Store, actor: Actor, person: Person) -> str:
    """``/supportbot workspace``: what the workspace the command is typed in belongs to."""
    async with store.read() as conn:
        org = await workspace_org(conn, person)
        name = await _org_name(conn, org) if org else None
    return t("identity.workspace_status", actor.locale, team=person.team, org=name)


async def _org_name(conn: AsyncConnection, org_id: str) -> str:
    org = await directory_db.get_organization(conn, id=org_id)
    return org.name if org is not None else org_id


# ------------------------------------------------------------------------------ doors


@dataclass(frozen=True)
class Door:
    """A workspace (or grid organization) through whose installation a message goes."""

    team: str
    enterprise: str | None = None


async def doors_to_person(conn: AsyncConnection, email: str) -> list[Door]:
    """The workspaces a contact is known in, the most recently proven first: a direct
    message to them goes through one of these installations."""
    found = await identities_db.identities_of(conn, email=email)
    return list(dict.fromkeys(Door(i.team, i.enterprise) for i in found if i.team))


async def doors_to_channel(conn: AsyncConnection, channel: str) -> list[Door]:
    """The workspaces of the organization whose workspace holds ``channel`` (the host
    of a shared channel, the owner of a queue): an installation there is a member."""
    owner = await identities_db.owner_of_channel(conn, channel=channel)
    if owner is None:
        return []
    return [
        Door(w.team, w.team if w.team.startswith("E") else None)
        for w in await identities_db.workspaces_of(conn, org=owner)
    ]
