"""Migrations: an older schema with data upgrades in place; the newest matches the tables."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from bot.domain import License, LicenseType
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store.engine import alembic_config
from bot.store.tables import in_domain_schema, metadata


async def test_upgrade_from_the_first_schema_fills_the_folded_product_names(
    database_url: str,
) -> None:
    store = Store(database_url)

    def downgrade(sync_conn: Connection) -> None:
        command.downgrade(alembic_config(sync_conn), "0001")

    async with store.engine.connect() as conn:
        await conn.run_sync(downgrade)
        await conn.commit()
    async with store.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO organizations (id, kind, name, name_folded, locale, timezone, business_hours) VALUES ('v', 'vendor', 'V', 'v', 'en', 'UTC', '24x7'), ('c', 'customer', 'C', 'c', 'en', 'UTC', '24x7')"
            )
        )
        await conn.execute(text("INSERT INTO vendors (id, severity_labels) VALUES ('v', '{}')"))
        await conn.execute(
            text(
                "INSERT INTO accounts (ea, vendor, customer, name) VALUES ('123456789', 'v', 'c', 'A')"
            )
        )
        await conn.execute(
            text(
                "INSERT INTO licenses (key, ea, product, quantity, unit, type, folder) VALUES ('K-1', '123456789', 'ÉCLAIR Server', 1, 'CPU', 'standard', 'Home')"
            )
        )
    await store.migrate()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert await store.schema_revision() == head
    async with store.read() as conn:
        found = await accounts_db.list_licenses(conn, ea="123456789", product="eclair")
    assert [lic.key for lic in found] == ["K-1"]
    await store.dispose()


async def test_the_newest_schema_matches_the_table_definitions(store: Store) -> None:
    def differences(sync_conn: Connection) -> list[object]:
        context = MigrationContext.configure(sync_conn, opts={"include_name": in_domain_schema})
        return list(compare_metadata(context, metadata))

    async with store.engine.connect() as conn:
        assert await conn.run_sync(differences) == []


async def test_product_search_ignores_accents_and_case(store: Store) -> None:
    async with store.write() as conn:
        await conn.execute(
            text(
                "INSERT INTO organizations (id, kind, name, name_folded, locale, timezone, business_hours) VALUES ('v', 'vendor', 'V', 'v', 'en', 'UTC', '24x7'), ('c', 'customer', 'C', 'c', 'en', 'UTC', '24x7')"
            )
        )
        await conn.execute(text("INSERT INTO vendors (id, severity_labels) VALUES ('v', '{}')"))
        await conn.execute(
            text(
                "INSERT INTO accounts (ea, vendor, customer, name) VALUES ('123456789', 'v', 'c', 'A')"
            )
        )
        await accounts_db.insert_licenses(
            conn,
            licenses=[
                License(
                    key="K-2",
                    ea="123456789",
                    product="Édition Équipe",
                    quantity=1,
                    unit="user",
                    type=LicenseType.STANDARD,
                )
            ],
        )
    async with store.read() as conn:
        for wanted in ("ÉDITION", "edition equipe", "Équipe"):
            assert [
                lic.key
                for lic in await accounts_db.list_licenses(conn, ea="123456789", product=wanted)
            ] == ["K-2"]
        assert [
            lic.key
            for lic in await accounts_db.licenses_of_product(
                conn, ea="123456789", product="édition équipe"
            )
        ] == ["K-2"]
