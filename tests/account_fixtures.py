"""Helpers shared by the accounts tests: actors of the demo world, outbox and audit reads."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from bot.domain import AuditEntry, License, LicenseType
from bot.errors import UserError
from bot.render import t
from bot.store import Store, tables
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import outbox as outbox_db
from bot.visibility import Actor, load_actor

# Who is who in data/demo.yml
ALICE = "alice.martin@acme.example"  # superuser of 411023871 and 411023873
BRUNO = "bruno.leroy@acme.example"  # superuser of 411023872 only
CLAIRE = "claire.dubois@acme.example"  # ACME procurement
DAVID = "david.nguyen@acme.example"  # ACME user
JEAN = "jean.morel@hexagone.example"  # another customer's superuser
GRACE = "grace.holloway@riverbank.example"  # Riverbank superuser (merged EA)
SOPHIE = "sophie.bernard@nuage.example"  # nuage admin
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
TOM = "tom.walsh@harbor.example"  # harbor agent (grant on 845512930 only)
OLIVER = "oliver.grant@harbor.example"  # harbor admin
SAM = "sam.patel@bluepeak.example"  # bluepeak admin (expired grant on 902334178)
JAKE = "jake.miller@bluepeak.example"  # bluepeak agent
PAUL = "paul.lefevre@distrilog.example"  # distrilog agent (orders of 411023871)
CAMILLE = "camille.martin@distrilog.example"  # distrilog admin
MEGAN = "megan.ford@dataforge.example"  # dataforge ATC (keys, no orders)
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
PRIYA = "priya.natarajan@microsoft.example"  # Microsoft engineer

ACME_PROD = "411023871"
ACME_DEV = "411023872"
ACME_MS = "411023873"
HEXAGONE = "507781204"
RIVERBANK = "733190462"
RIVERBANK_OLD = "733190001"
CARAVELLE = "845512930"
TIDEWATER = "902334178"
NORTHWIND = "560778123"
NOWHERE = "999999999"


async def actor(store: Store, email: str) -> Actor:
    async with store.read() as conn:
        found = await load_actor(conn, email=email, default_locale="en")
    assert found is not None, email
    return found


async def outbox(store: Store) -> list[dict[str, Any]]:
    async with store.read() as conn:
        return await outbox_db.entries(conn)


async def trail(
    store: Store, *, ea: str | None = None, ticket_id: int | None = None
) -> list[AuditEntry]:
    async with store.read() as conn:
        return await audit_db.entries(conn, ea=ea, ticket_id=ticket_id, limit=100)


async def audit_rows(store: Store) -> list[dict[str, Any]]:
    """Every audit entry, oldest first, including those tied to no EA or ticket."""
    async with store.read() as conn:
        query = select(tables.audit_entries).order_by(tables.audit_entries.c.id)
        return [dict(row) for row in (await conn.execute(query)).mappings()]


def message(error: UserError, locale: str = "en") -> str:
    """The text a user reads for an error (as the Slack layer renders it)."""
    key = error.key if "." in error.key else f"errors.{error.key}"
    return t(key, locale, **error.params)


async def add_licenses(store: Store, ea: str, count: int, *, folder: str = "Bulk") -> list[License]:
    licenses = [
        License(
            key=f"BK{i:03d}-{i:05d}-AAAAA-BBBBB-{i:05d}",
            ea=ea,
            product=f"Product {i % 3}",
            quantity=1,
            unit="CPU",
            type=LicenseType.STANDARD,
            folder=folder,
            order=f"ORD-{i}",
        )
        for i in range(count)
    ]
    async with store.write() as conn:
        await accounts_db.ensure_folder(conn, ea=ea, name=folder)
        await accounts_db.insert_licenses(conn, licenses=licenses)
    return licenses
