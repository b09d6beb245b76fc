"""``supportbot import``: all or nothing, every refusal names its path.

Every refusal is checked twice: the exact errors, and that no table changed.
Runs on SQLite, and on PostgreSQL with ``SUPPORTBOT_TEST_DATABASE=postgres``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

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
    Subscription,
    Tier,
    Vendor,
)
from bot.importer import SECTIONS, DatasetError, import_document, import_file
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.store import directory as directory_db
from bot.store import outbox as outbox_db
from bot.store import tickets as tickets_db
from bot.store.tables import metadata

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yml"
EA = "411023871"
SECTION_LIST = ", ".join(SECTIONS)

Doc = dict[str, Any]


def base_doc() -> Doc:
    """A small dataset touching every section; tests change a copy of it."""
    return {
        "vendors": [
            {
                "id": "vmw",
                "name": "VMware",
                "queue_channel": "C0VMWQ",
                "business_queue_channel": "C0VMWBIZ",
                "severity_labels": {1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"},
                "timezone": "Europe/Dublin",
                "business_hours": "mon-fri 08:00-20:00",
            }
        ],
        "organizations": [
            {
                "id": "acme",
                "kind": "customer",
                "name": "ACME SA",
                "locale": "fr",
                "timezone": "Europe/Paris",
                "business_hours": "mon-fri 09:00-18:00",
            },
            {
                "id": "pixel",
                "kind": "partner",
                "name": "Pixel Cloud",
                "partner_type": "msp",
                "locale": "fr",
                "timezone": "Europe/Paris",
                "business_hours": "mon-sat 07:00-21:00",
                "queue_channel": "C0PIXELQ",
            },
        ],
        "contacts": [
            {
                "email": "alice@acme.example",
                "org": "acme",
                "name": "Alice Martin",
                "roles": ["superuser"],
                "locale": "fr",
            },
            {
                "email": "ines@pixel.example",
                "org": "pixel",
                "name": "Inès Fabre",
                "roles": ["agent", "atc"],
            },
        ],
        "accounts": [
            {
                "ea": EA,
                "vendor": "vmw",
                "customer": "acme",
                "name": "ACME Production",
                "superuser": "alice@acme.example",
                "merged_into": None,
            }
        ],
        "grants": [
            {
                "ea": EA,
                "partner": "pixel",
                "permissions": ["view_license_keys", "file_support_requests"],
                "until": "2027-12-31",
            }
        ],
        "licenses": [
            {
                "key": f"KEY-{n}",
                "ea": EA,
                "product": "vSphere Enterprise Plus",
                "quantity": 16,
                "unit": "CPU",
                "type": "standard",
                "folder": "Home",
                "order": "4500012345",
                "sold_by": "pixel",
                "expires": None,
            }
            for n in range(4)
        ],
        "contracts": [
            {
                "number": "SNS-1",
                "ea": EA,
                "level": "production",
                "starts": "2026-01-01",
                "ends": "2027-01-01",
                "products": ["vSphere Enterprise Plus"],
            }
        ],
        "subscriptions": [
            {
                "id": "SUB-1",
                "ea": EA,
                "service": "VMware Cloud Disaster Recovery",
                "seller": "pixel",
                "quantity": 10,
                "ends": "2027-06-30",
                "contract_code": None,
            }
        ],
        "agreements": [
            {
                "number": "V1234567",
                "authorization": "AUTH-99887766",
                "vendor": "vmw",
                "customer": "acme",
                "customer_email": "achats@acme.example",
                "benefits": ["training_vouchers", "home_use_program"],
                "benefit_admins": ["alice@acme.example"],
            }
        ],
        "sla_targets": [{"vendor": "vmw", "level": "production", "sev1": 30, "sev2": 240}],
    }


BASE_COUNTS = {
    "vendors": 1,
    "organizations": 2,
    "contacts": 2,
    "accounts": 1,
    "grants": 1,
    "licenses": 4,
    "contracts": 1,
    "subscriptions": 1,
    "agreements": 1,
    "sla_targets": 2,
    "channels": 0,
    "workspaces": 0,
}


async def table_counts(store: Store) -> dict[str, int]:
    """Rows in every table of the schema."""
    async with store.read() as conn:
        return {
            table.name: int(
                (await conn.execute(select(func.count()).select_from(table))).scalar_one()
            )
            for table in metadata.sorted_tables
        }


async def refused(store: Store, doc: Any, *, replace: bool = False) -> list[str]:
    """Import ``doc``, expect a refusal, check nothing changed; the errors."""
    before = await table_counts(store)
    with pytest.raises(DatasetError) as info:
        await import_document(store, doc, replace=replace)
    assert await table_counts(store) == before
    assert str(info.value) == "\n".join(info.value.errors)
    return info.value.errors


async def refused_file(store: Store, path: Path, *, replace: bool = False) -> list[str]:
    before = await table_counts(store)
    with pytest.raises(DatasetError) as info:
        await import_file(store, path, replace=replace)
    assert await table_counts(store) == before
    return info.value.errors


def changed(change: Callable[[Doc], object]) -> Doc:
    doc = base_doc()
    change(doc)
    return doc


def add(section: str, item: object) -> Callable[[Doc], object]:
    return lambda doc: doc[section].append(item)


def edit(section: str, index: int, **values: object) -> Callable[[Doc], object]:
    return lambda doc: doc[section][index].update(values)


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --- what is accepted ------------------------------------------------------------------------


async def test_demo_dataset_imports_whole(store: Store) -> None:
    raw = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    expected = {section: len(raw.get(section) or []) for section in SECTIONS}
    # One sla_targets item holds up to four targets (sev1..sev4).
    expected["sla_targets"] = sum(
        1 for item in raw.get("sla_targets") or [] for n in range(1, 5) if f"sev{n}" in item
    )
    data = await import_file(store, DEMO)
    assert data.counts() == expected
    counts = await table_counts(store)
    assert counts["organizations"] == expected["organizations"] + expected["vendors"]
    for section in ("vendors", "contacts", "accounts", "grants", "licenses", "contracts"):
        assert counts[section] == expected[section], section
    for section in ("subscriptions", "agreements", "sla_targets"):
        assert counts[section] == expected[section], section
    assert counts["tickets"] == counts["outbox"] == counts["audit_entries"] == 0
    # The story's fixed points: a merged EA, an expired grant, a vendor's own labels.
    async with store.read() as conn:
        old = await accounts_db.get_account(conn, ea="733190001")
        expired = await accounts_db.get_grant(conn, ea="902334178", partner="bluepeak")
        msft = await directory_db.get_vendor(conn, id="msft")
        overrides = await accounts_db.sla_overrides(conn, vendor="msft")
    assert old is not None
    assert old.merged_into == "733190462"
    assert expired is not None
    assert expired.until == dt.date(2026, 6, 30)
    assert msft is not None
    assert msft.severity_labels == {1: "A", 2: "B", 3: "C", 4: "C"}
    assert overrides[("production", 1)] == 60
    assert not await store.is_empty()


async def test_small_dataset_round_trips_into_domain_objects(store: Store) -> None:
    doc = base_doc()
    doc["organizations"][1]["business_hours"] = "Mon-Sat 7:00 - 21:00"  # read, then canonical
    data = await import_document(store, doc)
    assert data.counts() == BASE_COUNTS
    async with store.read() as conn:
        vendor = await directory_db.get_vendor(conn, id="vmw")
        pixel = await directory_db.get_organization(conn, id="pixel")
        acme = await directory_db.get_organization(conn, id="acme")
        ines = await directory_db.get_contact(conn, email="INES@pixel.example")
        account = await accounts_db.get_account(conn, ea=EA)
        grant = await accounts_db.get_grant(conn, ea=EA, partner="pixel")
        licenses = await accounts_db.list_licenses(conn, ea=EA)
        folders = await accounts_db.list_folders(conn, ea=EA)
        contracts = await accounts_db.contracts_on(conn, ea=EA)
        subscriptions = await accounts_db.subscriptions_on(conn, ea=EA)
        agreement = await accounts_db.get_agreement(conn, number="V1234567")
        overrides = await accounts_db.sla_overrides(conn, vendor="vmw")
    assert vendor == Vendor(
        id="vmw",
        name="VMware",
        queue_channel="C0VMWQ",
        business_queue_channel="C0VMWBIZ",
        severity_labels={1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"},
        timezone="Europe/Dublin",
        business_hours="mon-fri 08:00-20:00",
    )
    assert pixel == Organization(
        id="pixel",
        kind=OrgKind.PARTNER,
        name="Pixel Cloud",
        partner_type=PartnerType.MSP,
        locale="fr",
        timezone="Europe/Paris",
        business_hours="mon-sat 07:00-21:00",
        queue_channel="C0PIXELQ",
    )
    assert acme is not None
    assert (acme.kind, acme.partner_type, acme.queue_channel) == (OrgKind.CUSTOMER, None, None)
    assert ines == Contact(
        email="ines@pixel.example",
        org="pixel",
        org_kind=OrgKind.PARTNER,
        name="Inès Fabre",
        roles=frozenset({Role.AGENT, Role.ATC}),
        locale=None,
    )
    assert account == Account(
        ea=EA, vendor="vmw", customer="acme", name="ACME Production", superuser="alice@acme.example"
    )
    assert grant == Grant(
        ea=EA,
        partner="pixel",
        permissions=frozenset({Permission.VIEW_LICENSE_KEYS, Permission.FILE_SUPPORT_REQUESTS}),
        until=dt.date(2027, 12, 31),
    )
    assert licenses[0] == License(
        key="KEY-0",
        ea=EA,
        product="vSphere Enterprise Plus",
        quantity=16,
        unit="CPU",
        type=LicenseType.STANDARD,
        folder="Home",
        order="4500012345",
        sold_by="pixel",
        expires=None,
    )
    assert len(licenses) == 4
    assert folders == ["Home"]
    assert contracts == [
        Contract(
            number="SNS-1",
            ea=EA,
            level="production",
            starts=dt.date(2026, 1, 1),
            ends=dt.date(2027, 1, 1),
            products=("vSphere Enterprise Plus",),
        )
    ]
    assert subscriptions == [
        Subscription(
            id="SUB-1",
            ea=EA,
            service="VMware Cloud Disaster Recovery",
            seller="pixel",
            quantity=10,
            ends=dt.date(2027, 6, 30),
        )
    ]
    assert agreement == Agreement(
        number="V1234567",
        authorization="AUTH-99887766",
        vendor="vmw",
        customer="acme",
        customer_email="achats@acme.example",
        benefits=("home_use_program", "training_vouchers"),
        benefit_admins=("alice@acme.example",),
    )
    assert overrides == {("production", 1): 30, ("production", 2): 240}


async def test_yaml_shorthands_are_understood(store: Store, tmp_path: Path) -> None:
    """Unquoted EAs and dates, ``permissions: all``, defaults for optional fields."""
    text = """
vendors:
  - {id: vmw, name: VMware}
organizations:
  - {id: acme, kind: Customer, name: ACME}
  - {id: pixel, kind: partner, name: Pixel, partner_type: MSP}
contacts:
  - {email: Alice@ACME.example, org: acme, name: Alice, roles: [SuperUser]}
accounts:
  - {ea: 411023871, vendor: vmw, customer: acme, name: ACME, superuser: ALICE@acme.example}
grants:
  - {ea: 411023871, partner: pixel, permissions: all, until: 2027-12-31}
licenses:
  - {key: K1, ea: 411023871, product: vSAN, quantity: 4, type: NFR, expires: 2027-01-31}
contracts:
  - {number: 7, ea: 411023871, level: Basic, starts: 2026-01-01, ends: 2026-01-01}
"""
    data = await import_file(store, write(tmp_path, "small.yml", text))
    assert data.counts()["licenses"] == 1
    async with store.read() as conn:
        vendor = await directory_db.get_vendor(conn, id="vmw")
        acme = await directory_db.get_organization(conn, id="acme")
        account = await accounts_db.get_account(conn, ea=EA)
        grant = await accounts_db.get_grant(conn, ea=EA, partner="pixel")
        (key,) = await accounts_db.list_licenses(conn, ea=EA)
        (contract,) = await accounts_db.contracts_on(conn, ea=EA)
    assert vendor is not None
    assert (vendor.timezone, vendor.business_hours, vendor.queue_channel) == (
        "UTC",
        "mon-fri 08:00-20:00",
        None,
    )
    assert vendor.severity_labels == {1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"}
    assert acme is not None
    assert (acme.locale, acme.timezone, acme.business_hours) == (
        "en",
        "Europe/Paris",
        "mon-fri 09:00-18:00",
    )
    assert account is not None
    assert account.superuser == "alice@acme.example"
    assert grant is not None
    assert grant.permissions == frozenset(Permission)
    assert (key.type, key.unit, key.folder, key.sold_by, key.expires) == (
        LicenseType.NFR,
        "unit",
        "Home",
        None,
        dt.date(2027, 1, 31),
    )
    assert (contract.number, contract.level, contract.products) == ("7", "basic", ())


async def test_json_input_works_too(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "dataset.json", json.dumps(base_doc(), ensure_ascii=False))
    data = await import_file(store, path)
    assert data.counts() == BASE_COUNTS
    async with store.read() as conn:
        vendor = await directory_db.get_vendor(conn, id="vmw")
    assert vendor is not None
    # JSON object keys are text: severity labels still land on 1..4.
    assert vendor.severity_labels == {1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"}


async def test_a_json_document_in_a_yaml_file_works(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "dataset.yml", json.dumps(base_doc()))
    assert (await import_file(store, path)).counts() == BASE_COUNTS


async def test_an_empty_mapping_imports_nothing(store: Store, tmp_path: Path) -> None:
    data = await import_file(store, write(tmp_path, "empty.yml", "{}\n"))
    assert set(data.counts().values()) == {0}
    assert set((await table_counts(store)).values()) == {0}


# --- what is refused -------------------------------------------------------------------------

REFUSALS: list[tuple[str, Callable[[Doc], object], list[str]]] = [
    # unknown references
    (
        "license on an unknown EA",
        edit("licenses", 3, ea="410000009"),
        ["licenses[3].ea: no account 410000009"],
    ),
    (
        "account of an unknown vendor",
        add("accounts", {"ea": "411023872", "vendor": "msft", "customer": "acme", "name": "x"}),
        ["accounts[1].vendor: no vendor 'msft'"],
    ),
    (
        "contact of an unknown organization",
        add(
            "contacts", {"email": "bob@x.example", "org": "nobody", "name": "B", "roles": ["user"]}
        ),
        ["contacts[2].org: no organization or vendor 'nobody'"],
    ),
    (
        "grant to an unknown partner",
        edit("grants", 0, partner="ghost"),
        ["grants[0].partner: no partner 'ghost'"],
    ),
    (
        "subscription sold by an unknown seller",
        edit("subscriptions", 0, seller="ghost"),
        ["subscriptions[0].seller: no partner or vendor 'ghost'"],
    ),
    (
        "license sold by a customer",
        edit("licenses", 0, sold_by="acme"),
        ["licenses[0].sold_by: 'acme' is a customer, not a partner"],
    ),
    (
        "merge into an unknown EA",
        edit("accounts", 0, merged_into="999999999"),
        ["accounts[0].merged_into: no account 999999999"],
    ),
    (
        "SLA targets of an unknown vendor",
        edit("sla_targets", 0, vendor="msft"),
        ["sla_targets[0].vendor: no vendor 'msft'"],
    ),
    (
        "benefit administrator from another organization",
        edit("agreements", 0, benefit_admins=["ines@pixel.example"]),
        ["agreements[0].benefit_admins[0]: ines@pixel.example is not a contact of acme"],
    ),
    # duplicates
    (
        "duplicate vendor id",
        add("vendors", {"id": "vmw", "name": "VMware again"}),
        ["vendors[1].id: duplicate id 'vmw'"],
    ),
    (
        "organization id taken by a vendor",
        add("organizations", {"id": "vmw", "kind": "customer", "name": "VM Ware Ltd"}),
        ["organizations[2].id: duplicate id 'vmw'"],
    ),
    (
        "duplicate organization id",
        add("organizations", {"id": "acme", "kind": "customer", "name": "ACME bis"}),
        ["organizations[2].id: duplicate id 'acme'"],
    ),
    (
        "duplicate email in another case",
        add(
            "contacts",
            {"email": " Alice@ACME.Example", "org": "acme", "name": "A", "roles": ["user"]},
        ),
        ["contacts[2].email: duplicate contact alice@acme.example"],
    ),
    (
        "duplicate EA",
        add("accounts", {"ea": EA, "vendor": "vmw", "customer": "acme", "name": "again"}),
        ["accounts[1].ea: duplicate EA 411023871"],
    ),
    (
        "duplicate license key",
        lambda doc: doc["licenses"].append(dict(doc["licenses"][2])),
        ["licenses[4].key: duplicate license key KEY-2"],
    ),
    (
        "duplicate contract",
        lambda doc: doc["contracts"].append(dict(doc["contracts"][0], ea=EA)),
        ["contracts[1].number: duplicate contract SNS-1"],
    ),
    (
        "duplicate grant",
        add("grants", {"ea": EA, "partner": "pixel", "permissions": "all"}),
        ["grants[1]: duplicate grant of 411023871 to pixel"],
    ),
    (
        "duplicate subscription",
        lambda doc: doc["subscriptions"].append(dict(doc["subscriptions"][0])),
        ["subscriptions[1].id: duplicate subscription SUB-1"],
    ),
    (
        "duplicate agreement",
        lambda doc: doc["agreements"].append(dict(doc["agreements"][0])),
        ["agreements[1].number: duplicate agreement V1234567"],
    ),
    (
        "duplicate SLA target",
        add("sla_targets", {"vendor": "vmw", "level": "Production", "sev2": 60}),
        ["sla_targets[1].sev2: duplicate target for vmw production severity 2"],
    ),
    # EA numbers
    (
        "EA of 8 digits",
        add("accounts", {"ea": "12345678", "vendor": "vmw", "customer": "acme", "name": "x"}),
        ["accounts[1].ea: EA number must be 9 digits, got '12345678'"],
    ),
    (
        "EA with a letter",
        edit("grants", 0, ea="41102387A"),
        ["grants[0].ea: EA number must be 9 digits, got '41102387A'"],
    ),
    (
        "EA of 10 digits",
        edit("licenses", 1, ea=4110238710),
        ["licenses[1].ea: EA number must be 9 digits, got '4110238710'"],
    ),
    (
        "EA in another script's digits",
        add("accounts", {"ea": "٤١١٠٢٣٨٧١", "vendor": "vmw", "customer": "acme", "name": "x"}),
        ["accounts[1].ea: EA number must be 9 digits, got '٤١١٠٢٣٨٧١'"],
    ),
    # unknown names
    (
        "unknown role",
        add(
            "contacts", {"email": "bob@acme.example", "org": "acme", "name": "B", "roles": ["boss"]}
        ),
        [
            "contacts[2].roles[0]: unknown role 'boss' "
            "(one of: superuser, procurement, user, agent, atc, admin, engineer)"
        ],
    ),
    (
        "partner role for a customer",
        add(
            "contacts",
            {"email": "bob@acme.example", "org": "acme", "name": "B", "roles": ["user", "atc"]},
        ),
        [
            "contacts[2].roles[1]: role 'atc' is not for a customer "
            "(one of: procurement, superuser, user)"
        ],
    ),
    (
        "no role at all",
        edit("contacts", 1, roles=[]),
        ["contacts[1].roles: at least one role"],
    ),
    (
        "unknown permission",
        edit("grants", 0, permissions=["view_license_keys", "fly"]),
        [
            "grants[0].permissions[1]: unknown permission 'fly' (one of: view_license_keys, "
            "manage_folders, divide_combine_keys, upgrade_downgrade_keys, view_orders_contracts, "
            "file_support_requests, view_support_requests, download_products, manage_roles)"
        ],
    ),
    (
        "a grant of nothing",
        edit("grants", 0, permissions=[]),
        ["grants[0].permissions: at least one permission (or all)"],
    ),
    (
        "unknown license type",
        edit("licenses", 1, type="pirate"),
        [
            "licenses[1].type: unknown license type 'pirate' "
            "(one of: standard, vspp, oem, nfr, iul, eval)"
        ],
    ),
    (
        "unknown support level",
        edit("contracts", 0, level="gold"),
        ["contracts[0].level: unknown support level 'gold' (one of: basic, production, saas)"],
    ),
    (
        "unknown partner type",
        edit("organizations", 1, partner_type="broker"),
        [
            "organizations[1].partner_type: unknown partner type 'broker' "
            "(one of: reseller, distributor, msp, oem, vspp)"
        ],
    ),
    (
        "partner without a partner type",
        lambda doc: doc["organizations"][1].pop("partner_type"),
        ["organizations[1].partner_type: required"],
    ),
    (
        "customer with a partner type",
        edit("organizations", 0, partner_type="msp"),
        ["organizations[0].partner_type: only partners have a partner_type"],
    ),
    (
        "unknown locale",
        edit("organizations", 0, locale="de"),
        ["organizations[0].locale: unknown locale 'de' (one of: en, fr)"],
    ),
    (
        "a channel name instead of a channel id",
        edit("organizations", 1, queue_channel="#support"),
        ["organizations[1].queue_channel: '#support' is not a Slack channel id (like C0123ABCD)"],
    ),
    (
        "id that is not a slug",
        add("vendors", {"id": "VM ware", "name": "VMware"}),
        ["vendors[1].id: 'VM ware' is not an id (letters, digits, '.', '-' and '_', no spaces)"],
    ),
    (
        "an email that is not one",
        add("contacts", {"email": "bob-at-acme", "org": "acme", "name": "B", "roles": ["user"]}),
        ["contacts[2].email: 'bob-at-acme' is not an email address"],
    ),
    # consistency
    (
        "contract ending before it starts",
        edit("contracts", 0, starts="2027-01-01", ends="2026-12-31"),
        ["contracts[0].ends: the contract ends (2026-12-31) before it starts (2027-01-01)"],
    ),
    (
        "superuser from a partner",
        edit("accounts", 0, superuser="ines@pixel.example"),
        ["accounts[0].superuser: ines@pixel.example is not a contact of acme"],
    ),
    (
        "superuser who is nobody",
        edit("accounts", 0, superuser="ghost@acme.example"),
        ["accounts[0].superuser: no contact ghost@acme.example"],
    ),
    (
        "grant to a customer",
        edit("grants", 0, partner="acme"),
        ["grants[0].partner: 'acme' is a customer, not a partner"],
    ),
    (
        "grant to a vendor",
        edit("grants", 0, partner="vmw"),
        ["grants[0].partner: 'vmw' is a vendor, not a partner"],
    ),
    (
        "account of a partner",
        add("accounts", {"ea": "411023872", "vendor": "vmw", "customer": "pixel", "name": "x"}),
        ["accounts[1].customer: 'pixel' is a partner, not a customer"],
    ),
    (
        "an EA merged into itself",
        edit("accounts", 0, merged_into=EA),
        ["accounts[0].merged_into: an EA cannot be merged into itself"],
    ),
    (
        "merges going round in a circle",
        lambda doc: doc["accounts"].extend(
            [
                {
                    "ea": "100000001",
                    "vendor": "vmw",
                    "customer": "acme",
                    "name": "one",
                    "merged_into": "100000002",
                },
                {
                    "ea": "100000002",
                    "vendor": "vmw",
                    "customer": "acme",
                    "name": "two",
                    "merged_into": "100000001",
                },
            ]
        ),
        [
            "accounts[1].merged_into: merges go round in a circle: "
            "100000001 → 100000002 → 100000001",
            "accounts[2].merged_into: merges go round in a circle: "
            "100000002 → 100000001 → 100000002",
        ],
    ),
    (
        "an organization declared as a vendor",
        edit("organizations", 0, kind="vendor"),
        [
            "organizations[0].kind: vendors go in the vendors section",
            "contacts[0].org: no organization or vendor 'acme'",
            "accounts[0].customer: no customer 'acme'",
            # what refers to a refused item is refused too
            "grants[0].ea: no account 411023871",
            "licenses[0].ea: no account 411023871",
            "licenses[1].ea: no account 411023871",
            "licenses[2].ea: no account 411023871",
            "licenses[3].ea: no account 411023871",
            "contracts[0].ea: no account 411023871",
            "subscriptions[0].ea: no account 411023871",
            "agreements[0].customer: no customer 'acme'",
        ],
    ),
    # calendars
    (
        "malformed business hours",
        edit("organizations", 0, business_hours="weekdays 9-5"),
        [
            "organizations[0].business_hours: invalid business hours 'weekdays 9-5': expected "
            "days and hours such as 'mon-fri 09:00-18:00', 'mon,wed,fri 09:00-17:00' or '24x7'"
        ],
    ),
    (
        "business hours closing before they open",
        edit("vendors", 0, business_hours="mon-fri 18:00-09:00"),
        [
            "vendors[0].business_hours: invalid business hours 'mon-fri 18:00-09:00': "
            "closing time 09:00 must be after opening time 18:00"
        ],
    ),
    (
        "unknown timezone",
        edit("organizations", 0, timezone="Mars/Olympus"),
        [
            "organizations[0].timezone: unknown timezone 'Mars/Olympus' (an IANA name like Europe/Paris)"
        ],
    ),
    (
        "a timezone that is a path",
        edit("organizations", 1, timezone="../../etc/passwd"),
        [
            "organizations[1].timezone: unknown timezone '../../etc/passwd' "
            "(an IANA name like Europe/Paris)"
        ],
    ),
    (
        "a timezone path deep enough to exhaust the stack",
        edit("vendors", 0, timezone="a/" * 400 + "b"),
        ["vendors[0].timezone: too long (801 characters, at most 200)"],
    ),
    # dates
    (
        "a month 13",
        edit("grants", 0, until="2027-13-01"),
        ["grants[0].until: not a date: '2027-13-01' (use YYYY-MM-DD)"],
    ),
    (
        "words instead of a date",
        edit("contracts", 0, starts="next monday"),
        ["contracts[0].starts: not a date: 'next monday' (use YYYY-MM-DD)"],
    ),
    (
        "a number instead of a date",
        edit("licenses", 0, expires=2027),
        ["licenses[0].expires: not a date: 2027 (use YYYY-MM-DD)"],
    ),
    (
        "a contract without an end",
        lambda doc: doc["contracts"][0].pop("ends"),
        ["contracts[0].ends: required (YYYY-MM-DD)"],
    ),
    # types
    (
        "a mapping where a list is expected",
        lambda doc: doc.update(licenses={"key": "K", "ea": EA}),
        ["licenses: expected a list, got a mapping"],
    ),
    (
        "a list where a mapping is expected",
        lambda doc: doc["licenses"].__setitem__(2, ["KEY-2", EA]),
        ["licenses[2]: expected a mapping, got a list"],
    ),
    (
        "text where a number is expected",
        edit("licenses", 0, quantity="sixteen"),
        ["licenses[0].quantity: expected a whole number, got text"],
    ),
    (
        "a fraction where a whole number is expected",
        edit("subscriptions", 0, quantity=2.5),
        ["subscriptions[0].quantity: expected a whole number, got a number"],
    ),
    (
        "a quantity of zero",
        edit("licenses", 0, quantity=0),
        ["licenses[0].quantity: must be at least 1, got 0"],
    ),
    (
        "a quantity too large to store",
        edit("licenses", 0, quantity=10**12),
        ["licenses[0].quantity: must be at most 2147483647, got 1000000000000"],
    ),
    (
        "true/false where a number is expected",
        edit("sla_targets", 0, sev1=True),
        ["sla_targets[0].sev1: expected a whole number, got true/false"],
    ),
    (
        "text where a list is expected",
        edit("contacts", 0, roles="superuser"),
        [
            "contacts[0].roles: expected a list, got text",
        ],
    ),
    (
        "a list where text is expected",
        edit("organizations", 0, name=["ACME"]),
        ["organizations[0].name: expected text, got a list"],
    ),
    (
        "a mapping inside a list of texts",
        edit("contracts", 0, products=["vSphere", {"name": "vSAN"}]),
        ["contracts[0].products[1]: expected text, got a mapping"],
    ),
    (
        "a required field missing",
        lambda doc: doc["licenses"][1].pop("product"),
        ["licenses[1].product: required"],
    ),
    (
        "a required field blank",
        edit("accounts", 0, name="   "),
        ["accounts[0].name: required"],
    ),
    (
        "severity labels as a list",
        edit("vendors", 0, severity_labels=["A", "B"]),
        ["vendors[0].severity_labels: expected a mapping 1..4 → label, got a list"],
    ),
    (
        "a severity 5",
        edit("vendors", 0, severity_labels={5: "E"}),
        ["vendors[0].severity_labels: severity 5 is not 1, 2, 3 or 4"],
    ),
    (
        "an unknown SLA field",
        edit("sla_targets", 0, sev5=60),
        ["sla_targets[0].sev5: unknown field (use sev1..sev4, in minutes)"],
    ),
    (
        "SLA targets without a target",
        lambda doc: doc["sla_targets"].__setitem__(0, {"vendor": "vmw", "level": "basic"}),
        ["sla_targets[0]: no target given (sev1..sev4, in minutes)"],
    ),
    # sections
    (
        "an unknown section",
        lambda doc: doc.update(widgets=[]),
        [f"widgets: unknown section (expected one of: {SECTION_LIST})"],
    ),
    (
        "an unknown section that is no name",
        lambda doc: doc.update({"a b": []}),
        [f"dataset['a b']: unknown section (expected one of: {SECTION_LIST})"],
    ),
    (
        "an unknown section with a line break",
        lambda doc: doc.update({"licences\n": []}),
        [f"dataset['licences\\n']: unknown section (expected one of: {SECTION_LIST})"],
    ),
    # what the database could not store
    (
        "a key longer than its column",
        edit("licenses", 0, key="K" * 65),
        ["licenses[0].key: too long (65 characters, at most 64)"],
    ),
    (
        "a NUL character",
        edit("organizations", 0, name="AC\x00ME"),
        ["organizations[0].name: contains a character that cannot be stored"],
    ),
    (
        "a lone surrogate",
        edit("contacts", 1, name="\ud800"),
        ["contacts[1].name: contains a character that cannot be stored"],
    ),
]


@pytest.mark.parametrize(
    ("change", "errors"),
    [pytest.param(change, errors, id=name) for name, change, errors in REFUSALS],
)
async def test_refusals_name_the_path_and_write_nothing(
    store: Store, change: Callable[[Doc], object], errors: list[str]
) -> None:
    assert await refused(store, changed(change)) == errors


async def test_every_problem_is_listed_at_once(store: Store) -> None:
    doc = base_doc()
    doc["licenses"][0]["type"] = "pirate"
    doc["licenses"][3]["ea"] = "410000009"
    doc["contracts"][0]["level"] = "gold"
    assert await refused(store, doc) == [
        "licenses[0].type: unknown license type 'pirate' "
        "(one of: standard, vspp, oem, nfr, iul, eval)",
        "licenses[3].ea: no account 410000009",
        "contracts[0].level: unknown support level 'gold' (one of: basic, production, saas)",
    ]


async def test_the_list_of_problems_is_capped(store: Store) -> None:
    doc = base_doc()
    doc["licenses"] = [{"key": f"K{n}", "ea": "1"} for n in range(80)]
    errors = await refused(store, doc)
    assert len(errors) == 50
    assert errors[0] == "licenses[0].ea: EA number must be 9 digits, got '1'"


@pytest.mark.parametrize(
    ("document", "error"),
    [
        pytest.param([], "got a list", id="list"),
        pytest.param("hello", "got text", id="text"),
        pytest.param(42, "got a number", id="number"),
    ],
)
async def test_a_document_that_is_not_a_mapping(store: Store, document: Any, error: str) -> None:
    assert await refused(store, document) == [
        f"dataset: expected a mapping of sections ({SECTION_LIST}), {error}"
    ]


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        pytest.param("empty.yml", "", "dataset: the file is empty", id="empty-yaml"),
        pytest.param(
            "comments.yml", "# nothing yet\n\n", "dataset: the file is empty", id="comments-only"
        ),
        pytest.param("empty.json", "  \n", "dataset: the file is empty", id="empty-json"),
        pytest.param(
            "list.yml",
            "- vendors\n- organizations\n",
            f"dataset: expected a mapping of sections ({SECTION_LIST}), got a list",
            id="list",
        ),
        pytest.param(
            "scalar.yml",
            "just some words\n",
            f"dataset: expected a mapping of sections ({SECTION_LIST}), got text",
            id="scalar",
        ),
    ],
)
async def test_files_without_a_dataset(
    store: Store, tmp_path: Path, name: str, text: str, error: str
) -> None:
    assert await refused_file(store, write(tmp_path, name, text)) == [error]


async def test_invalid_yaml_names_the_file_and_line(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.yml", "vendors:\n  - id: vmw\n    name: [VMware\n")
    assert await refused_file(store, path) == [
        f"{path}: not valid YAML (line 4): expected ',' or ']', but got '<stream end>'"
    ]
    tabs = write(tmp_path, "tabs.yml", "vendors:\n\t- id: vmw\n")
    assert await refused_file(store, tabs) == [
        f"{tabs}: not valid YAML (line 2): found character '\\t' that cannot start any token"
    ]


async def test_yaml_tags_for_objects_are_refused(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "evil.yml", "vendors: !!python/object/apply:os.system [echo hi]\n")
    (error,) = await refused_file(store, path)
    assert error.startswith(f"{path}: not valid YAML (line 1): could not determine a constructor")


async def test_a_yaml_tag_on_a_value_it_cannot_read(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "tags.yml", "vendors:\n  - id: vmw\n    name: !!int VMware\n")
    assert await refused_file(store, path) == [
        f"{path}: not valid YAML (line 3): cannot read 'VMware' as tag:yaml.org,2002:int"
    ]
    empty = write(tmp_path, "empty-tag.yml", "vendors: !!bool\n")
    assert await refused_file(store, empty) == [
        f"{empty}: not valid YAML (line 1): cannot read '' as tag:yaml.org,2002:bool"
    ]


async def test_invalid_json_names_the_file_and_line(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path, "broken.json", '{"vendors": [\n  {"id": "vmw",}\n]}')
    assert await refused_file(store, path) == [
        f"{path}: not valid JSON (line 2): Expecting property name enclosed in double quotes"
    ]


async def test_a_missing_file(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yml"
    assert await refused_file(store, path) == [f"{path}: no such file"]


async def test_a_file_nested_too_deeply(store: Store, tmp_path: Path) -> None:
    for name in ("deep.json", "deep.yml"):
        path = write(tmp_path, name, "[" * 100_000)
        assert await refused_file(store, path) == [f"{path}: nested too deeply"]


async def test_an_impossible_unquoted_yaml_date_is_refused_with_its_path(
    store: Store, tmp_path: Path
) -> None:
    doc = base_doc()
    text = yaml.safe_dump(doc, allow_unicode=True).replace("'2027-12-31'", "2027-02-30")
    assert "until: 2027-02-30" in text
    path = write(tmp_path, "dates.yml", text)
    assert await refused_file(store, path) == [
        "grants[0].until: not a date: '2027-02-30' (use YYYY-MM-DD)"
    ]


# --- with data already there ---------------------------------------------------------------


async def test_import_adds_to_what_is_there(store: Store) -> None:
    await import_document(store, base_doc())
    more = {
        "organizations": [
            {"id": "nuage", "kind": "partner", "name": "Nuage", "partner_type": "reseller"}
        ],
        "contacts": [
            {"email": "bruno@acme.example", "org": "acme", "name": "Bruno", "roles": ["user"]},
            {"email": "eoin@vmware.example", "org": "vmw", "name": "Eoin", "roles": ["engineer"]},
        ],
        "accounts": [
            {
                "ea": "411023870",
                "vendor": "vmw",
                "customer": "acme",
                "name": "ACME old",
                "superuser": "bruno@acme.example",
                "merged_into": EA,
            }
        ],
        "grants": [{"ea": EA, "partner": "nuage", "permissions": ["view_support_requests"]}],
        "licenses": [
            {"key": "KEY-9", "ea": EA, "product": "vSAN", "quantity": 4, "type": "eval"},
        ],
        "contracts": [
            {
                "number": "SNS-2",
                "ea": EA,
                "level": "basic",
                "starts": "2026-01-01",
                "ends": "2027-01-01",
            }
        ],
        "subscriptions": [
            {"id": "SUB-2", "ea": EA, "service": "VMC", "seller": "vmw", "quantity": 1}
        ],
        "agreements": [
            {
                "number": "V2",
                "authorization": "AUTH-2",
                "vendor": "vmw",
                "customer": "acme",
                "customer_email": "alice@acme.example",
                "benefit_admins": ["alice@acme.example", "bruno@acme.example"],
            }
        ],
        "sla_targets": [{"vendor": "vmw", "level": "production", "sev3": 480}],
    }
    before = await table_counts(store)
    await import_document(store, more)
    after = await table_counts(store)
    assert {name: after[name] - before[name] for name in after} == {
        **{name: 0 for name in after},
        "organizations": 1,
        "contacts": 2,
        "accounts": 1,
        "grants": 1,
        "licenses": 1,
        "folders": 0,  # Home is there already
        "contracts": 1,
        "subscriptions": 1,
        "agreements": 1,
        "agreement_benefit_admins": 2,
        "sla_targets": 1,
    }
    async with store.read() as conn:
        old = await accounts_db.get_account(conn, ea="411023870")
        overrides = await accounts_db.sla_overrides(conn, vendor="vmw")
    assert old is not None
    assert old.merged_into == EA
    assert overrides == {("production", 1): 30, ("production", 2): 240, ("production", 3): 480}


async def test_import_refuses_duplicates_of_stored_data(store: Store) -> None:
    await import_document(store, base_doc())
    assert await refused(store, base_doc()) == [
        "vendors[0].id: duplicate id 'vmw'",
        "sla_targets[0].sev1: duplicate target for vmw production severity 1",
        "organizations[0].id: duplicate id 'acme'",
        "organizations[1].id: duplicate id 'pixel'",
        "contacts[0].email: duplicate contact alice@acme.example",
        "contacts[1].email: duplicate contact ines@pixel.example",
        "accounts[0].ea: duplicate EA 411023871",
        "grants[0]: duplicate grant of 411023871 to pixel",
        "licenses[0].key: duplicate license key KEY-0",
        "licenses[1].key: duplicate license key KEY-1",
        "licenses[2].key: duplicate license key KEY-2",
        "licenses[3].key: duplicate license key KEY-3",
        "contracts[0].number: duplicate contract SNS-1",
        "subscriptions[0].id: duplicate subscription SUB-1",
        "agreements[0].number: duplicate agreement V1234567",
    ]
    # An email stored in lower case is the same contact in any case.
    assert await refused(
        store,
        {
            "contacts": [
                {"email": "INES@Pixel.example", "org": "pixel", "name": "I", "roles": ["atc"]}
            ]
        },
    ) == ["contacts[0].email: duplicate contact ines@pixel.example"]


async def test_a_support_level_declared_earlier_stays_known(store: Store) -> None:
    doc = base_doc()
    doc["sla_targets"].append({"vendor": "vmw", "level": "Premier", "sev1": 15})
    await import_document(store, doc)
    contract = {
        "number": "P-1",
        "ea": EA,
        "level": "premier",
        "starts": "2026-01-01",
        "ends": "2027-01-01",
    }
    await import_document(store, {"contracts": [contract]})
    async with store.read() as conn:
        levels = {c.level for c in await accounts_db.contracts_on(conn, ea=EA)}
    assert levels == {"production", "premier"}


async def test_replace_swaps_everything(store: Store, now: dt.datetime) -> None:
    await import_file(store, DEMO)
    async with store.write() as conn:
        ticket_id = await tickets_db.insert_ticket(
            conn,
            request_key="r1",
            ea="411023871",
            customer="acme",
            partner="nuage",
            vendor="vmw",
            tier=Tier.PARTNER,
            queue=Queue.TECHNICAL,
            severity=3,
            subject="old world",
            product=None,
            description=None,
            opened_by="alice.martin@acme.example",
            at=now,
        )
        assert ticket_id is not None
        await tickets_db.add_event(conn, ticket_id=ticket_id, at=now, actor=None, kind="opened")
        await tickets_db.insert_clock(
            conn,
            ticket_id=ticket_id,
            tier=Tier.PARTNER,
            started_at=now,
            target_minutes=60,
            around_the_clock=False,
            due_at=now,
            warn_at=now,
        )
        await audit_db.record(conn, at=now, actor=None, action="ticket.open", ea="411023871")
        await outbox_db.enqueue(
            conn, kind="notify", method="chat.postMessage", payload={}, at=now, ticket_id=ticket_id
        )
        await directory_db.link_slack_user(conn, email="alice.martin@acme.example", user_id="U1")
        await accounts_db.add_agreement_partner(
            conn,
            number="V4471203",
            partner="nuage",
            requested_by="marc.dupont@nuage.example",
            at=now,
        )
        await accounts_db.add_confirmation(
            conn,
            kind="superuser",
            ea="411023871",
            requested_by="marc.dupont@nuage.example",
            approver="alice.martin@acme.example",
            subject="marc.dupont@nuage.example",
            at=now,
        )
    data = await import_document(store, base_doc(), replace=True)
    assert data.counts() == BASE_COUNTS
    counts = await table_counts(store)
    assert counts == {
        **{name: 0 for name in counts},
        "organizations": 3,
        "vendors": 1,
        "contacts": 2,
        "accounts": 1,
        "grants": 1,
        "folders": 1,
        "licenses": 4,
        "contracts": 1,
        "subscriptions": 1,
        "agreements": 1,
        "agreement_benefits": 2,
        "agreement_benefit_admins": 1,
        "sla_targets": 2,
    }
    async with store.read() as conn:
        assert await directory_db.get_vendor(conn, id="msft") is None
        assert await directory_db.get_contact_by_slack_id(conn, user_id="U1") is None
        assert await accounts_db.get_account(conn, ea="733190001") is None
    # Replacing with the same file again is fine: nothing is left to clash with.
    assert (await import_document(store, base_doc(), replace=True)).counts() == BASE_COUNTS
    assert await table_counts(store) == counts


async def test_replace_with_a_bad_file_keeps_the_old_data(store: Store) -> None:
    await import_file(store, DEMO)
    before = await table_counts(store)
    doc = base_doc()
    doc["licenses"][3]["ea"] = "410000009"
    assert await refused(store, doc, replace=True) == ["licenses[3].ea: no account 410000009"]
    assert await table_counts(store) == before
    async with store.read() as conn:
        assert await directory_db.get_vendor(conn, id="msft") is not None


async def test_replace_that_fails_while_writing_keeps_the_old_data(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Even a failure after the old data was deleted leaves it in place (one transaction)."""
    await import_file(store, DEMO)
    before = await table_counts(store)

    async def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(accounts_db, "insert_contract", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        await import_document(store, base_doc(), replace=True)
    assert await table_counts(store) == before
