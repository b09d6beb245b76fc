"""Workspaces of organizations, Slack identities of contacts, one-time link codes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import IdentityProof, SlackIdentity, Workspace
from bot.store import tables as t
from bot.store.readmodel import reference_read
from bot.text import normalize_email

# --- workspaces ---------------------------------------------------------------------------


@reference_read
async def get_workspace(conn: AsyncConnection, /, *, team: str) -> Workspace | None:
    row = (
        (await conn.execute(select(t.workspaces).where(t.workspaces.c.team == team)))
        .mappings()
        .first()
    )
    return Workspace(team=row["team"], org=row["org"]) if row is not None else None


@reference_read
async def workspaces_of(conn: AsyncConnection, /, *, org: str) -> list[Workspace]:
    rows = await conn.execute(
        select(t.workspaces.c.team).where(t.workspaces.c.org == org).order_by(t.workspaces.c.team)
    )
    return [Workspace(team=team, org=org) for team in rows.scalars()]


async def link_workspace(
    conn: AsyncConnection, /, *, workspace: Workspace, linked_by: str | None, at: dt.datetime | None
) -> None:
    await conn.execute(
        insert(t.workspaces).values(
            team=workspace.team, org=workspace.org, linked_by=linked_by, linked_at=at
        )
    )


async def unlink_workspace(conn: AsyncConnection, /, *, team: str) -> None:
    await conn.execute(delete(t.workspaces).where(t.workspaces.c.team == team))


# --- identities ---------------------------------------------------------------------------


def _identity(row: RowMapping) -> SlackIdentity:
    return SlackIdentity(
        team=row["team"],
        user=row["user"],
        email=row["email"],
        proof=IdentityProof(row["proof"]),
        enterprise=row["enterprise"],
    )


@reference_read
async def find_identity(
    conn: AsyncConnection, /, *, team: str, user: str, enterprise: str | None
) -> SlackIdentity | None:
    """The identity of this Slack person: recorded under their team, or under any team
    of their Enterprise Grid organization (user ids are the organization's)."""
    where = t.slack_identities.c.team == team
    if enterprise:
        where = or_(
            where,
            t.slack_identities.c.team == enterprise,
            t.slack_identities.c.enterprise == enterprise,
        )
    rows = (
        await conn.execute(
            select(t.slack_identities).where(and_(t.slack_identities.c.user == user, where))
        )
    ).mappings()
    found = [_identity(row) for row in rows]
    # Exact team first: a grid-wide match is the fallback.
    found.sort(key=lambda identity: identity.team != team)
    return found[0] if found else None


@reference_read
async def identities_of(conn: AsyncConnection, /, *, email: str) -> list[SlackIdentity]:
    rows = (
        await conn.execute(
            select(t.slack_identities)
            .where(t.slack_identities.c.email == normalize_email(email))
            .order_by(t.slack_identities.c.linked_at.desc(), t.slack_identities.c.team)
        )
    ).mappings()
    return [_identity(row) for row in rows]


async def save_identity(
    conn: AsyncConnection, /, *, identity: SlackIdentity, at: dt.datetime | None
) -> None:
    """Record (or replace) who this Slack person is. Two first requests of one person
    may race here: the second one's row simply wins."""
    values = {
        "team": identity.team,
        "user": identity.user,
        "enterprise": identity.enterprise,
        "email": normalize_email(identity.email),
        "proof": identity.proof.value,
        "linked_at": at,
    }
    upsert = (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(
        t.slack_identities
    ).values(**values)
    await conn.execute(
        upsert.on_conflict_do_update(
            index_elements=["team", "user"],
            set_={k: v for k, v in values.items() if k not in ("team", "user")},
        )
    )


async def forget_identity(conn: AsyncConnection, /, *, team: str, user: str) -> bool:
    result = await conn.execute(
        delete(t.slack_identities)
        .where(t.slack_identities.c.team == team)
        .where(t.slack_identities.c.user == user)
    )
    return bool(result.rowcount)


# --- one-time link codes ------------------------------------------------------------------


@dataclass(frozen=True)
class LinkCode:
    team: str
    user: str
    enterprise: str | None
    email: str
    digest: str
    expires_at: dt.datetime
    attempts: int


async def put_link_code(conn: AsyncConnection, /, *, code: LinkCode, at: dt.datetime) -> None:
    """A new code for this person replaces any earlier one."""
    await conn.execute(
        delete(t.link_codes)
        .where(t.link_codes.c.team == code.team)
        .where(t.link_codes.c.user == code.user)
    )
    await conn.execute(
        insert(t.link_codes).values(
            team=code.team,
            user=code.user,
            enterprise=code.enterprise,
            email=normalize_email(code.email),
            digest=code.digest,
            created_at=at,
            expires_at=code.expires_at,
            attempts=code.attempts,
        )
    )


async def get_link_code(conn: AsyncConnection, /, *, team: str, user: str) -> LinkCode | None:
    row = (
        (
            await conn.execute(
                select(t.link_codes)
                .where(t.link_codes.c.team == team)
                .where(t.link_codes.c.user == user)
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return LinkCode(
        team=row["team"],
        user=row["user"],
        enterprise=row["enterprise"],
        email=row["email"],
        digest=row["digest"],
        expires_at=row["expires_at"],
        attempts=row["attempts"],
    )


async def count_link_attempt(conn: AsyncConnection, /, *, team: str, user: str) -> None:
    await conn.execute(
        update(t.link_codes)
        .where(t.link_codes.c.team == team)
        .where(t.link_codes.c.user == user)
        .values(attempts=t.link_codes.c.attempts + 1)
    )


async def drop_link_code(conn: AsyncConnection, /, *, team: str, user: str) -> None:
    await conn.execute(
        delete(t.link_codes).where(t.link_codes.c.team == team).where(t.link_codes.c.user == user)
    )


# --- doors: through which workspace a message reaches someone -----------------------------


async def owner_of_channel(conn: AsyncConnection, /, *, channel: str) -> str | None:
    """The organization whose workspace holds a channel the bot posts in: the partner
    hosting a shared channel, or the organization (or vendor) whose queue it is."""
    shared = (
        await conn.execute(select(t.channels.c.partner).where(t.channels.c.channel == channel))
    ).first()
    if shared is not None and shared[0]:
        return str(shared[0])
    queue = (
        await conn.execute(
            select(t.organizations.c.id).where(t.organizations.c.queue_channel == channel)
        )
    ).first()
    if queue is not None:
        return str(queue[0])
    business = (
        await conn.execute(
            select(t.vendors.c.id).where(t.vendors.c.business_queue_channel == channel)
        )
    ).first()
    return str(business[0]) if business is not None else None
