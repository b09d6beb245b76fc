"""Dataset import (DESIGN.md §8): YAML or JSON, checked whole, then written in one
transaction. Every error names its place, e.g. ``licenses[3].ea: no account 410000009``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import sla
from bot.domain import (
    ROLES_BY_KIND,
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
    Role,
    Subscription,
    SupportLevel,
    Vendor,
)
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import directory as directory_db
from bot.store import tables as t
from bot.text import normalize_email

SECTIONS = (
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
)
LOCALES = ("en", "fr")
EA_PATTERN = re.compile(r"^\d{9}$")
SLUG_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
CHANNEL_PATTERN = re.compile(r"^[CGD][A-Z0-9]{2,31}$")
MAX_ERRORS = 50


class DatasetError(Exception):
    """The dataset was refused; ``errors`` lists every problem found, each with its path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class _Invalid(Exception):
    """One field is wrong; the checker records it and goes on with the next item."""


@dataclass
class Dataset:
    vendors: list[Vendor] = field(default_factory=list)
    organizations: list[Organization] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    accounts: list[Account] = field(default_factory=list)
    grants: list[Grant] = field(default_factory=list)
    licenses: list[License] = field(default_factory=list)
    contracts: list[Contract] = field(default_factory=list)
    subscriptions: list[Subscription] = field(default_factory=list)
    agreements: list[Agreement] = field(default_factory=list)
    sla_targets: list[tuple[str, str, int, int]] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SECTIONS}


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


def load_file(path: Path | str) -> Any:
    """Parse a YAML or JSON file; the error names the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError([f"{path}: cannot read: {exc}"]) from None
    try:
        if path.suffix.lower() == ".json":
            return json.loads(text) if text.strip() else None
        return yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise DatasetError([f"{path}: not valid JSON (line {exc.lineno}): {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError([f"{path}: not valid YAML{where}: {problem}"]) from None


T = TypeVar("T")


class Checker:
    """Turns the raw document into domain objects, collecting errors with their paths."""

    def __init__(self, existing: Existing | None = None) -> None:
        self.errors: list[str] = []
        self.existing = existing or Existing()
        self.data = Dataset()
        self.org_kinds: dict[str, OrgKind] = dict(self.existing.orgs)
        self.vendor_ids: set[str] = {
            k for k, v in self.existing.orgs.items() if v is OrgKind.VENDOR
        }
        self.contact_orgs: dict[str, str] = dict(self.existing.contacts)
        self.contact_roles: dict[str, frozenset[Role]] = {}
        self.account_customers: dict[str, str] = dict(self.existing.accounts)
        self.levels: set[str] = {level.value for level in SupportLevel}
        self.license_keys: set[str] = set(self.existing.license_keys)

    # --- primitives -------------------------------------------------------------------

    def error(self, path: str, message: str) -> None:
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(f"{path}: {message}")

    def items(self, doc: dict[str, Any], section: str) -> Iterator[tuple[str, dict[str, Any]]]:
        raw = doc.get(section)
        if raw is None:
            return
        if not isinstance(raw, list):
            self.error(section, f"expected a list, got {_kind(raw)}")
            return
        for index, item in enumerate(raw):
            path = f"{section}[{index}]"
            if not isinstance(item, dict):
                self.error(path, f"expected a mapping, got {_kind(item)}")
                continue
            yield path, item

    def each(
        self, doc: dict[str, Any], section: str, build: Callable[[str, dict[str, Any]], None]
    ) -> None:
        for path, item in self.items(doc, section):
            with contextlib.suppress(_Invalid):
                build(path, item)

    def fail(self, path: str, message: str) -> _Invalid:
        self.error(path, message)
        return _Invalid()

    def text(
        self, item: dict[str, Any], path: str, name: str, *, required: bool = True
    ) -> str | None:
        value = item.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(f"{path}.{name}", "required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{path}.{name}", f"expected text, got {_kind(value)}")
        return str(value).strip()

    def req(self, item: dict[str, Any], path: str, name: str) -> str:
        value = self.text(item, path, name)
        assert value is not None
        return value

    def integer(self, item: dict[str, Any], path: str, name: str, *, minimum: int = 0) -> int:
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{path}.{name}", f"expected a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.fail(f"{path}.{name}", f"must be at least {minimum}, got {value}")
        return value

    def date(
        self, item: dict[str, Any], path: str, name: str, *, required: bool = False
    ) -> dt.date | None:
        value = item.get(name)
        if value is None:
            if required:
                raise self.fail(f"{path}.{name}", "required (YYYY-MM-DD)")
            return None
        if isinstance(value, dt.datetime):
            return value.date()
        if isinstance(value, dt.date):
            return value
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value.strip())
            except ValueError:
                pass
        raise self.fail(f"{path}.{name}", f"not a date: {value!r} (use YYYY-MM-DD)")

    def strings(
        self, item: dict[str, Any], path: str, name: str, *, required: bool = False
    ) -> list[str]:
        value = item.get(name)
        if value is None:
            if required:
                raise self.fail(f"{path}.{name}", "required (a list)")
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{name}", f"expected a list, got {_kind(value)}")
        out: list[str] = []
        for index, element in enumerate(value):
            if isinstance(element, bool) or not isinstance(element, str | int):
                raise self.fail(f"{path}.{name}[{index}]", f"expected text, got {_kind(element)}")
            out.append(str(element).strip())
        return out

    def choice(self, value: str, path: str, options: type[T], what: str) -> T:
        try:
            return options(value)  # type: ignore[call-arg]
        except ValueError:
            allowed = ", ".join(o.value for o in options)  # type: ignore[attr-defined]
            raise self.fail(path, f"unknown {what} {value!r} (one of: {allowed})") from None

    def slug(self, item: dict[str, Any], path: str) -> str:
        value = self.req(item, path, "id")
        if not SLUG_PATTERN.match(value):
            raise self.fail(
                f"{path}.id", f"{value!r} is not a slug (lower-case letters, digits, - and _)"
            )
        if value in self.org_kinds:
            raise self.fail(f"{path}.id", f"duplicate id {value!r}")
        return value

    def ea(self, item: dict[str, Any], path: str, name: str = "ea", *, known: bool = True) -> str:
        value = self.req(item, path, name)
        if not EA_PATTERN.match(value):
            raise self.fail(f"{path}.{name}", f"EA number must be 9 digits, got {value!r}")
        if known and value not in self.account_customers:
            raise self.fail(f"{path}.{name}", f"no account {value}")
        return value

    def timezone(self, item: dict[str, Any], path: str, default: str) -> str:
        value = self.text(item, path, "timezone", required=False) or default
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise self.fail(f"{path}.timezone", f"unknown timezone {value!r}") from None
        return value

    def hours(self, item: dict[str, Any], path: str, default: str) -> str:
        value = self.text(item, path, "business_hours", required=False) or default
        try:
            sla.parse_business_hours(value)
        except ValueError as exc:
            raise self.fail(f"{path}.business_hours", str(exc)) from None
        return value

    def locale(self, item: dict[str, Any], path: str, *, required: bool) -> str | None:
        value = self.text(item, path, "locale", required=False)
        if value is None:
            return "en" if required else None
        value = value.lower()
        if value not in LOCALES:
            raise self.fail(f"{path}.locale", f"unknown locale {value!r} (one of: en, fr)")
        return value

    def channel(self, item: dict[str, Any], path: str, name: str) -> str | None:
        value = self.text(item, path, name, required=False)
        if value is not None and not CHANNEL_PATTERN.match(value):
            raise self.fail(
                f"{path}.{name}", f"{value!r} is not a Slack channel id (like C0123ABCD)"
            )
        return value

    def org_ref(self, value: str, path: str, *, kinds: tuple[OrgKind, ...], what: str) -> str:
        kind = self.org_kinds.get(value)
        if kind is None:
            raise self.fail(path, f"no {what} {value!r}")
        if kind not in kinds:
            raise self.fail(path, f"{value!r} is a {kind.value}, not a {what}")
        return value

    # --- sections --------------------------------------------------------------------

    def check(self, doc: Any) -> Dataset:
        if doc is None:
            raise DatasetError(["dataset: the file is empty"])
        if not isinstance(doc, dict):
            raise DatasetError(
                [
                    f"dataset: expected a mapping of sections ({', '.join(SECTIONS)}), got {_kind(doc)}"
                ]
            )
        for key in doc:
            if key not in SECTIONS:
                self.error(str(key), f"unknown section (expected one of: {', '.join(SECTIONS)})")
        # sla_targets first: they may declare vendor-specific support levels
        self.each(doc, "vendors", self.vendor)
        self.each(doc, "sla_targets", self.sla_target)
        self.each(doc, "organizations", self.organization)
        self.each(doc, "contacts", self.contact)
        self.each(doc, "accounts", self.account)
        self.each(doc, "accounts", self.account_links)
        self.each(doc, "grants", self.grant)
        self.each(doc, "licenses", self.license)
        self.each(doc, "contracts", self.contract)
        self.each(doc, "subscriptions", self.subscription)
        self.each(doc, "agreements", self.agreement)
        if self.errors:
            raise DatasetError(self.errors)
        return self.data

    def vendor(self, path: str, item: dict[str, Any]) -> None:
        vid = self.slug(item, path)
        labels_raw = item.get("severity_labels")
        labels: dict[int, str] = {n: f"Sev {n}" for n in range(1, 5)}
        if labels_raw is not None:
            if not isinstance(labels_raw, dict):
                raise self.fail(
                    f"{path}.severity_labels",
                    f"expected a mapping 1..4 → label, got {_kind(labels_raw)}",
                )
            for key, label in labels_raw.items():
                try:
                    severity = int(key)
                except (TypeError, ValueError):
                    severity = 0
                if severity not in (1, 2, 3, 4):
                    raise self.fail(
                        f"{path}.severity_labels", f"severity {key!r} is not 1, 2, 3 or 4"
                    )
                if (
                    not isinstance(label, str | int)
                    or isinstance(label, bool)
                    or not str(label).strip()
                ):
                    raise self.fail(f"{path}.severity_labels.{severity}", "expected a label")
                labels[severity] = str(label).strip()
        vendor = Vendor(
            id=vid,
            name=self.req(item, path, "name"),
            queue_channel=self.channel(item, path, "queue_channel"),
            business_queue_channel=self.channel(item, path, "business_queue_channel"),
            severity_labels=labels,
            timezone=self.timezone(item, path, "UTC"),
            business_hours=self.hours(item, path, "mon-fri 08:00-20:00"),
        )
        self.org_kinds[vid] = OrgKind.VENDOR
        self.vendor_ids.add(vid)
        self.data.vendors.append(vendor)

    def sla_target(self, path: str, item: dict[str, Any]) -> None:
        vendor = self.req(item, path, "vendor")
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        level = self.req(item, path, "level").lower()
        found = False
        for severity in (1, 2, 3, 4):
            if item.get(f"sev{severity}") is None:
                continue
            minutes = self.integer(item, path, f"sev{severity}", minimum=1)
            self.data.sla_targets.append((vendor, level, severity, minutes))
            found = True
        unknown = sorted(set(item) - {"vendor", "level", "sev1", "sev2", "sev3", "sev4"})
        if unknown:
            raise self.fail(f"{path}.{unknown[0]}", "unknown field (use sev1..sev4, in minutes)")
        if not found:
            raise self.fail(path, "no target given (sev1..sev4, in minutes)")
        self.levels.add(level)

    def organization(self, path: str, item: dict[str, Any]) -> None:
        oid = self.slug(item, path)
        kind_text = self.req(item, path, "kind").lower()
        kind = self.choice(kind_text, f"{path}.kind", OrgKind, "organization kind")
        if kind is OrgKind.VENDOR:
            raise self.fail(f"{path}.kind", "vendors go in the vendors section")
        partner_type = None
        type_text = self.text(item, path, "partner_type", required=kind is OrgKind.PARTNER)
        if type_text is not None:
            if kind is not OrgKind.PARTNER:
                raise self.fail(f"{path}.partner_type", "only partners have a partner_type")
            partner_type = self.choice(
                type_text.lower(), f"{path}.partner_type", PartnerType, "partner type"
            )
        org = Organization(
            id=oid,
            kind=kind,
            name=self.req(item, path, "name"),
            partner_type=partner_type,
            locale=self.locale(item, path, required=True) or "en",
            timezone=self.timezone(item, path, "Europe/Paris"),
            business_hours=self.hours(item, path, "mon-fri 09:00-18:00"),
            queue_channel=self.channel(item, path, "queue_channel"),
        )
        self.org_kinds[oid] = kind
        self.data.organizations.append(org)

    def contact(self, path: str, item: dict[str, Any]) -> None:
        email = normalize_email(self.req(item, path, "email"))
        if not EMAIL_PATTERN.match(email):
            raise self.fail(f"{path}.email", f"{email!r} is not an email address")
        if email in self.contact_orgs:
            raise self.fail(f"{path}.email", f"duplicate contact {email}")
        org = self.req(item, path, "org")
        kind = self.org_kinds.get(org)
        if kind is None:
            raise self.fail(f"{path}.org", f"no organization or vendor {org!r}")
        roles: set[Role] = set()
        role_names = self.strings(item, path, "roles", required=True)
        if not role_names:
            raise self.fail(f"{path}.roles", "at least one role")
        for index, name in enumerate(role_names):
            role = self.choice(name.lower(), f"{path}.roles[{index}]", Role, "role")
            if role not in ROLES_BY_KIND[kind]:
                allowed = ", ".join(sorted(r.value for r in ROLES_BY_KIND[kind]))
                raise self.fail(
                    f"{path}.roles[{index}]",
                    f"role {role.value!r} is not for a {kind.value} (one of: {allowed})",
                )
            roles.add(role)
        contact = Contact(
            email=email,
            org=org,
            org_kind=kind,
            name=self.req(item, path, "name"),
            roles=frozenset(roles),
            locale=self.locale(item, path, required=False),
        )
        self.contact_orgs[email] = org
        self.contact_roles[email] = contact.roles
        self.data.contacts.append(contact)

    def account(self, path: str, item: dict[str, Any]) -> None:
        ea = self.ea(item, path, known=False)
        if ea in self.account_customers:
            raise self.fail(f"{path}.ea", f"duplicate EA {ea}")
        vendor = self.req(item, path, "vendor")
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        customer = self.org_ref(
            self.req(item, path, "customer"),
            f"{path}.customer",
            kinds=(OrgKind.CUSTOMER,),
            what="customer",
        )
        superuser = self.text(item, path, "superuser", required=False)
        if superuser is not None:
            superuser = normalize_email(superuser)
            owner = self.contact_orgs.get(superuser)
            if owner is None:
                raise self.fail(f"{path}.superuser", f"no contact {superuser}")
            if owner != customer:
                raise self.fail(f"{path}.superuser", f"{superuser} is not a contact of {customer}")
        self.account_customers[ea] = customer
        self.data.accounts.append(
            Account(
                ea=ea,
                vendor=vendor,
                customer=customer,
                name=self.req(item, path, "name"),
                superuser=superuser,
            )
        )

    def account_links(self, path: str, item: dict[str, Any]) -> None:
        """Second pass: merges may point to EAs listed later in the file."""
        if item.get("merged_into") is None:
            return
        ea = self.ea(item, path)
        target = self.ea(item, path, "merged_into")
        if target == ea:
            raise self.fail(f"{path}.merged_into", "an EA cannot be merged into itself")
        for index, account in enumerate(self.data.accounts):
            if account.ea == ea:
                self.data.accounts[index] = Account(
                    ea=account.ea,
                    vendor=account.vendor,
                    customer=account.customer,
                    name=account.name,
                    superuser=account.superuser,
                    merged_into=target,
                )

    def grant(self, path: str, item: dict[str, Any]) -> None:
        ea = self.ea(item, path)
        partner = self.org_ref(
            self.req(item, path, "partner"),
            f"{path}.partner",
            kinds=(OrgKind.PARTNER,),
            what="partner",
        )
        if (ea, partner) in self.existing.grants or any(
            g.ea == ea and g.partner == partner for g in self.data.grants
        ):
            raise self.fail(path, f"duplicate grant of {ea} to {partner}")
        names = item.get("permissions")
        if names == "all":
            permissions = set(Permission)
        else:
            permissions = set()
            for index, name in enumerate(self.strings(item, path, "permissions", required=True)):
                permissions.add(
                    self.choice(
                        name.lower(), f"{path}.permissions[{index}]", Permission, "permission"
                    )
                )
        self.data.grants.append(
            Grant(
                ea=ea,
                partner=partner,
                permissions=frozenset(permissions),
                until=self.date(item, path, "until"),
            )
        )

    def license(self, path: str, item: dict[str, Any]) -> None:
        key = self.req(item, path, "key")
        if key in self.license_keys:
            raise self.fail(f"{path}.key", f"duplicate license key {key}")
        ea = self.ea(item, path)
        sold_by = self.text(item, path, "sold_by", required=False)
        if sold_by is not None:
            self.org_ref(
                sold_by, f"{path}.sold_by", kinds=(OrgKind.PARTNER, OrgKind.VENDOR), what="partner"
            )
        lic = License(
            key=key,
            ea=ea,
            product=self.req(item, path, "product"),
            quantity=self.integer(item, path, "quantity", minimum=1),
            unit=self.text(item, path, "unit", required=False) or "unit",
            type=self.choice(
                self.req(item, path, "type").lower(), f"{path}.type", LicenseType, "license type"
            ),
            folder=self.text(item, path, "folder", required=False) or "Home",
            order=self.text(item, path, "order", required=False),
            sold_by=sold_by,
            expires=self.date(item, path, "expires"),
        )
        self.license_keys.add(key)
        self.data.licenses.append(lic)

    def contract(self, path: str, item: dict[str, Any]) -> None:
        number = self.req(item, path, "number")
        if number in self.existing.contracts or any(
            c.number == number for c in self.data.contracts
        ):
            raise self.fail(f"{path}.number", f"duplicate contract {number}")
        ea = self.ea(item, path)
        level = self.req(item, path, "level").lower()
        if level not in self.levels:
            raise self.fail(
                f"{path}.level",
                f"unknown support level {level!r} (one of: {', '.join(sorted(self.levels))})",
            )
        starts = self.date(item, path, "starts", required=True)
        ends = self.date(item, path, "ends", required=True)
        assert starts is not None and ends is not None
        if ends < starts:
            raise self.fail(
                f"{path}.ends", f"the contract ends ({ends}) before it starts ({starts})"
            )
        self.data.contracts.append(
            Contract(
                number=number,
                ea=ea,
                level=level,
                starts=starts,
                ends=ends,
                products=tuple(self.strings(item, path, "products")),
            )
        )

    def subscription(self, path: str, item: dict[str, Any]) -> None:
        sid = self.req(item, path, "id")
        if sid in self.existing.subscriptions or any(s.id == sid for s in self.data.subscriptions):
            raise self.fail(f"{path}.id", f"duplicate subscription {sid}")
        ea = self.ea(item, path)
        seller = self.org_ref(
            self.req(item, path, "seller"),
            f"{path}.seller",
            kinds=(OrgKind.PARTNER, OrgKind.VENDOR),
            what="partner or vendor",
        )
        self.data.subscriptions.append(
            Subscription(
                id=sid,
                ea=ea,
                service=self.req(item, path, "service"),
                seller=seller,
                quantity=self.integer(item, path, "quantity", minimum=1),
                ends=self.date(item, path, "ends"),
                contract_code=self.text(item, path, "contract_code", required=False),
            )
        )

    def agreement(self, path: str, item: dict[str, Any]) -> None:
        number = self.req(item, path, "number")
        if number in self.existing.agreements or any(
            a.number == number for a in self.data.agreements
        ):
            raise self.fail(f"{path}.number", f"duplicate agreement {number}")
        vendor = self.req(item, path, "vendor")
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        customer = self.org_ref(
            self.req(item, path, "customer"),
            f"{path}.customer",
            kinds=(OrgKind.CUSTOMER,),
            what="customer",
        )
        email = normalize_email(self.req(item, path, "customer_email"))
        if not EMAIL_PATTERN.match(email):
            raise self.fail(f"{path}.customer_email", f"{email!r} is not an email address")
        admins = [normalize_email(e) for e in self.strings(item, path, "benefit_admins")]
        for index, admin in enumerate(admins):
            if self.contact_orgs.get(admin) != customer:
                raise self.fail(
                    f"{path}.benefit_admins[{index}]", f"{admin} is not a contact of {customer}"
                )
        self.data.agreements.append(
            Agreement(
                number=number,
                authorization=self.req(item, path, "authorization"),
                vendor=vendor,
                customer=customer,
                customer_email=email,
                benefits=tuple(self.strings(item, path, "benefits")),
                benefit_admins=tuple(admins),
            )
        )


def _kind(value: Any) -> str:
    if value is None:
        return "nothing"
    return {
        dict: "a mapping",
        list: "a list",
        str: "text",
        int: "a number",
        float: "a number",
        bool: "true/false",
    }.get(type(value), type(value).__name__)


def check(doc: Any, existing: Existing | None = None) -> Dataset:
    """Validate a parsed document; raise DatasetError listing every problem."""
    return Checker(existing).check(doc)


# --- writing ------------------------------------------------------------------------------

# Children before parents, for --replace.
_DELETE_ORDER = (
    t.outbox,
    t.confirmations,
    t.audit_entries,
    t.ticket_events,
    t.ticket_clocks,
    t.tickets,
    t.sla_targets,
    t.agreement_partners,
    t.agreement_benefit_admins,
    t.agreement_benefits,
    t.agreements,
    t.subscriptions,
    t.contracts,
    t.licenses,
    t.folders,
    t.grants,
)


async def _existing(conn: AsyncConnection) -> Existing:
    found = Existing()
    for oid, kind in (
        await conn.execute(select(t.organizations.c.id, t.organizations.c.kind))
    ).all():
        found.orgs[oid] = OrgKind(kind)
    found.contacts = dict((await conn.execute(select(t.contacts.c.email, t.contacts.c.org))).all())
    found.accounts = dict(
        (await conn.execute(select(t.accounts.c.ea, t.accounts.c.customer))).all()
    )
    found.license_keys = set((await conn.execute(select(t.licenses.c.key))).scalars())
    found.contracts = set((await conn.execute(select(t.contracts.c.number))).scalars())
    found.subscriptions = set((await conn.execute(select(t.subscriptions.c.id))).scalars())
    found.agreements = set((await conn.execute(select(t.agreements.c.number))).scalars())
    found.grants = {
        (ea, p) for ea, p in (await conn.execute(select(t.grants.c.ea, t.grants.c.partner))).all()
    }
    return found


async def _clear(conn: AsyncConnection) -> None:
    for table in _DELETE_ORDER:
        await conn.execute(delete(table))
    # accounts reference contacts (superuser) and each other (merges)
    await conn.execute(t.accounts.update().values(superuser=None, merged_into=None))
    await conn.execute(delete(t.accounts))
    await conn.execute(delete(t.contacts))
    await conn.execute(delete(t.vendors))
    await conn.execute(delete(t.organizations))


async def write(conn: AsyncConnection, data: Dataset) -> None:
    for vendor in data.vendors:
        await directory_db.insert_vendor(conn, vendor=vendor)
    for org in data.organizations:
        await directory_db.insert_organization(conn, org=org)
    for contact in data.contacts:
        await directory_db.insert_contact(conn, contact=contact)
    for account in data.accounts:
        await accounts_db.insert_account(conn, account=account)
    for account in data.accounts:
        if account.merged_into:
            await accounts_db.set_merged_into(conn, ea=account.ea, merged_into=account.merged_into)
    for grant in data.grants:
        await accounts_db.upsert_grant(conn, grant=grant)
    for ea, folder in sorted({(lic.ea, lic.folder) for lic in data.licenses}):
        await accounts_db.ensure_folder(conn, ea=ea, name=folder)
    for start in range(0, len(data.licenses), 1000):
        await accounts_db.insert_licenses(conn, licenses=data.licenses[start : start + 1000])
    for contract in data.contracts:
        await accounts_db.insert_contract(conn, contract=contract)
    for subscription in data.subscriptions:
        await accounts_db.insert_subscription(conn, subscription=subscription)
    for agreement in data.agreements:
        await accounts_db.insert_agreement(conn, agreement=agreement)
    for vendor_id, level, severity, minutes in data.sla_targets:
        await accounts_db.insert_sla_target(
            conn, vendor=vendor_id, level=level, severity=severity, minutes=minutes
        )


async def import_document(store: Store, doc: Any, *, replace: bool = False) -> Dataset:
    """Check and load a parsed dataset in one transaction: all of it or nothing."""
    async with store.write() as conn:
        existing = Existing() if replace else await _existing(conn)
        data = check(doc, existing)
        if replace:
            await _clear(conn)
        await write(conn, data)
    return data


async def import_file(store: Store, path: Path | str, *, replace: bool = False) -> Dataset:
    return await import_document(store, load_file(path), replace=replace)
