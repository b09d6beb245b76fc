"""The store's query functions, table by table: what is written comes back equal.

Runs on SQLite, and on PostgreSQL with ``SUPPORTBOT_TEST_DATABASE=postgres``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import backend
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncConnection

from bot.domain import (
    Account,
    Agreement,
    Contact,
    Contract,
    Grant,
    License,
    LicenseType,
    Organization,
    OrgKind,
    PartnerType,
    Permission,
    Queue,
    Role,
    Status,
    Subscription,
    Tier,
    Vendor,
)
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import engine as engine_module
from bot.store import outbox as outbox_db
from bot.store import tables as t
from bot.store import tickets as tickets_db

PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Toronto")

VMW = Vendor(
    id="vmw",
    name="VMware",
    queue_channel="C0VMWQ",
    business_queue_channel="C0VMWBIZ",
    severity_labels={1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"},
    timezone="Europe/Dublin",
    business_hours="mon-fri 08:00-20:00",
)
MSFT = Vendor(
    id="msft",
    name="Microsoft",
    queue_channel=None,
    business_queue_channel=None,
    severity_labels={1: "A", 2: "B", 3: "C", 4: "C"},
    timezone="UTC",
    business_hours="24x7",
)
ACME = Organization(
    id="acme",
    kind=OrgKind.CUSTOMER,
    name="Société Générale d'Acmé",
    partner_type=None,
    locale="fr",
    timezone="Europe/Paris",
    business_hours="mon-fri 09:00-18:00",
    queue_channel=None,
)
GLOBEX = Organization(
    id="globex",
    kind=OrgKind.CUSTOMER,
    name="Globex Corporation",
    partner_type=None,
    locale="en",
    timezone="America/New_York",
    business_hours="mon-fri 08:00-17:00",
    queue_channel=None,
)
PIXEL = Organization(
    id="pixel",
    kind=OrgKind.PARTNER,
    name="Pixel Cloud",
    partner_type=PartnerType.MSP,
    locale="fr",
    timezone="Europe/Paris",
    business_hours="mon-sat 07:00-21:00",
    queue_channel="C0PIXELQ",
)
NUAGE = Organization(
    id="nuage",
    kind=OrgKind.PARTNER,
    name="Nuage Informatique",
    partner_type=PartnerType.RESELLER,
    locale="fr",
    timezone="Europe/Paris",
    business_hours="mon-fri 09:00-18:00",
    queue_channel="C0NUAGEQ",
)

ALICE = Contact(
    email="alice@acme.example",
    org="acme",
    org_kind=OrgKind.CUSTOMER,
    name="Alice Martin",
    roles=frozenset({Role.SUPERUSER}),
    locale="fr",
)
BRUNO = Contact(
    email="bruno@acme.example",
    org="acme",
    org_kind=OrgKind.CUSTOMER,
    name="Bruno Leroy",
    roles=frozenset({Role.USER, Role.PROCUREMENT}),
)
GINA = Contact(
    email="gina@globex.example",
    org="globex",
    org_kind=OrgKind.CUSTOMER,
    name="Gina Globex",
    roles=frozenset({Role.SUPERUSER}),
    locale="en",
)
INES = Contact(
    email="ines@pixel.example",
    org="pixel",
    org_kind=OrgKind.PARTNER,
    name="Inès Fabre",
    roles=frozenset({Role.AGENT, Role.ATC}),
    locale="fr",
)
EOIN = Contact(
    email="eoin@vmware.example",
    org="vmw",
    org_kind=OrgKind.VENDOR,
    name="Eoin Byrne",
    roles=frozenset({Role.ENGINEER}),
    locale="en",
)

EA = "411023871"
EA_OLD = "411023870"
EA_GLOBEX = "733190462"


async def count(store: Store, table: t.Table) -> int:
    async with store.read() as conn:
        return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def seed_directory(store: Store) -> None:
    async with store.write() as conn:
        await directory_db.insert_vendor(conn, vendor=VMW)
        await directory_db.insert_vendor(conn, vendor=MSFT)
        for org in (ACME, GLOBEX, PIXEL, NUAGE):
            await directory_db.insert_organization(conn, org=org)
        for contact in (ALICE, BRUNO, GINA, INES, EOIN):
            await directory_db.insert_contact(conn, contact=contact)


async def seed_accounts(store: Store) -> None:
    await seed_directory(store)
    async with store.write() as conn:
        await accounts_db.insert_account(
            conn,
            account=Account(
                ea=EA, vendor="vmw", customer="acme", name="ACME Prod", superuser=ALICE.email
            ),
        )
        await accounts_db.insert_account(
            conn,
            account=Account(
                ea=EA_OLD, vendor="vmw", customer="acme", name="ACME Old", superuser=None
            ),
        )
        await accounts_db.insert_account(
            conn,
            account=Account(
                ea=EA_GLOBEX,
                vendor="msft",
                customer="globex",
                name="Globex",
                superuser=GINA.email,
            ),
        )


# --- the engine ---------------------------------------------------------------------------


async def test_fresh_store_is_empty_and_at_the_newest_revision(store: Store) -> None:
    from alembic.script import ScriptDirectory

    from bot.store.engine import alembic_config

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await store.is_empty()
    assert await store.schema_revision() == head
    await store.migrate()  # a second migration is a no-op
    assert await store.schema_revision() == head
    await seed_directory(store)
    assert not await store.is_empty()


async def test_a_failed_write_transaction_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError):
        async with store.write() as conn:
            await directory_db.insert_organization(conn, org=ACME)
            raise RuntimeError("boom")
    assert await count(store, t.organizations) == 0


sqlite_only = pytest.mark.skipif(backend() != "sqlite", reason="SQLite's writing connection")


@sqlite_only
async def test_writes_share_one_inline_connection_kept_after_a_failure_not_a_cancel(
    store: Store,
) -> None:
    """SQLite: one process writes one transaction at a time, on one connection it keeps
    checked out, whose statements run on the event loop's thread. A write that failed
    was rolled back, and the connection serves the next one; a cancelled one is given
    up, and the next write takes another."""

    async def writer() -> AsyncConnection:
        async with store.write() as conn:
            return conn

    first = await writer()
    assert await writer() is first
    driver = (await first.get_raw_connection()).driver_connection
    assert driver.inline
    async with store.read() as conn:  # reads still go through the driver's thread
        await conn.execute(select(func.count()).select_from(t.organizations))
        assert not (await conn.get_raw_connection()).driver_connection.inline
    with pytest.raises(RuntimeError):
        async with store.write() as conn:
            await directory_db.insert_organization(conn, org=ACME)
            raise RuntimeError("boom")
    assert await writer() is first
    assert await count(store, t.organizations) == 0

    started = asyncio.Event()

    async def cancelled_write() -> None:
        async with store.write() as conn:
            await directory_db.insert_organization(conn, org=ACME)
            started.set()
            await asyncio.sleep(30)

    task = asyncio.create_task(cancelled_write())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    fresh = await writer()
    assert fresh is not first and first.invalidated
    async with store.write() as conn:
        await directory_db.insert_organization(conn, org=ACME)
    assert await count(store, t.organizations) == 1


@sqlite_only
async def test_a_write_waits_for_another_process_s_write_without_holding_up_the_loop(
    store: Store,
) -> None:
    """Another connection (another process) holds the write lock: the bot's write
    waits for it in the driver's thread, while the event loop goes on serving."""
    other = sqlite3.connect(store.url.database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with store.write() as conn:
            await directory_db.insert_organization(conn, org=ACME)

    beat = asyncio.create_task(ticker())
    writing = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    assert not writing.done()
    assert ticks >= 10  # the loop kept turning while the write waited
    other.execute("COMMIT")
    other.close()
    await asyncio.wait_for(writing, 10)
    beat.cancel()
    async with store.read() as conn:
        assert await directory_db.get_organization(conn, id=ACME.id) is not None


@sqlite_only
async def test_the_wal_is_checkpointed_off_the_loop_every_so_many_writes(
    store: Store, tmp_path, monkeypatch
) -> None:
    """The writing connection's commits leave the WAL as it is; every so many writes,
    the store copies it into the database file in a thread."""
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_WRITES", 3)
    async with store.write() as conn:
        await directory_db.insert_organization(conn, org=ACME)

    def in_database_file_alone() -> bool:
        # The database file without its WAL: what was checkpointed into it.
        copy = tmp_path / "alone.db"
        copy.write_bytes(Path(store.url.database).read_bytes())
        found = sqlite3.connect(copy).execute(
            "SELECT count(*) FROM organizations WHERE id = ?", (ACME.id,)
        )
        return bool(found.fetchone()[0])

    assert not in_database_file_alone()
    for org in (GLOBEX, PIXEL):
        async with store.write() as conn:
            await directory_db.insert_organization(conn, org=org)
    assert store._checkpoint is not None
    await store._checkpoint
    assert in_database_file_alone()


@sqlite_only
async def test_a_checkpoint_left_behind_by_an_ended_loop_does_not_stop_the_next_ones(
    store: Store, monkeypatch
) -> None:
    """A CLI command or a test may run several event loops, one after another: one that
    ended with its checkpoint still pending must not keep the next loop from its own."""
    monkeypatch.setattr(engine_module, "CHECKPOINT_EVERY_WRITES", 2)
    ended = asyncio.new_event_loop()
    try:
        store._checkpoint = ended.create_future()  # type: ignore[assignment]
        for org in (ACME, GLOBEX):
            async with store.write() as conn:
                await directory_db.insert_organization(conn, org=org)
        checkpoint = store._checkpoint
        assert checkpoint is not None and checkpoint.get_loop() is asyncio.get_running_loop()
        await checkpoint
    finally:
        ended.close()


# --- organizations, vendors, contacts -------------------------------------------------------


async def test_organizations_round_trip(store: Store) -> None:
    await seed_directory(store)
    async with store.read() as conn:
        assert await directory_db.get_organization(conn, id="acme") == ACME
        assert await directory_db.get_organization(conn, id="pixel") == PIXEL
        assert await directory_db.get_organization(conn, id="nobody") is None
        assert await directory_db.get_organizations(conn, ids=["acme", "pixel", "nobody"]) == {
            "acme": ACME,
            "pixel": PIXEL,
        }
        assert await directory_db.get_organizations(conn, ids=[]) == {}
        partners = await directory_db.list_organizations(conn, kind=OrgKind.PARTNER)
        customers = await directory_db.list_organizations(conn, kind=OrgKind.CUSTOMER)
        everyone = await directory_db.list_organizations(conn)
    assert partners == [NUAGE, PIXEL]
    assert customers == [ACME, GLOBEX]
    assert [o.id for o in everyone] == ["acme", "globex", "msft", "nuage", "pixel", "vmw"]


async def test_organization_names_are_found_without_case_or_accents(store: Store) -> None:
    await seed_directory(store)
    async with store.read() as conn:
        found = await directory_db.find_organizations_by_name(
            conn, text="GENERALE d'acme", kind=OrgKind.CUSTOMER
        )
        assert found == [ACME]
        # Wildcards typed by a user are plain characters.
        assert (
            await directory_db.find_organizations_by_name(conn, text="%", kind=OrgKind.CUSTOMER)
            == []
        )
        # The kind filters: a partner's name is not a customer.
        assert (
            await directory_db.find_organizations_by_name(conn, text="pixel", kind=OrgKind.CUSTOMER)
            == []
        )


async def test_organization_with_a_name_that_folds_longer_than_its_column(store: Store) -> None:
    # "½" folds to three characters: the folded copy must still fit its column.
    org = Organization(
        id="halves",
        kind=OrgKind.CUSTOMER,
        name="½" * 200,
        partner_type=None,
        locale="en",
        timezone="UTC",
        business_hours="24x7",
        queue_channel=None,
    )
    async with store.write() as conn:
        await directory_db.insert_organization(conn, org=org)
    async with store.read() as conn:
        assert await directory_db.get_organization(conn, id="halves") == org


async def test_vendors_round_trip(store: Store) -> None:
    await seed_directory(store)
    async with store.read() as conn:
        assert await directory_db.get_vendor(conn, id="vmw") == VMW
        assert await directory_db.get_vendor(conn, id="msft") == MSFT
        assert await directory_db.get_vendor(conn, id="acme") is None
        assert await directory_db.list_vendors(conn) == [MSFT, VMW]
        as_org = await directory_db.get_organization(conn, id="vmw")
    assert as_org is not None
    assert as_org.kind is OrgKind.VENDOR
    assert as_org.queue_channel == "C0VMWQ"
    assert MSFT.severity_label(4) == "C"


async def test_contacts_round_trip(store: Store) -> None:
    await seed_directory(store)
    async with store.read() as conn:
        for contact in (ALICE, BRUNO, GINA, INES, EOIN):
            assert await directory_db.get_contact(conn, email=contact.email) == contact
        assert await directory_db.get_contact(conn, email="nobody@acme.example") is None
        assert await directory_db.get_contacts(
            conn, emails=[ALICE.email, EOIN.email, "nobody@x.example"]
        ) == {ALICE.email: ALICE, EOIN.email: EOIN}
        assert await directory_db.list_contacts(conn, org="acme") == [ALICE, BRUNO]
        assert await directory_db.list_contacts(conn, org="acme", role=Role.USER) == [BRUNO]
        assert await directory_db.list_contacts(conn, role=Role.SUPERUSER) == [ALICE, GINA]
        everyone = await directory_db.list_contacts(conn)
    assert [c.name for c in everyone] == sorted(c.name for c in everyone)
    assert len(everyone) == 5


async def test_contact_emails_are_case_insensitive(store: Store) -> None:
    await seed_directory(store)
    async with store.write() as conn:
        await directory_db.insert_contact(
            conn,
            contact=Contact(
                email="  Claire.Dubois@ACME.Example ",
                org="acme",
                org_kind=OrgKind.CUSTOMER,
                name="Claire Dubois",
                roles=frozenset({Role.PROCUREMENT}),
            ),
        )
    async with store.read() as conn:
        claire = await directory_db.get_contact(conn, email="CLAIRE.DUBOIS@acme.example")
        by_batch = await directory_db.get_contacts(conn, emails=["claire.dubois@Acme.Example"])
    assert claire is not None
    assert claire.email == "claire.dubois@acme.example"
    assert by_batch == {"claire.dubois@acme.example": claire}
    # The same person in another case is the same key: refused.
    with pytest.raises(IntegrityError):
        async with store.write() as conn:
            await directory_db.insert_contact(
                conn, contact=Contact(**{**ALICE.__dict__, "email": "ALICE@acme.example"})
            )
    assert await count(store, t.contacts) == 6


async def test_slack_user_link_moves_between_contacts(store: Store) -> None:
    await seed_directory(store)
    async with store.write() as conn:
        assert await directory_db.link_slack_user(conn, email="ALICE@acme.example", user_id="U1")
    async with store.read() as conn:
        alice = await directory_db.get_contact_by_slack_id(conn, user_id="U1")
    assert alice is not None
    assert alice.email == ALICE.email
    assert alice.slack_user_id == "U1"

    # The same Slack user now turns out to be Bruno: the id leaves Alice.
    async with store.write() as conn:
        assert await directory_db.link_slack_user(conn, email=BRUNO.email, user_id="U1")
    async with store.read() as conn:
        found = await directory_db.get_contact_by_slack_id(conn, user_id="U1")
        alice_after = await directory_db.get_contact(conn, email=ALICE.email)
    assert found is not None
    assert found.email == BRUNO.email
    assert alice_after is not None
    assert alice_after.slack_user_id is None

    # Linking again to the same contact changes nothing.
    async with store.write() as conn:
        assert await directory_db.link_slack_user(conn, email=BRUNO.email, user_id="U1")
    # An email no contact has links nothing and unlinks nobody.
    async with store.write() as conn:
        assert not await directory_db.link_slack_user(
            conn, email="stranger@acme.example", user_id="U1"
        )
    async with store.read() as conn:
        still = await directory_db.get_contact_by_slack_id(conn, user_id="U1")
        assert await directory_db.get_contact_by_slack_id(conn, user_id="U404") is None
    assert still is not None
    assert still.email == BRUNO.email


async def test_contact_locale_changes(store: Store) -> None:
    await seed_directory(store)
    async with store.write() as conn:
        await directory_db.set_contact_locale(conn, email="Bruno@acme.example", locale="en")
    async with store.read() as conn:
        bruno = await directory_db.get_contact(conn, email=BRUNO.email)
    assert bruno is not None
    assert bruno.locale == "en"


# --- accounts ------------------------------------------------------------------------------


async def test_accounts_round_trip_with_merges_and_superuser_change(store: Store) -> None:
    await seed_accounts(store)
    prod = Account(ea=EA, vendor="vmw", customer="acme", name="ACME Prod", superuser=ALICE.email)
    async with store.read() as conn:
        assert await accounts_db.get_account(conn, ea=EA) == prod
        assert await accounts_db.get_account(conn, ea="999999999") is None
        assert [a.ea for a in await accounts_db.list_accounts(conn)] == [EA_OLD, EA, EA_GLOBEX]

    async with store.write() as conn:
        await accounts_db.set_merged_into(conn, ea=EA_OLD, merged_into=EA)
        await accounts_db.set_superuser(conn, ea=EA, email="BRUNO@acme.example")
    async with store.read() as conn:
        old = await accounts_db.get_account(conn, ea=EA_OLD)
        assert old is not None
        assert old.merged_into == EA
        assert await accounts_db.get_account(conn, ea=EA) == Account(
            ea=EA, vendor="vmw", customer="acme", name="ACME Prod", superuser=BRUNO.email
        )
        assert [a.ea for a in await accounts_db.list_accounts(conn, customer="acme")] == [EA]
        merged_too = await accounts_db.list_accounts(conn, customer="acme", include_merged=True)
        assert [a.ea for a in merged_too] == [EA_OLD, EA]
        assert [a.ea for a in await accounts_db.list_accounts(conn, vendor="msft")] == [EA_GLOBEX]
        assert [
            a.ea for a in await accounts_db.list_accounts(conn, customers=["acme", "globex"])
        ] == [EA, EA_GLOBEX]
        assert [a.ea for a in await accounts_db.list_accounts(conn, eas=[EA_GLOBEX, "1"])] == [
            EA_GLOBEX
        ]
        assert set(await accounts_db.get_accounts(conn, eas=[EA, EA_OLD, "000000000"])) == {
            EA,
            EA_OLD,
        }
        assert await accounts_db.get_accounts(conn, eas=[]) == {}
        assert await accounts_db.accounts_of_superuser(conn, email=ALICE.email) == []
        assert [
            a.ea for a in await accounts_db.accounts_of_superuser(conn, email="Bruno@ACME.example")
        ] == [EA]

    # A merge can be undone.
    async with store.write() as conn:
        await accounts_db.set_merged_into(conn, ea=EA_OLD, merged_into=None)
    async with store.read() as conn:
        assert len(await accounts_db.list_accounts(conn, customer="acme")) == 2


async def test_an_account_needs_a_known_vendor_customer_and_superuser(store: Store) -> None:
    await seed_directory(store)
    for account in (
        Account(ea=EA, vendor="nope", customer="acme", name="x", superuser=None),
        Account(ea=EA, vendor="vmw", customer="nope", name="x", superuser=None),
        Account(ea=EA, vendor="vmw", customer="acme", name="x", superuser="ghost@acme.example"),
    ):
        with pytest.raises(IntegrityError):
            async with store.write() as conn:
                await accounts_db.insert_account(conn, account=account)
    assert await count(store, t.accounts) == 0


# --- grants --------------------------------------------------------------------------------


async def test_grants_upsert_replace_delete_and_expire(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    today = now.date()
    first = Grant(
        ea=EA,
        partner="pixel",
        permissions=frozenset({Permission.VIEW_LICENSE_KEYS, Permission.FILE_SUPPORT_REQUESTS}),
        until=today + dt.timedelta(days=30),
        granted_by=ALICE.email,
        granted_at=now,
    )
    expired = Grant(
        ea=EA_GLOBEX,
        partner="pixel",
        permissions=frozenset({Permission.VIEW_ORDERS_CONTRACTS}),
        until=today - dt.timedelta(days=1),
    )
    forever = Grant(ea=EA, partner="nuage", permissions=frozenset(Permission))
    async with store.write() as conn:
        for grant in (first, expired, forever):
            await accounts_db.upsert_grant(conn, grant=grant)
    async with store.read() as conn:
        assert await accounts_db.get_grant(conn, ea=EA, partner="pixel") == first
        assert await accounts_db.get_grant(conn, ea=EA_GLOBEX, partner="nuage") is None
        assert await accounts_db.grants_on(conn, ea=EA) == [forever, first]
        assert await accounts_db.grants_of_partner(conn, partner="pixel") == [first, expired]
        assert await accounts_db.grants_of_partner(conn, partner="pixel", active_on=today) == [
            first
        ]
        # The last day of a grant still counts.
        assert await accounts_db.grants_of_partner(
            conn, partner="pixel", active_on=today - dt.timedelta(days=1)
        ) == [first, expired]
        assert await accounts_db.grants_of_partner(
            conn, partner="nuage", active_on=dt.date(2999, 1, 1)
        ) == [forever]
    assert first.allows(Permission.VIEW_LICENSE_KEYS, today)
    assert not expired.active(today)

    replaced = Grant(
        ea=EA,
        partner="pixel",
        permissions=frozenset({Permission.MANAGE_ROLES}),
        until=None,
        granted_by=BRUNO.email,
        granted_at=now + dt.timedelta(hours=1),
    )
    async with store.write() as conn:
        await accounts_db.upsert_grant(conn, grant=replaced)
    async with store.read() as conn:
        assert await accounts_db.get_grant(conn, ea=EA, partner="pixel") == replaced
    assert await count(store, t.grants) == 3

    async with store.write() as conn:
        assert await accounts_db.delete_grant(conn, ea=EA, partner="pixel")
        assert not await accounts_db.delete_grant(conn, ea=EA, partner="pixel")
    async with store.read() as conn:
        assert await accounts_db.get_grant(conn, ea=EA, partner="pixel") is None
        assert await accounts_db.grants_on(conn, ea=EA) == [forever]


# --- folders and licenses ------------------------------------------------------------------


def lic(key: str, product: str, **changes: object) -> License:
    values: dict[str, object] = {
        "key": key,
        "ea": EA,
        "product": product,
        "quantity": 4,
        "unit": "CPU",
        "type": LicenseType.STANDARD,
        "folder": "Home",
        "order": "4500000001",
        "sold_by": "pixel",
        "expires": None,
    }
    values.update(changes)
    return License(**values)  # type: ignore[arg-type]


async def test_folders_are_created_once(store: Store) -> None:
    await seed_accounts(store)
    async with store.write() as conn:
        for name in ("Home", "Lab", "Home", "Archive"):
            await accounts_db.ensure_folder(conn, ea=EA, name=name)
        await accounts_db.ensure_folder(conn, ea=EA_GLOBEX, name="Home")
    async with store.read() as conn:
        assert await accounts_db.list_folders(conn, ea=EA) == ["Archive", "Home", "Lab"]
        assert await accounts_db.list_folders(conn, ea=EA_GLOBEX) == ["Home"]
        assert await accounts_db.list_folders(conn, ea=EA_OLD) == []
    assert await count(store, t.folders) == 4


async def test_licenses_round_trip_filters_and_pages(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    today = now.date()
    licenses = [
        lic("AAAAA-00001", "vSphere Enterprise Plus", quantity=16),
        lic("AAAAA-00002", "vCenter Server Standard", unit="instance", quantity=1),
        lic("AAAAA-00003", "Horizon Enterprise", folder="Desktops", unit="user", quantity=150),
        lic("AAAAA-00004", "vSphere Standard", type=LicenseType.NFR, folder="Lab", sold_by=None),
        lic("AAAAA-00005", "NSX 100%_Advanced", type=LicenseType.EVAL, expires=today),
        lic("AAAAA-00006", "vSAN Enterprise", expires=today + dt.timedelta(days=90), order=None),
        lic("BBBBB-00001", "Windows Server", ea=EA_GLOBEX, sold_by="nuage", unit="core"),
    ]
    async with store.write() as conn:
        await accounts_db.insert_licenses(conn, licenses=licenses)
        await accounts_db.insert_licenses(conn, licenses=[])
    ordered = sorted(
        (x for x in licenses if x.ea == EA), key=lambda x: (x.folder, x.product, x.key)
    )
    async with store.read() as conn:
        everything = await accounts_db.list_licenses(conn, ea=EA)
        assert everything == ordered
        # Product: a part of the name, whatever its case.
        assert {x.key for x in await accounts_db.list_licenses(conn, ea=EA, product="SPHERE")} == {
            "AAAAA-00001",
            "AAAAA-00004",
        }
        # LIKE wildcards in the text are matched literally.
        assert [x.key for x in await accounts_db.list_licenses(conn, ea=EA, product="100%_a")] == [
            "AAAAA-00005"
        ]
        assert await accounts_db.list_licenses(conn, ea=EA, product="s%a") == []
        assert await accounts_db.list_licenses(conn, ea=EA, product="v_ph") == []
        assert [
            x.key for x in await accounts_db.list_licenses(conn, ea=EA, type=LicenseType.NFR)
        ] == ["AAAAA-00004"]
        assert [x.key for x in await accounts_db.list_licenses(conn, ea=EA, folder="Desktops")] == [
            "AAAAA-00003"
        ]
        in_two = await accounts_db.list_licenses(conn, ea=EA, folders=["Lab", "Desktops"])
        assert [x.key for x in in_two] == ["AAAAA-00003", "AAAAA-00004"]
        assert await accounts_db.list_licenses(
            conn, ea=EA, product="vsphere", type=LicenseType.STANDARD, folder="Home"
        ) == [licenses[0]]
        # Pages of two, in display order, cover everything exactly once.
        pages = [
            await accounts_db.list_licenses(conn, ea=EA, offset=offset, limit=2)
            for offset in range(0, 8, 2)
        ]
        assert [len(p) for p in pages] == [2, 2, 2, 0]
        assert [x for page in pages for x in page] == ordered
        assert await accounts_db.count_licenses_by_type(conn, ea=EA) == {
            LicenseType.STANDARD: 4,
            LicenseType.NFR: 1,
            LicenseType.EVAL: 1,
        }
        assert await accounts_db.count_licenses_by_type(conn, ea=EA_OLD) == {}
        # Expiring: both ends of the window count, keys without expiry never do.
        expiring = await accounts_db.licenses_expiring(
            conn, eas=[EA, EA_GLOBEX], start=today, end=today + dt.timedelta(days=90)
        )
        assert [x.key for x in expiring] == ["AAAAA-00005", "AAAAA-00006"]
        assert (
            await accounts_db.licenses_expiring(
                conn, eas=[EA], start=today + dt.timedelta(days=1), end=today + dt.timedelta(89)
            )
            == []
        )
        assert await accounts_db.licenses_of_product(conn, ea=EA, product="VSPHERE STANDARD") == [
            licenses[3]
        ]
        assert await accounts_db.products_of(conn, ea=EA_GLOBEX) == ["Windows Server"]
        assert len(await accounts_db.products_of(conn, ea=EA)) == 6


async def test_license_keys_are_unique(store: Store) -> None:
    await seed_accounts(store)
    async with store.write() as conn:
        await accounts_db.insert_licenses(conn, licenses=[lic("KEY-1", "vSphere")])
    with pytest.raises(IntegrityError):
        async with store.write() as conn:
            await accounts_db.insert_licenses(
                conn, licenses=[lic("KEY-2", "vSAN"), lic("KEY-1", "vSphere", ea=EA_GLOBEX)]
            )
    assert await count(store, t.licenses) == 1


# --- contracts, subscriptions ----------------------------------------------------------------


async def test_contracts_round_trip_and_ending_window(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    today = now.date()
    soon = Contract(
        number="SNS-1",
        ea=EA,
        level="production",
        starts=dt.date(2025, 1, 1),
        ends=today + dt.timedelta(days=60),
        products=("vSphere Enterprise Plus", "vCenter Server Standard"),
    )
    later = Contract(
        number="SNS-2",
        ea=EA,
        level="basic",
        starts=dt.date(2026, 1, 1),
        ends=today + dt.timedelta(days=400),
        products=(),
    )
    other = Contract(
        number="SA-1",
        ea=EA_GLOBEX,
        level="saas",
        starts=dt.date(2026, 1, 1),
        ends=today,
        products=("Microsoft 365 E3",),
    )
    async with store.write() as conn:
        for contract in (soon, later, other):
            await accounts_db.insert_contract(conn, contract=contract)
    async with store.read() as conn:
        assert await accounts_db.contracts_on(conn, ea=EA) == [later, soon]
        assert await accounts_db.contracts_on(conn, ea=EA_OLD) == []
        assert await accounts_db.contracts_ending(
            conn, eas=[EA, EA_GLOBEX], start=today, end=today + dt.timedelta(days=90)
        ) == [other, soon]
        assert (
            await accounts_db.contracts_ending(
                conn, eas=[EA], start=today, end=today + dt.timedelta(days=59)
            )
            == []
        )
    assert soon.active(today)
    assert soon.covers("VSPHERE enterprise plus")
    assert not soon.covers("Horizon")


async def test_subscriptions_round_trip_and_ending_window(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    today = now.date()
    cloud = Subscription(
        id="SUB-1",
        ea=EA,
        service="VMware Cloud on AWS",
        seller="pixel",
        quantity=3,
        ends=today + dt.timedelta(days=10),
        contract_code="CC-1",
    )
    open_ended = Subscription(
        id="SUB-2", ea=EA, service="VMware Cloud DR", seller="vmw", quantity=20, ends=None
    )
    async with store.write() as conn:
        await accounts_db.insert_subscription(conn, subscription=cloud)
        await accounts_db.insert_subscription(conn, subscription=open_ended)
    async with store.read() as conn:
        assert await accounts_db.subscriptions_on(conn, ea=EA) == [cloud, open_ended]
        assert await accounts_db.subscriptions_ending(
            conn, eas=[EA], start=today, end=today + dt.timedelta(days=10)
        ) == [cloud]
        assert (
            await accounts_db.subscriptions_ending(
                conn, eas=[EA], start=today, end=today + dt.timedelta(days=9)
            )
            == []
        )


# --- agreements ------------------------------------------------------------------------------


async def test_agreements_with_benefits_admins_and_partners(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    agreement = Agreement(
        number="V4471203",
        authorization="AUTH-11930427",
        vendor="msft",
        customer="acme",
        customer_email="Bruno@ACME.example",
        benefits=("training_vouchers", "home_use_program", "training_vouchers"),
        benefit_admins=("ALICE@acme.example", "bruno@acme.example", "alice@acme.example"),
    )
    async with store.write() as conn:
        await accounts_db.insert_agreement(conn, agreement=agreement)
    expected = Agreement(
        number="V4471203",
        authorization="AUTH-11930427",
        vendor="msft",
        customer="acme",
        customer_email="bruno@acme.example",
        benefits=("home_use_program", "training_vouchers"),
        benefit_admins=(ALICE.email, BRUNO.email),
    )
    async with store.read() as conn:
        assert await accounts_db.get_agreement(conn, number="V4471203") == expected
        assert await accounts_db.get_agreement(conn, number="V0") is None
        assert await accounts_db.agreements_of(conn, customer="acme") == [expected]
        assert await accounts_db.agreements_of(conn, customer="globex") == []

    async with store.write() as conn:
        assert await accounts_db.add_agreement_partner(
            conn, number="V4471203", partner="pixel", requested_by="INES@pixel.example", at=now
        )
        assert not await accounts_db.add_agreement_partner(
            conn, number="V4471203", partner="pixel", requested_by=INES.email, at=now
        )
        assert await accounts_db.add_agreement_partner(
            conn, number="V4471203", partner="nuage", requested_by=INES.email, at=now
        )
    async with store.read() as conn:
        with_partners = await accounts_db.get_agreement(conn, number="V4471203")
    assert with_partners is not None
    assert with_partners.partners == ("nuage", "pixel")

    async with store.write() as conn:
        assert await accounts_db.remove_agreement_partner(conn, number="V4471203", partner="pixel")
        assert not await accounts_db.remove_agreement_partner(
            conn, number="V4471203", partner="pixel"
        )
    async with store.read() as conn:
        after = await accounts_db.get_agreement(conn, number="V4471203")
    assert after is not None
    assert after.partners == ("nuage",)
    assert await count(store, t.agreement_partners) == 1


async def test_sla_target_overrides(store: Store) -> None:
    await seed_directory(store)
    async with store.write() as conn:
        await accounts_db.insert_sla_target(
            conn, vendor="msft", level="production", severity=1, minutes=60
        )
        await accounts_db.insert_sla_target(
            conn, vendor="msft", level="premier", severity=1, minutes=15
        )
        await accounts_db.insert_sla_target(
            conn, vendor="msft", level="production", severity=4, minutes=240
        )
    async with store.read() as conn:
        assert await accounts_db.sla_overrides(conn, vendor="msft") == {
            ("production", 1): 60,
            ("production", 4): 240,
            ("premier", 1): 15,
        }
        assert await accounts_db.sla_overrides(conn, vendor="vmw") == {}
    with pytest.raises(IntegrityError):
        async with store.write() as conn:
            await accounts_db.insert_sla_target(
                conn, vendor="msft", level="production", severity=1, minutes=30
            )


async def test_customers_found_by_contact_domain(store: Store) -> None:
    await seed_directory(store)
    async with store.read() as conn:
        assert await accounts_db.customers_with_contact_domain(conn, domain="ACME.example") == [
            "acme"
        ]
        # Partners' and vendors' domains are not customers; a suffix is not a domain.
        assert await accounts_db.customers_with_contact_domain(conn, domain="pixel.example") == []
        assert await accounts_db.customers_with_contact_domain(conn, domain="cme.example") == []
        assert await accounts_db.customers_with_contact_domain(conn, domain="%") == []


async def test_confirmations_are_decided_once(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    async with store.write() as conn:
        first = await accounts_db.add_confirmation(
            conn,
            kind="superuser",
            ea=EA,
            requested_by="INES@pixel.example",
            approver="Alice@acme.example",
            subject=INES.email,
            at=now,
        )
        second = await accounts_db.add_confirmation(
            conn,
            kind="superuser",
            ea=EA,
            requested_by=INES.email,
            approver=ALICE.email,
            subject=BRUNO.email,
            at=now,
        )
    async with store.read() as conn:
        got = await accounts_db.get_confirmation(conn, id=first)
        assert got == accounts_db.Confirmation(
            id=first,
            kind="superuser",
            ea=EA,
            requested_by=INES.email,
            approver=ALICE.email,
            subject=INES.email,
            created_at=now,
            status=accounts_db.PENDING,
        )
        assert got is not None
        assert got.created_at.tzinfo is not None
        pending = await accounts_db.pending_confirmations(conn, kind="superuser", ea=EA)
        assert [c.id for c in pending] == [first, second]
        assert await accounts_db.get_confirmation(conn, id=first + second + 100) is None

    later = now + dt.timedelta(minutes=5)
    async with store.write() as conn:
        assert await accounts_db.decide_confirmation(
            conn, id=first, status=accounts_db.CONFIRMED, decided_by="ALICE@acme.example", at=later
        )
        assert not await accounts_db.decide_confirmation(
            conn, id=first, status=accounts_db.DECLINED, decided_by=ALICE.email, at=later
        )
    async with store.read() as conn:
        decided = await accounts_db.get_confirmation(conn, id=first)
        pending = await accounts_db.pending_confirmations(conn, kind="superuser", ea=EA)
    assert decided is not None
    assert (decided.status, decided.decided_by, decided.decided_at) == (
        accounts_db.CONFIRMED,
        ALICE.email,
        later,
    )
    assert [c.id for c in pending] == [second]


# --- tickets ---------------------------------------------------------------------------------


async def open_ticket(
    store: Store,
    at: dt.datetime,
    *,
    request_key: str | None = None,
    ea: str = EA,
    customer: str = "acme",
    partner: str | None = "pixel",
    vendor: str = "vmw",
    tier: Tier = Tier.PARTNER,
    queue: Queue = Queue.TECHNICAL,
    severity: int = 3,
    subject: str = "vCenter does not start",
    product: str | None = "vCenter Server Standard",
) -> int | None:
    async with store.write() as conn:
        return await tickets_db.insert_ticket(
            conn,
            request_key=request_key,
            ea=ea,
            customer=customer,
            partner=partner,
            vendor=vendor,
            tier=tier,
            queue=queue,
            severity=severity,
            subject=subject,
            product=product,
            description="Since the upgrade",
            opened_by=ALICE.email,
            at=at,
        )


async def test_ticket_round_trip(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    ticket_id = await open_ticket(store, now, request_key="trigger-1")
    assert ticket_id is not None
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
        assert await tickets_db.get_ticket(conn, ticket_id=ticket_id + 1000) is None
        assert await tickets_db.ticket_id_for_request(conn, request_key="trigger-1") == ticket_id
        assert await tickets_db.ticket_id_for_request(conn, request_key="other") is None
    assert ticket is not None
    assert ticket.ref == f"T-{ticket_id}"
    assert (ticket.ea, ticket.customer, ticket.partner, ticket.vendor) == (
        EA,
        "acme",
        "pixel",
        "vmw",
    )
    assert (ticket.tier, ticket.queue, ticket.severity, ticket.status) == (
        Tier.PARTNER,
        Queue.TECHNICAL,
        3,
        Status.NEW,
    )
    assert ticket.subject == "vCenter does not start"
    assert ticket.product == "vCenter Server Standard"
    assert ticket.description == "Since the upgrade"
    assert ticket.opened_by == ALICE.email
    assert ticket.assignee is None
    assert ticket.created_at == ticket.updated_at == now
    assert ticket.created_at.tzinfo == dt.UTC
    assert ticket.resolved_at is ticket.escalated_at is ticket.vendor_case is None
    assert ticket.clocks == ()
    assert ticket.current_clock is None


async def test_a_request_key_opens_one_ticket_only(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    first = await open_ticket(store, now, request_key="view-42")
    again = await open_ticket(store, now + dt.timedelta(seconds=2), request_key="view-42")
    assert first is not None
    assert again is None
    assert await count(store, t.tickets) == 1
    # Without a key, every request is a new ticket.
    assert await open_ticket(store, now) is not None
    assert await open_ticket(store, now) is not None
    assert await count(store, t.tickets) == 3


async def test_concurrent_requests_with_one_key_open_one_ticket(
    store: Store, now: dt.datetime
) -> None:
    await seed_accounts(store)
    results = await asyncio.gather(
        *(open_ticket(store, now, request_key="retry-7") for _ in range(4))
    )
    assert results.count(None) == 3
    assert await count(store, t.tickets) == 1


async def test_update_ticket(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    ticket_id = await open_ticket(store, now)
    assert ticket_id is not None
    later = now + dt.timedelta(hours=2)
    async with store.write() as conn:
        await tickets_db.update_ticket(
            conn,
            ticket_id=ticket_id,
            at=later,
            tier=Tier.VENDOR,
            status=Status.ESCALATED,
            severity=1,
            assignee=EOIN.email,
            escalated_at=later,
            vendor_case="SR-123",
            queue_message_channel="C0VMWQ",
            queue_message_ts="1700000000.000100",
        )
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert ticket is not None
    assert (ticket.tier, ticket.status, ticket.severity, ticket.assignee) == (
        Tier.VENDOR,
        Status.ESCALATED,
        1,
        EOIN.email,
    )
    assert (ticket.escalated_at, ticket.updated_at, ticket.created_at) == (later, later, now)
    assert (ticket.vendor_case, ticket.queue_message_channel, ticket.queue_message_ts) == (
        "SR-123",
        "C0VMWQ",
        "1700000000.000100",
    )
    with pytest.raises(ValueError, match="not ticket fields"):
        async with store.write() as conn:
            await tickets_db.update_ticket(conn, ticket_id=ticket_id, at=later, opened_by="x")


async def test_list_tickets_filters(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    a = await open_ticket(store, now, severity=2)
    b = await open_ticket(store, now, tier=Tier.VENDOR, partner=None)
    c = await open_ticket(
        store,
        now,
        ea=EA_GLOBEX,
        customer="globex",
        partner="nuage",
        vendor="msft",
        queue=Queue.BUSINESS,
        severity=4,
    )
    d = await open_ticket(store, now)
    assert None not in (a, b, c, d)
    later = now + dt.timedelta(hours=1)
    async with store.write() as conn:
        # d was escalated then handed back to the partner, and is resolved.
        await tickets_db.update_ticket(
            conn,
            ticket_id=d,  # type: ignore[arg-type]
            at=later,
            escalated_at=later,
            status=Status.RESOLVED,
            resolved_at=later,
            assignee=INES.email,
        )

    async def ids(**filters: object) -> list[int]:
        async with store.read() as conn:
            return [x.id for x in await tickets_db.list_tickets(conn, **filters)]  # type: ignore[arg-type]

    assert await ids() == [d, c, b, a]  # newest first
    assert await ids(limit=2) == [d, c]
    assert await ids(eas=[EA]) == [d, b, a]
    assert await ids(customer="globex") == [c]
    assert await ids(partner="pixel") == [d, a]
    assert await ids(vendor="msft") == [c]
    assert await ids(tier=Tier.VENDOR) == [b]
    assert await ids(open_only=True) == [c, b, a]
    assert await ids(severity=2) == [a]
    assert await ids(assignee=INES.email) == [d]
    # A vendor engineer sees the tickets at vendor tier now or escalated before (R8).
    assert await ids(vendor="vmw", vendor_visible=True) == [d, b]
    assert await ids(vendor="vmw", vendor_visible=True, open_only=True) == [b]
    async with store.read() as conn:
        assert [x.id for x in await tickets_db.all_tickets(conn)] == [a, b, c, d]


async def test_ticket_clocks_round_trip_with_pauses(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    ticket_id = await open_ticket(store, now)
    assert ticket_id is not None
    due = now + dt.timedelta(hours=8)
    async with store.write() as conn:
        clock_id = await tickets_db.insert_clock(
            conn,
            ticket_id=ticket_id,
            tier=Tier.PARTNER,
            started_at=now,
            target_minutes=480,
            around_the_clock=False,
            due_at=due,
            warn_at=now + dt.timedelta(hours=6),
        )
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert ticket is not None
    (clock,) = ticket.clocks
    assert (clock.id, clock.ticket_id, clock.tier, clock.started_at) == (
        clock_id,
        ticket_id,
        Tier.PARTNER,
        now,
    )
    assert (clock.target_minutes, clock.around_the_clock, clock.due_at) == (480, False, due)
    assert clock.responded_at is None
    assert clock.pauses == ()
    assert not clock.paused
    assert ticket.current_clock == ticket.first_clock == clock

    # Paused (times given in other zones come back as the same instants, in UTC).
    paused_at = (now + dt.timedelta(hours=1)).astimezone(PARIS)
    resumed_at = (now + dt.timedelta(hours=3)).astimezone(MONTREAL)
    again_at = now + dt.timedelta(hours=4, microseconds=250)
    async with store.write() as conn:
        await tickets_db.update_clock(
            conn,
            clock_id=clock_id,
            due_at=None,
            warn_at=None,
            pauses=[(paused_at, resumed_at), (again_at, None)],
        )
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert ticket is not None
    (clock,) = ticket.clocks
    assert clock.paused
    assert clock.due_at is None
    assert clock.pauses == ((paused_at, resumed_at), (again_at, None))
    for start, end in clock.pauses:
        assert start.tzinfo == dt.UTC
        assert end is None or end.tzinfo == dt.UTC

    # Resumed, answered; the target and the calendar can change too.
    responded = now + dt.timedelta(hours=5)
    async with store.write() as conn:
        await tickets_db.update_clock(
            conn,
            clock_id=clock_id,
            due_at=due + dt.timedelta(hours=1),
            warn_at=None,
            responded_at=responded,
            pauses=[(paused_at, resumed_at), (again_at, now + dt.timedelta(hours=4, minutes=30))],
            target_minutes=30,
            around_the_clock=True,
        )
        vendor_clock = await tickets_db.insert_clock(
            conn,
            ticket_id=ticket_id,
            tier=Tier.VENDOR,
            started_at=responded,
            target_minutes=30,
            around_the_clock=True,
            due_at=responded + dt.timedelta(minutes=30),
            warn_at=None,
        )
        await tickets_db.update_ticket(conn, ticket_id=ticket_id, at=responded, tier=Tier.VENDOR)
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert ticket is not None
    first, second = ticket.clocks
    assert not first.paused
    assert (first.responded_at, first.target_minutes, first.around_the_clock) == (
        responded,
        30,
        True,
    )
    assert first.due_at == due + dt.timedelta(hours=1)
    assert second.id == vendor_clock
    assert ticket.first_clock == first
    assert ticket.current_clock == second


async def test_clocks_reaching_their_marks(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    running = await open_ticket(store, now)
    answered = await open_ticket(store, now)
    resolved = await open_ticket(store, now)
    assert running and answered and resolved
    async with store.write() as conn:
        clocks = {}
        for ticket_id in (running, answered, resolved):
            clocks[ticket_id] = await tickets_db.insert_clock(
                conn,
                ticket_id=ticket_id,
                tier=Tier.PARTNER,
                started_at=now,
                target_minutes=60,
                around_the_clock=True,
                due_at=now + dt.timedelta(minutes=60),
                warn_at=now + dt.timedelta(minutes=45),
            )
        await tickets_db.update_clock(
            conn,
            clock_id=clocks[answered],
            due_at=now + dt.timedelta(minutes=60),
            warn_at=now + dt.timedelta(minutes=45),
            responded_at=now + dt.timedelta(minutes=5),
        )
        await tickets_db.update_ticket(
            conn, ticket_id=resolved, at=now, status=Status.RESOLVED, resolved_at=now
        )
    async with store.read() as conn:
        assert await tickets_db.clocks_reaching(conn, mark="warn", now=now) == []
        warned = await tickets_db.clocks_reaching(
            conn, mark="warn", now=now + dt.timedelta(minutes=45)
        )
        assert (
            await tickets_db.clocks_reaching(conn, mark="due", now=now + dt.timedelta(minutes=59))
            == []
        )
        due = await tickets_db.clocks_reaching(conn, mark="due", now=now + dt.timedelta(minutes=60))
    assert [(clock.id, ticket.id) for clock, ticket in warned] == [(clocks[running], running)]
    assert [(clock.id, ticket.id) for clock, ticket in due] == [(clocks[running], running)]


async def test_ticket_events(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    first = await open_ticket(store, now)
    second = await open_ticket(store, now)
    assert first and second
    async with store.write() as conn:
        await tickets_db.add_event(
            conn, ticket_id=first, at=now, actor=ALICE.email, kind="opened", data={"sev": 3}
        )
        await tickets_db.add_event(
            conn,
            ticket_id=first,
            at=(now + dt.timedelta(minutes=5)).astimezone(PARIS),
            actor=INES.email,
            kind="note",
            data={"text": "Regardé <@U1> & co", "nested": {"list": [1, "two", None]}},
        )
        await tickets_db.add_event(
            conn, ticket_id=second, at=now, actor=None, kind="reminder", data=None
        )
    async with store.read() as conn:
        events = await tickets_db.events_of(conn, ticket_id=first)
        everything = await tickets_db.all_events(conn)
        assert await tickets_db.events_of(conn, ticket_id=first + second + 10) == []
    assert [(e.ticket_id, e.kind, e.actor) for e in events] == [
        (first, "opened", ALICE.email),
        (first, "note", INES.email),
    ]
    assert events[0].data == {"sev": 3}
    assert events[1].data == {"text": "Regardé <@U1> & co", "nested": {"list": [1, "two", None]}}
    assert events[1].at == now + dt.timedelta(minutes=5)
    assert events[1].at.tzinfo == dt.UTC
    assert everything[first] == events
    assert [(e.kind, e.actor, e.data) for e in everything[second]] == [("reminder", None, {})]


async def test_datetimes_come_back_aware_utc(store: Store, now: dt.datetime) -> None:
    await seed_accounts(store)
    local = now.astimezone(MONTREAL)
    ticket_id = await open_ticket(store, local)
    assert ticket_id is not None
    async with store.read() as conn:
        ticket = await tickets_db.get_ticket(conn, ticket_id=ticket_id)
    assert ticket is not None
    assert ticket.created_at == now
    assert ticket.created_at.utcoffset() == dt.timedelta(0)
    assert ticket.created_at.tzinfo == dt.UTC
    # A naive datetime is a bug in the caller: refused, not guessed.
    with pytest.raises(StatementError, match="naive datetime"):
        await open_ticket(store, now.replace(tzinfo=None))


# --- audit ---------------------------------------------------------------------------------


async def test_audit_entries_newest_first(store: Store, now: dt.datetime) -> None:
    async with store.write() as conn:
        for n in range(5):
            await audit_db.record(
                conn,
                at=now + dt.timedelta(minutes=n),
                actor=ALICE.email,
                action=f"action-{n}",
                ea=EA if n % 2 == 0 else EA_GLOBEX,
                ticket_id=7 if n == 3 else None,
                detail={"n": n, "what": "vue"} if n else None,
            )
    async with store.read() as conn:
        newest = await audit_db.entries(conn)
        on_ea = await audit_db.entries(conn, ea=EA)
        two = await audit_db.entries(conn, ea=EA, limit=2)
        on_ticket = await audit_db.entries(conn, ticket_id=7)
        nothing = await audit_db.entries(conn, ea="000000000")
    assert [e.action for e in newest] == [f"action-{n}" for n in (4, 3, 2, 1, 0)]
    assert [e.action for e in on_ea] == ["action-4", "action-2", "action-0"]
    assert [e.action for e in two] == ["action-4", "action-2"]
    assert [(e.action, e.ticket_id, e.ea) for e in on_ticket] == [("action-3", 7, EA_GLOBEX)]
    assert nothing == []
    last = newest[0]
    assert (last.at, last.actor, last.detail) == (
        now + dt.timedelta(minutes=4),
        ALICE.email,
        {"n": 4, "what": "vue"},
    )
    assert last.at.tzinfo == dt.UTC
    assert newest[-1].detail == {}


# --- outbox ----------------------------------------------------------------------------------

LEASE = dt.timedelta(minutes=1)


async def enqueue(store: Store, at: dt.datetime, n: int, **kwargs: object) -> bool:
    async with store.write() as conn:
        return await outbox_db.enqueue(
            conn,
            kind="notify",
            method="chat.postMessage",
            payload={"channel": "U1", "text": f"message {n}"},
            at=at,
            **kwargs,  # type: ignore[arg-type]
        )


async def claim(
    store: Store, worker: str, at: dt.datetime, limit: int = 20
) -> list[outbox_db.OutboxEntry]:
    async with store.write() as conn:
        return await outbox_db.claim(conn, worker=worker, now=at, lease=LEASE, limit=limit)


async def test_outbox_enqueue_deduplicates(store: Store, now: dt.datetime) -> None:
    assert await enqueue(store, now, 1, dedupe_key="warn:T-1:1", ticket_id=1)
    assert not await enqueue(store, now, 2, dedupe_key="warn:T-1:1", ticket_id=1)
    assert await enqueue(store, now, 3, dedupe_key="due:T-1:1", ticket_id=1)
    # Entries without a key are never duplicates of one another.
    assert await enqueue(store, now, 4)
    assert await enqueue(store, now, 4)
    async with store.read() as conn:
        rows = await outbox_db.entries(conn)
        assert await outbox_db.pending_count(conn) == 4
        assert await outbox_db.pending_count(conn, ticket_id=1) == 2
    assert [r["payload"]["text"] for r in rows] == [
        "message 1",
        "message 3",
        "message 4",
        "message 4",
    ]
    assert rows[0]["created_at"] == now
    assert rows[0]["created_at"].tzinfo == dt.UTC


async def test_outbox_claim_round_trip(store: Store, now: dt.datetime) -> None:
    later = now + LEASE / 2  # the first entry's lease still runs
    await enqueue(store, now, 1, ticket_id=5, dedupe_key="k1")
    await enqueue(store, now, 2, not_before=later)
    (entry,) = await claim(store, "w1", now)
    assert entry == outbox_db.OutboxEntry(
        id=entry.id,
        kind="notify",
        method="chat.postMessage",
        payload={"channel": "U1", "text": "message 1"},
        ticket_id=5,
        attempts=0,
        dedupe_key="k1",
        created_at=now,
    )
    # Not due yet: the second one waits for its time.
    assert await claim(store, "w2", now) == []
    assert [e.payload["text"] for e in await claim(store, "w2", later)] == ["message 2"]


async def test_two_workers_claim_disjoint_entries(store: Store, now: dt.datetime) -> None:
    for n in range(6):
        await enqueue(store, now, n)
    first = await claim(store, "w1", now, limit=4)
    second = await claim(store, "w2", now, limit=4)
    assert len(first) == 4
    assert len(second) == 2
    assert not {e.id for e in first} & {e.id for e in second}
    assert await claim(store, "w3", now) == []


async def test_concurrent_workers_never_share_an_entry(store: Store, now: dt.datetime) -> None:
    for n in range(12):
        await enqueue(store, now, n)
    batches = await asyncio.gather(*(claim(store, f"w{i}", now) for i in range(4)))
    ids = [e.id for batch in batches for e in batch]
    assert len(ids) == len(set(ids)) == 12


async def test_outbox_sent_failed_postponed(store: Store, now: dt.datetime) -> None:
    for n in range(3):
        await enqueue(store, now, n, ticket_id=9)
    sent, failing, waiting = await claim(store, "w1", now)
    retry_at = now + dt.timedelta(minutes=5)
    async with store.write() as conn:
        # Only the worker holding an entry may settle it.
        assert not await outbox_db.mark_sent(conn, entry_id=sent.id, worker="w2", at=now)
        assert await outbox_db.mark_sent(
            conn, entry_id=sent.id, worker="w1", at=now, result={"ok": True, "ts": "1.2"}
        )
        await outbox_db.mark_failed(
            conn, entry_id=failing.id, worker="w1", error="ratelimited", retry_at=retry_at
        )
        # what is still owed before an entry of the same ticket: the failed one, not
        # the one already sent (the worker then keeps each stream's order)
        assert await outbox_db.owed_before(conn, entries=[waiting]) == [
            (failing.id, 9, failing.kind)
        ]
        await outbox_db.postpone(conn, entry_id=waiting.id, worker="w1", until=retry_at)
        assert await outbox_db.owed_before(conn, entries=[failing]) == []
    async with store.read() as conn:
        rows = {r["id"]: r for r in await outbox_db.entries(conn)}
        assert [r["id"] for r in await outbox_db.entries(conn, status=outbox_db.SENT)] == [sent.id]
        assert await outbox_db.pending_count(conn) == 2
    assert (rows[sent.id]["status"], rows[sent.id]["attempts"]) == (outbox_db.SENT, 1)
    assert rows[sent.id]["sent_at"] == now
    assert rows[sent.id]["result"] == {"ok": True, "ts": "1.2"}
    assert (rows[failing.id]["status"], rows[failing.id]["attempts"]) == (outbox_db.PENDING, 1)
    assert rows[failing.id]["last_error"] == "ratelimited"
    assert rows[failing.id]["next_attempt_at"] == retry_at
    # Postponing is not an attempt.
    assert (rows[waiting.id]["status"], rows[waiting.id]["attempts"]) == (outbox_db.PENDING, 0)
    assert rows[waiting.id]["next_attempt_at"] == retry_at

    # Nothing is due before the retry time; then both come back, the sent one never.
    assert await claim(store, "w2", retry_at - dt.timedelta(seconds=1)) == []
    again = await claim(store, "w2", retry_at)
    assert sorted(e.id for e in again) == sorted([failing.id, waiting.id])
    assert {e.id: e.attempts for e in again}[failing.id] == 1

    # A failure with no retry gives up on the entry.
    async with store.write() as conn:
        await outbox_db.mark_failed(
            conn, entry_id=failing.id, worker="w2", error="channel_not_found", retry_at=None
        )
    async with store.read() as conn:
        dead = await outbox_db.entries(conn, status=outbox_db.DEAD)
    assert [(r["id"], r["attempts"], r["last_error"]) for r in dead] == [
        (failing.id, 2, "channel_not_found")
    ]
    # Later on, only the postponed one (its lease over) is still owed; the dead one never.
    later = await claim(store, "w3", retry_at + dt.timedelta(days=1))
    assert [e.id for e in later] == [waiting.id]


async def test_an_expired_lease_lets_another_worker_take_over(
    store: Store, now: dt.datetime
) -> None:
    await enqueue(store, now, 1)
    (entry,) = await claim(store, "w1", now)
    # While w1's lease runs, nobody else gets the entry.
    assert await claim(store, "w2", now + LEASE - dt.timedelta(seconds=1)) == []
    # w1 died: once the lease is over, w2 takes it.
    after = now + LEASE + dt.timedelta(seconds=1)
    (taken,) = await claim(store, "w2", after)
    assert taken.id == entry.id
    async with store.write() as conn:
        # w1 waking up late cannot settle an entry that is no longer its own.
        assert not await outbox_db.mark_sent(conn, entry_id=entry.id, worker="w1", at=after)
        assert await outbox_db.mark_sent(conn, entry_id=entry.id, worker="w2", at=after)
    async with store.read() as conn:
        (row,) = await outbox_db.entries(conn)
    assert (row["status"], row["attempts"]) == (outbox_db.SENT, 1)
