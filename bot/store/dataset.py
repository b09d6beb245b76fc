"""Whole-dataset operations for the importer: the keys already stored, and emptying
every table for ``--replace``."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import OrgKind
from bot.store import tables as t


@dataclass
class Existing:
    """Keys already in the database (an import without --replace adds to them)."""

    orgs: dict[str, OrgKind] = field(default_factory=dict)
    contacts: dict[str, str] = field(default_factory=dict)  # email -> org
    accounts: dict[str, str] = field(default_factory=dict)  # ea -> customer
    license_keys: set[str] = field(default_factory=set)
    contracts: set[str] = field(default_factory=set)
    subscriptions: set[str] = field(default_factory=set)
    agreements: set[str] = field(default_factory=set)
    grants: set[tuple[str, str]] = field(default_factory=set)
    sla_targets: set[tuple[str, str, int]] = field(default_factory=set)  # vendor, level, sev
    channels: set[str] = field(default_factory=set)
    workspaces: set[str] = field(default_factory=set)
    identities: set[tuple[str, str]] = field(default_factory=set)  # (team, user)


async def existing_keys(conn: AsyncConnection, /) -> Existing:
    """Every key an import must not repeat, and every id it may refer to."""
    found = Existing()
    orgs = await conn.execute(select(t.organizations.c.id, t.organizations.c.kind))
    found.orgs = {oid: OrgKind(kind) for oid, kind in orgs.all()}
    contacts = await conn.execute(select(t.contacts.c.email, t.contacts.c.org))
    found.contacts = {email: org for email, org in contacts.all()}
    accounts = await conn.execute(select(t.accounts.c.ea, t.accounts.c.customer))
    found.accounts = {ea: customer for ea, customer in accounts.all()}
    found.license_keys = set((await conn.execute(select(t.licenses.c.key))).scalars())
    found.contracts = set((await conn.execute(select(t.contracts.c.number))).scalars())
    found.subscriptions = set((await conn.execute(select(t.subscriptions.c.id))).scalars())
    found.agreements = set((await conn.execute(select(t.agreements.c.number))).scalars())
    grants = await conn.execute(select(t.grants.c.ea, t.grants.c.partner))
    found.grants = {(ea, partner) for ea, partner in grants.all()}
    targets = select(t.sla_targets.c.vendor, t.sla_targets.c.level, t.sla_targets.c.severity)
    found.sla_targets = {(v, level, sev) for v, level, sev in (await conn.execute(targets)).all()}
    found.channels = set((await conn.execute(select(t.channels.c.channel))).scalars())
    found.workspaces = set((await conn.execute(select(t.workspaces.c.team))).scalars())
    identities = await conn.execute(select(t.slack_identities.c.team, t.slack_identities.c.user))
    found.identities = {(team, user) for team, user in identities.all()}
    return found


async def clear_all(conn: AsyncConnection, /) -> None:
    """Delete every row of every table, children first."""
    # accounts reference each other (merges): undo the links before deleting them
    await conn.execute(t.accounts.update().values(merged_into=None))
    for table in reversed(t.metadata.sorted_tables):
        await conn.execute(delete(table))
