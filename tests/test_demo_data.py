"""Consistency of the demo dataset (data/demo.yml) against the dataset contract.

Plain Python over the parsed YAML, so a broken demo is caught even when the importer
is not involved. "Today" in the demo story is 2026-11-21.
"""

import datetime as dt
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

DEMO = Path(__file__).resolve().parents[1] / "data" / "demo.yml"
TODAY = dt.date(2026, 11, 21)

TOP_LEVEL_KEYS = {
    "vendors",
    "organizations",
    "contacts",
    "accounts",
    "grants",
    "licenses",
    "contracts",
    "subscriptions",
    "agreements",
    "sla_targets",
    "channels",  # optional (shared Slack channels)
}
PARTNER_TYPES = {"reseller", "distributor", "msp", "oem", "vspp"}
ROLES_BY_KIND = {
    "customer": {"superuser", "procurement", "user"},
    "partner": {"agent", "atc", "admin"},
    "vendor": {"engineer", "admin"},
}
PERMISSIONS = {
    "view_license_keys",
    "manage_folders",
    "divide_combine_keys",
    "upgrade_downgrade_keys",
    "view_orders_contracts",
    "file_support_requests",
    "view_support_requests",
    "download_products",
    "manage_roles",
}
LICENSE_TYPES = {"standard", "vspp", "oem", "nfr", "iul", "eval"}
LEVELS = {"basic", "production", "saas"}
LOCALES = {"fr", "en"}
BENEFITS = {
    "training_vouchers",
    "planning_services",
    "home_use_program",
    "e_learning",
    "24x7_problem_resolution_support",
}

SLUG = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
EA = re.compile(r"\d{9}")
KEY = re.compile(r"[A-Z0-9]{5}(?:-[A-Z0-9]{5}){4}")
EMAIL = re.compile(r"[a-z0-9._-]+@[a-z0-9-]+\.example")
CHANNEL = re.compile(r"C[A-Z0-9]{6,11}")
HOURS = re.compile(
    r"(mon|tue|wed|thu|fri|sat|sun)-(mon|tue|wed|thu|fri|sat|sun) \d\d:\d\d-\d\d:\d\d"
)

Row = dict[str, Any]


@pytest.fixture(scope="module")
def data() -> dict[str, list[Row]]:
    loaded = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def orgs(data: dict[str, list[Row]]) -> dict[str, Row]:
    return {o["id"]: o for o in data["organizations"]}


@pytest.fixture(scope="module")
def contacts(data: dict[str, list[Row]]) -> dict[str, Row]:
    return {c["email"].lower(): c for c in data["contacts"]}


@pytest.fixture(scope="module")
def accounts(data: dict[str, list[Row]]) -> dict[str, Row]:
    return {a["ea"]: a for a in data["accounts"]}


def as_date(value: object) -> dt.date:
    # Unquoted YYYY-MM-DD in YAML parses to a date; anything else is a format error.
    assert isinstance(value, dt.date) and not isinstance(value, dt.datetime), value
    return value


def optional_date(value: object) -> dt.date | None:
    return None if value is None else as_date(value)


def is_active(grant: Row) -> bool:
    until = optional_date(grant["until"])
    return until is None or until >= TODAY


def kind_of(org_id: str, orgs: dict[str, Row], vendor_ids: set[str]) -> str:
    return "vendor" if org_id in vendor_ids else orgs[org_id]["kind"]


def test_top_level_keys_are_exactly_the_contract(data: dict[str, list[Row]]) -> None:
    assert set(data) == TOP_LEVEL_KEYS
    assert all(isinstance(data[key], list) and data[key] for key in TOP_LEVEL_KEYS)


def test_identifiers_are_unique(data: dict[str, list[Row]]) -> None:
    ids = {
        "vendor/org id": [v["id"] for v in data["vendors"]]
        + [o["id"] for o in data["organizations"]],
        "email": [c["email"].lower() for c in data["contacts"]],
        "ea": [a["ea"] for a in data["accounts"]],
        "license key": [lic["key"] for lic in data["licenses"]],
        "contract": [c["number"] for c in data["contracts"]],
        "subscription": [s["id"] for s in data["subscriptions"]],
        "agreement": [a["number"] for a in data["agreements"]],
        "grant": [(g["ea"], g["partner"]) for g in data["grants"]],
    }
    for what, values in ids.items():
        duplicates = [v for v, n in Counter(values).items() if n > 1]
        assert not duplicates, f"duplicate {what}: {duplicates}"


def test_vendors(data: dict[str, list[Row]]) -> None:
    vendors = {v["id"]: v for v in data["vendors"]}
    assert {"vmw", "msft"} <= set(vendors)
    assert vendors["vmw"]["severity_labels"] == {1: "Sev 1", 2: "Sev 2", 3: "Sev 3", 4: "Sev 4"}
    assert vendors["msft"]["severity_labels"] == {1: "A", 2: "B", 3: "C", 4: "C"}
    for vendor in vendors.values():
        assert SLUG.fullmatch(vendor["id"])
        assert vendor["name"]
        assert CHANNEL.fullmatch(vendor["queue_channel"])
        assert CHANNEL.fullmatch(vendor["business_queue_channel"])
        assert vendor["queue_channel"] != vendor["business_queue_channel"]
        assert set(vendor["severity_labels"]) <= {1, 2, 3, 4}
        ZoneInfo(vendor["timezone"])
        assert HOURS.fullmatch(vendor["business_hours"])
    assert vendors["vmw"]["timezone"] == "Europe/Dublin"
    assert vendors["vmw"]["business_hours"] == "mon-fri 08:00-20:00"


def test_organizations(data: dict[str, list[Row]], orgs: dict[str, Row]) -> None:
    for org in orgs.values():
        assert SLUG.fullmatch(org["id"]), org["id"]
        assert org["kind"] in {"customer", "partner"}
        assert org["name"]
        assert org["locale"] in LOCALES
        ZoneInfo(org["timezone"])
        assert HOURS.fullmatch(org["business_hours"]), org["business_hours"]
        if org["kind"] == "partner":
            assert org["partner_type"] in PARTNER_TYPES
            assert CHANNEL.fullmatch(org["queue_channel"])
        else:
            assert "partner_type" not in org and "queue_channel" not in org
    channels = [o["queue_channel"] for o in orgs.values() if o["kind"] == "partner"]
    channels += [
        v[key] for v in data["vendors"] for key in ("queue_channel", "business_queue_channel")
    ]
    assert len(channels) == len(set(channels)), "queue channels must be distinct"

    partners = [o for o in orgs.values() if o["kind"] == "partner"]
    assert {p["partner_type"] for p in partners} == PARTNER_TYPES
    assert {p["locale"] for p in partners} == LOCALES
    customers = [o for o in orgs.values() if o["kind"] == "customer"]
    assert len(customers) >= 5
    assert {c["locale"] for c in customers} == LOCALES


def test_contacts_belong_to_known_orgs_with_valid_roles(
    data: dict[str, list[Row]], orgs: dict[str, Row], contacts: dict[str, Row]
) -> None:
    vendor_ids = {v["id"] for v in data["vendors"]}
    for contact in contacts.values():
        assert EMAIL.fullmatch(contact["email"]), contact["email"]
        assert contact["org"] in orgs or contact["org"] in vendor_ids, contact["email"]
        assert contact["name"]
        assert contact["locale"] in LOCALES
        roles = contact["roles"]
        assert roles and len(roles) == len(set(roles))
        allowed = ROLES_BY_KIND[kind_of(contact["org"], orgs, vendor_ids)]
        assert set(roles) <= allowed, (contact["email"], roles)


def test_people_cover_every_part_of_the_story(
    data: dict[str, list[Row]], orgs: dict[str, Row], contacts: dict[str, Row]
) -> None:
    roles_by_org: dict[str, list[set[str]]] = defaultdict(list)
    for contact in contacts.values():
        roles_by_org[contact["org"]].append(set(contact["roles"]))

    def has_role(org_id: str, role: str) -> bool:
        return any(role in roles for roles in roles_by_org[org_id])

    partners = {o["id"]: o for o in orgs.values() if o["kind"] == "partner"}
    for partner_id in partners:
        assert has_role(partner_id, "agent") and has_role(partner_id, "admin"), partner_id
    for partner_type in ("msp", "reseller"):
        assert any(
            has_role(pid, "atc") for pid, p in partners.items() if p["partner_type"] == partner_type
        ), f"no ATC at any {partner_type}"
    # A reseller with no ATC shows the "ask your ATC" refusal.
    assert any(
        p["partner_type"] == "reseller" and not has_role(pid, "atc") for pid, p in partners.items()
    )

    vendor_ids = [v["id"] for v in data["vendors"]]
    for vendor_id in vendor_ids:
        assert has_role(vendor_id, "engineer"), vendor_id
    assert any(has_role(vendor_id, "admin") for vendor_id in vendor_ids)

    for org_id, org in orgs.items():
        if org["kind"] == "customer":
            assert has_role(org_id, "superuser"), org_id


def test_accounts(
    data: dict[str, list[Row]],
    orgs: dict[str, Row],
    contacts: dict[str, Row],
    accounts: dict[str, Row],
) -> None:
    vendor_ids = {v["id"] for v in data["vendors"]}
    assert len(accounts) >= 10
    for ea, account in accounts.items():
        assert isinstance(ea, str) and EA.fullmatch(ea), ea
        assert account["vendor"] in vendor_ids
        assert orgs[account["customer"]]["kind"] == "customer"
        assert account["name"]
        superuser = contacts[account["superuser"].lower()]
        assert superuser["org"] == account["customer"], ea
        assert "superuser" in superuser["roles"], ea
        target = account["merged_into"]
        if target is not None:
            assert target != ea and target in accounts, ea
            merged = accounts[target]
            assert merged["merged_into"] is None
            assert (merged["customer"], merged["vendor"]) == (
                account["customer"],
                account["vendor"],
            )

    assert {a["vendor"] for a in accounts.values()} == vendor_ids
    assert any(a["merged_into"] for a in accounts.values())
    per_customer = Counter(a["customer"] for a in accounts.values() if a["merged_into"] is None)
    assert max(per_customer.values()) >= 3


def test_grants(data: dict[str, list[Row]], orgs: dict[str, Row], accounts: dict[str, Row]) -> None:
    for grant in data["grants"]:
        assert grant["ea"] in accounts and accounts[grant["ea"]]["merged_into"] is None
        assert orgs[grant["partner"]]["kind"] == "partner", grant["partner"]
        permissions = grant["permissions"]
        assert permissions and set(permissions) <= PERMISSIONS, permissions
        assert len(permissions) == len(set(permissions))
        optional_date(grant["until"])

    untils = [optional_date(g["until"]) for g in data["grants"]]
    assert any(u is not None and u < TODAY for u in untils), "an expired grant"
    assert any(u is not None and TODAY <= u <= TODAY + dt.timedelta(days=60) for u in untils)
    assert any(u is None for u in untils)
    assert len({frozenset(g["permissions"]) for g in data["grants"]}) >= 4


def filers(data: dict[str, list[Row]]) -> dict[str, set[str]]:
    """EA → partners whose active grant lets them file support requests."""
    result: dict[str, set[str]] = defaultdict(set)
    for grant in data["grants"]:
        if is_active(grant) and "file_support_requests" in grant["permissions"]:
            result[grant["ea"]].add(grant["partner"])
    return result


def test_routing_scenarios_are_present(
    data: dict[str, list[Row]], orgs: dict[str, Row], accounts: dict[str, Row]
) -> None:
    by_ea = filers(data)
    live = [ea for ea, a in accounts.items() if a["merged_into"] is None]

    # R1: an EA with no partner goes straight to the vendor.
    assert any(ea not in by_ea for ea in live)

    # R1 tie: two filing partners, and the licenses' sellers tell them apart.
    sellers: dict[str, set[str]] = defaultdict(set)
    for lic in data["licenses"]:
        if lic["sold_by"] is not None:
            sellers[lic["ea"]].add(lic["sold_by"])
    ties = [ea for ea, partners in by_ea.items() if len(partners) >= 2]
    assert ties
    assert any(by_ea[ea] <= sellers[ea] for ea in ties)

    # R2: an end customer whose only filing partner is an MSP.
    assert any(
        partners and all(orgs[p]["partner_type"] == "msp" for p in partners)
        for partners in by_ea.values()
    )


def test_licenses(
    data: dict[str, list[Row]], orgs: dict[str, Row], accounts: dict[str, Row]
) -> None:
    licenses = data["licenses"]
    assert len(licenses) >= 30
    for lic in licenses:
        assert KEY.fullmatch(lic["key"]), lic["key"]
        assert lic["ea"] in accounts and accounts[lic["ea"]]["merged_into"] is None
        assert lic["product"]
        assert isinstance(lic["quantity"], int) and lic["quantity"] > 0
        assert lic["unit"]
        assert lic["type"] in LICENSE_TYPES
        assert lic["folder"]
        assert isinstance(lic["order"], str) and lic["order"]
        assert lic["sold_by"] is None or orgs[lic["sold_by"]]["kind"] == "partner"
        optional_date(lic["expires"])

    assert {lic["type"] for lic in licenses} == LICENSE_TYPES
    assert {"CPU", "core", "VM", "user"} <= {lic["unit"] for lic in licenses}
    folders = {lic["folder"] for lic in licenses}
    assert "Home" in folders and len(folders) > 1
    expiries = [e for lic in licenses if (e := optional_date(lic["expires"])) is not None]
    assert any(e < TODAY for e in expiries)
    assert any(TODAY <= e <= TODAY + dt.timedelta(days=90) for e in expiries)
    # OEM keys come from an OEM partner; VSPP keys sit on an account a VSPP partner manages.
    vspp_eas = {g["ea"] for g in data["grants"] if orgs[g["partner"]]["partner_type"] == "vspp"}
    for lic in licenses:
        if lic["type"] == "oem":
            assert orgs[lic["sold_by"]]["partner_type"] == "oem"
        if lic["type"] == "vspp":
            assert lic["ea"] in vspp_eas


def test_a_product_belongs_to_one_vendor(
    data: dict[str, list[Row]], accounts: dict[str, Row]
) -> None:
    vendors_of: dict[str, set[str]] = defaultdict(set)
    for lic in data["licenses"]:
        vendors_of[lic["product"]].add(accounts[lic["ea"]]["vendor"])
    for sub in data["subscriptions"]:
        vendors_of[sub["service"]].add(accounts[sub["ea"]]["vendor"])
    for contract in data["contracts"]:
        for product in contract["products"]:
            vendors_of[product].add(accounts[contract["ea"]]["vendor"])
    mixed = {p: v for p, v in vendors_of.items() if len(v) > 1}
    assert not mixed


def test_contracts(data: dict[str, list[Row]], accounts: dict[str, Row]) -> None:
    held: dict[str, set[str]] = defaultdict(set)
    for lic in data["licenses"]:
        held[lic["ea"]].add(lic["product"])
    for sub in data["subscriptions"]:
        held[sub["ea"]].add(sub["service"])

    for contract in data["contracts"]:
        assert contract["ea"] in accounts and accounts[contract["ea"]]["merged_into"] is None
        assert contract["level"] in LEVELS
        assert as_date(contract["starts"]) < as_date(contract["ends"])
        products = contract["products"]
        assert products and set(products) <= held[contract["ea"]], contract["number"]

    contracts = data["contracts"]
    assert {c["level"] for c in contracts} == LEVELS
    ends = [as_date(c["ends"]) for c in contracts]
    assert any(e < TODAY for e in ends), "an expired contract"
    assert any(TODAY <= e <= TODAY + dt.timedelta(days=60) for e in ends)

    active: dict[str, list[Row]] = defaultdict(list)
    for contract in contracts:
        if as_date(contract["starts"]) <= TODAY <= as_date(contract["ends"]):
            active[contract["ea"]].append(contract)
    # Sev1 refusal: an EA whose only contract is basic.
    assert any({c["level"] for c in cs} == {"basic"} for cs in active.values())
    # No-contract refusal: a licensed product that no active contract covers.
    covered = {ea: {p for c in cs for p in c["products"]} for ea, cs in active.items()}
    assert any(
        lic["type"] == "standard"
        and lic["ea"] in covered
        and lic["product"] not in covered[lic["ea"]]
        for lic in data["licenses"]
    )


def test_subscriptions(
    data: dict[str, list[Row]], orgs: dict[str, Row], accounts: dict[str, Row]
) -> None:
    seller_kinds = set()
    for sub in data["subscriptions"]:
        assert isinstance(sub["id"], str) and sub["id"]
        account = accounts[sub["ea"]]
        assert account["merged_into"] is None
        assert sub["service"]
        seller = sub["seller"]
        if seller == account["vendor"]:
            seller_kinds.add("vendor")
        else:
            assert orgs[seller]["kind"] == "partner", seller
            seller_kinds.add("partner")
        assert isinstance(sub["quantity"], int) and sub["quantity"] > 0
        as_date(sub["ends"])
        assert sub["contract_code"] is None or isinstance(sub["contract_code"], str)
    assert seller_kinds == {"vendor", "partner"}


def test_agreements(
    data: dict[str, list[Row]], orgs: dict[str, Row], contacts: dict[str, Row]
) -> None:
    vendor_ids = {v["id"] for v in data["vendors"]}
    for agreement in data["agreements"]:
        assert isinstance(agreement["number"], str) and isinstance(agreement["authorization"], str)
        assert agreement["vendor"] in vendor_ids
        customer = agreement["customer"]
        assert orgs[customer]["kind"] == "customer"
        assert contacts[agreement["customer_email"].lower()]["org"] == customer
        assert set(agreement["benefits"]) <= BENEFITS
        for email in agreement["benefit_admins"]:
            assert contacts[email.lower()]["org"] == customer, email
    assert any(a["benefits"] and a["benefit_admins"] for a in data["agreements"])


def test_sla_targets(data: dict[str, list[Row]]) -> None:
    vendor_ids = {v["id"] for v in data["vendors"]}
    for target in data["sla_targets"]:
        assert target["vendor"] in vendor_ids
        assert target["level"] in LEVELS
        minutes = {k: v for k, v in target.items() if k.startswith("sev")}
        assert set(minutes) == {"sev1", "sev2", "sev3", "sev4"}
        assert all(isinstance(m, int) and m > 0 for m in minutes.values())
        assert minutes["sev1"] <= minutes["sev2"] <= minutes["sev3"] <= minutes["sev4"]


def test_header_only_names_real_people(contacts: dict[str, Row]) -> None:
    header = []
    for line in DEMO.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    assert any("supportbot console --as" in line for line in header)
    named = set(EMAIL.findall("\n".join(header)))
    assert named, "the header names the people to play"
    assert named <= set(contacts), named - set(contacts)
