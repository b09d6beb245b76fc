"""Dataset import (the format of ``data/demo.yml``): YAML or JSON, checked whole, then written in one
transaction. Every error names its place, e.g. ``licenses[3].ea: no account 410000009``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml
from sqlalchemy.ext.asyncio import AsyncConnection

from bot import sla
from bot.domain import (
    ROLES_BY_KIND,
    Account,
    Agreement,
    Channel,
    ChannelRole,
    Contact,
    Contract,
    Grant,
    IdentityProof,
    License,
    LicenseType,
    Organization,
    OrgKind,
    PartnerType,
    Permission,
    Role,
    SlackIdentity,
    Subscription,
    SupportLevel,
    Vendor,
    Workspace,
)
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.store import dataset as dataset_db
from bot.store import directory as directory_db
from bot.store import identities as identities_db
from bot.store import threads as threads_db
from bot.store.dataset import Existing
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
    "channels",
    "workspaces",
)
LOCALES = ("en", "fr")
# Used with fullmatch (``$`` would let a trailing newline through); ASCII digits only,
# as ``\d`` also takes other scripts' digits.
EA_PATTERN = re.compile(r"[0-9]{9}")
# Ids are short and space-free; case is kept (datasets from elsewhere use "Pixel" too).
SLUG_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
EMAIL_PATTERN = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
CHANNEL_PATTERN = re.compile(r"[CGD][A-Z0-9]{2,31}")
# A Slack workspace (T…) or Enterprise Grid organization (E…); a user (U…, W… on a grid).
TEAM_PATTERN = re.compile(r"[TE][A-Z0-9]{2,31}")
USER_PATTERN = re.compile(r"[UW][A-Z0-9]{2,31}")
FIELD_PATTERN = re.compile(r"\w+")
COUNTRY_PATTERN = re.compile(r"[A-Z]{2,3}")
HOLIDAY_FIELDS = frozenset({"country", "subdivision", "closed"})
MAX_ERRORS = 50
# Column sizes of the schema (bot/store/tables.py): a longer value is refused here with
# its path instead of failing in the database (PostgreSQL enforces VARCHAR lengths).
NAME_LENGTH = 200
CODE_LENGTH = 64
SHORT_LENGTH = 32
EMAIL_LENGTH = 254
# INTEGER columns are 32-bit on PostgreSQL.
MAX_INTEGER = 2**31 - 1


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
    channels: list[Channel] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    identities: list[SlackIdentity] = field(default_factory=list)  # from contacts[].slack

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in SECTIONS}


class _Loader(yaml.SafeLoader):
    """Safe YAML, except that a date-looking value that is no real date (2027-02-30)
    stays text, so the checker refuses it with its path instead of the parser failing."""

    def construct_yaml_timestamp(self, node: yaml.Node) -> Any:
        try:
            return super().construct_yaml_timestamp(node)  # type: ignore[arg-type]
        except ValueError:
            return self.construct_scalar(node)  # type: ignore[arg-type]

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        # An explicit tag on a value it cannot read ("!!int abc", "!!bool maybe", "!!int ")
        # makes PyYAML's constructors raise all kinds of plain errors: report them as YAML
        # errors, with their line.
        try:
            return super().construct_object(node, deep=deep)
        except (yaml.YAMLError, RecursionError):
            raise
        except Exception:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value!r} as {node.tag}", node.start_mark
            ) from None


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_timestamp)


@functools.cache
def _timezones() -> frozenset[str]:
    # The IANA names only: "localtime" would mean whatever the host is set to.
    return frozenset(zoneinfo.available_timezones() - {"localtime"})


def _field_path(path: str, key: Any) -> str:
    """The path of a mapping key that may not be a plain name."""
    if isinstance(key, str) and FIELD_PATTERN.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path or 'dataset'}[{key!r}]"


def load_file(path: Path | str) -> Any:
    """Parse a YAML or JSON file; the error names the file and the line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise DatasetError([f"{path}: no such file"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError([f"{path}: cannot read: {exc}"]) from None
    return parse_text(text, str(path), json_only=path.suffix.lower() == ".json")


def parse_text(text: str, name: str = "dataset", *, json_only: bool = False) -> Any:
    """Parse a document's text (YAML, of which JSON is a subset); errors start with ``name``."""
    try:
        if json_only:
            return json.loads(text) if text.strip() else None
        return yaml.load(text, Loader=_Loader)  # a SafeLoader subclass: no arbitrary objects
    except json.JSONDecodeError as exc:
        raise DatasetError([f"{name}: not valid JSON (line {exc.lineno}): {exc.msg}"]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DatasetError([f"{name}: not valid YAML{where}: {problem}"]) from None
    except RecursionError:
        raise DatasetError([f"{name}: nested too deeply"]) from None


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
        self.account_customers: dict[str, str] = dict(self.existing.accounts)
        self.accepted_accounts: dict[str, int] = {}  # path -> index in data.accounts
        self.merges: dict[str, str] = {}  # ea -> merged_into, of this document
        self.merge_paths: dict[str, str] = {}
        self.levels: set[str] = {level.value for level in SupportLevel}
        self.levels.update(level for _, level, _ in self.existing.sla_targets)
        self.sla_keys: set[tuple[str, str, int]] = set(self.existing.sla_targets)
        self.license_keys: set[str] = set(self.existing.license_keys)
        self.grant_keys: set[tuple[str, str]] = set(self.existing.grants)
        self.contract_numbers: set[str] = set(self.existing.contracts)
        self.subscription_ids: set[str] = set(self.existing.subscriptions)
        self.agreement_numbers: set[str] = set(self.existing.agreements)
        self.channel_ids: set[str] = set(self.existing.channels)
        self.workspace_teams: set[str] = set(self.existing.workspaces)
        self.identity_keys: set[tuple[str, str]] = set(self.existing.identities)

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
        self,
        item: dict[str, Any],
        path: str,
        name: str,
        *,
        required: bool = True,
        max_length: int = NAME_LENGTH,
    ) -> str | None:
        value = item.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise self.fail(f"{path}.{name}", "required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.fail(f"{path}.{name}", f"expected text, got {_kind(value)}")
        return self.storable(str(value).strip(), f"{path}.{name}", max_length)

    def storable(self, value: str, path: str, max_length: int) -> str:
        if len(value) > max_length:
            raise self.fail(path, f"too long ({len(value)} characters, at most {max_length})")
        # NUL and lone surrogates (JSON "\ud800") cannot be stored as text by the database.
        if "\x00" in value or not _encodable(value):
            raise self.fail(path, "contains a character that cannot be stored")
        return value

    def req(
        self, item: dict[str, Any], path: str, name: str, *, max_length: int = NAME_LENGTH
    ) -> str:
        value = self.text(item, path, name, max_length=max_length)
        assert value is not None
        return value

    def integer(self, item: dict[str, Any], path: str, name: str, *, minimum: int = 0) -> int:
        value = item.get(name)
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(f"{path}.{name}", f"expected a whole number, got {_kind(value)}")
        if value < minimum:
            raise self.fail(f"{path}.{name}", f"must be at least {minimum}, got {value}")
        if value > MAX_INTEGER:
            raise self.fail(f"{path}.{name}", f"must be at most {MAX_INTEGER}, got {value}")
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

    def holidays(self, item: dict[str, Any], path: str) -> sla.Holidays:
        """``holidays: {country: FR, subdivision: null, closed: [2026-12-24]}`` (all
        optional): public holidays by ISO country code (and subdivision), and dates."""
        raw = item.get("holidays")
        if raw is None:
            return sla.NO_HOLIDAYS
        where = f"{path}.holidays"
        if not isinstance(raw, dict):
            raise self.fail(
                where, f"expected a mapping (country, subdivision, closed), got {_kind(raw)}"
            )
        unknown = sorted((key for key in raw if key not in HOLIDAY_FIELDS), key=repr)
        if unknown:
            raise self.fail(
                _field_path(where, unknown[0]), "unknown field (use country, subdivision, closed)"
            )
        country = self.text(raw, where, "country", required=False, max_length=8)
        subdivision = self.text(raw, where, "subdivision", required=False, max_length=16)
        if country is not None:
            country = country.upper()
            if not COUNTRY_PATTERN.fullmatch(country):
                raise self.fail(
                    f"{where}.country",
                    f"expected an ISO 3166 country code like FR, got {country!r}",
                )
        if subdivision is not None and country is None:
            raise self.fail(f"{where}.subdivision", "a subdivision needs its country")
        closed_raw = raw.get("closed")
        closed: set[dt.date] = set()
        if closed_raw is not None:
            if not isinstance(closed_raw, list):
                raise self.fail(
                    f"{where}.closed", f"expected a list of dates, got {_kind(closed_raw)}"
                )
            for index, value in enumerate(closed_raw):
                closed.add(self.closed_date(value, f"{where}.closed[{index}]"))
        try:
            return sla.Holidays(country=country, subdivision=subdivision, closed=frozenset(closed))
        except ValueError as exc:
            field_name = "subdivision" if "subdivision" in str(exc) else "country"
            raise self.fail(f"{where}.{field_name}", str(exc)) from None

    def closed_date(self, value: Any, where: str) -> dt.date:
        if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            return value
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                return dt.date.fromisoformat(value.strip())
        raise self.fail(where, f"not a date: {value!r} (use YYYY-MM-DD)")

    def strings(
        self,
        item: dict[str, Any],
        path: str,
        name: str,
        *,
        required: bool = False,
        max_length: int = NAME_LENGTH,
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
            where = f"{path}.{name}[{index}]"
            if isinstance(element, bool) or not isinstance(element, str | int):
                raise self.fail(where, f"expected text, got {_kind(element)}")
            text = str(element).strip()
            if not text:
                raise self.fail(where, "empty")
            out.append(self.storable(text, where, max_length))
        return out

    def choice(self, value: str, path: str, options: type[T], what: str) -> T:
        try:
            return options(value)  # type: ignore[call-arg]
        except ValueError:
            allowed = ", ".join(o.value for o in options)  # type: ignore[attr-defined]
            raise self.fail(path, f"unknown {what} {value!r} (one of: {allowed})") from None

    def slug(self, item: dict[str, Any], path: str) -> str:
        value = self.req(item, path, "id")
        if not SLUG_PATTERN.fullmatch(value):
            raise self.fail(
                f"{path}.id",
                f"{value!r} is not an id (letters, digits, '.', '-' and '_', no spaces)",
            )
        if value in self.org_kinds:
            raise self.fail(f"{path}.id", f"duplicate id {value!r}")
        return value

    def ea(self, item: dict[str, Any], path: str, name: str = "ea", *, known: bool = True) -> str:
        value = self.req(item, path, name)
        if not EA_PATTERN.fullmatch(value):
            raise self.fail(f"{path}.{name}", f"EA number must be 9 digits, got {value!r}")
        if known and value not in self.account_customers:
            raise self.fail(f"{path}.{name}", f"no account {value}")
        return value

    def timezone(self, item: dict[str, Any], path: str, default: str) -> str:
        value = self.text(item, path, "timezone", required=False) or default
        # A membership test, not ZoneInfo(value): that one recurses without end on a
        # name like "a/a/a/…" and accepts host-dependent names.
        if value not in _timezones():
            raise self.fail(
                f"{path}.timezone", f"unknown timezone {value!r} (an IANA name like Europe/Paris)"
            )
        return value

    def hours(self, item: dict[str, Any], path: str, default: str) -> str:
        value = self.text(item, path, "business_hours", required=False) or default
        try:
            hours = sla.parse_business_hours(value)
        except ValueError as exc:
            raise self.fail(f"{path}.business_hours", str(exc)) from None
        # Stored in canonical form ("mon-fri 09:00-18:00"), which is short and re-readable.
        return str(hours)

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
        if value is not None and not CHANNEL_PATTERN.fullmatch(value):
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
                self.error(
                    _field_path("", key),
                    f"unknown section (expected one of: {', '.join(SECTIONS)})",
                )
        # sla_targets first: they may declare vendor-specific support levels
        self.each(doc, "vendors", self.vendor)
        self.each(doc, "sla_targets", self.sla_target)
        self.each(doc, "organizations", self.organization)
        self.each(doc, "contacts", self.contact)
        self.each(doc, "accounts", self.account)
        self.each(doc, "accounts", self.account_links)
        self.merge_cycles()
        self.each(doc, "grants", self.grant)
        self.each(doc, "licenses", self.license)
        self.each(doc, "contracts", self.contract)
        self.each(doc, "subscriptions", self.subscription)
        self.each(doc, "agreements", self.agreement)
        self.each(doc, "channels", self.shared_channel)
        self.each(doc, "workspaces", self.workspace)
        if self.errors:
            raise DatasetError(self.errors)
        return self.data

    def vendor(self, path: str, item: dict[str, Any]) -> None:
        vid = self.slug(item, path)
        # Known from here on, even if another field is wrong: references to it then
        # resolve, and the report shows that field alone instead of a cascade.
        self.org_kinds[vid] = OrgKind.VENDOR
        self.vendor_ids.add(vid)
        labels_raw = item.get("severity_labels")
        labels: dict[int, str] = {n: f"Sev {n}" for n in range(1, 5)}
        if labels_raw is not None:
            if not isinstance(labels_raw, dict):
                raise self.fail(
                    f"{path}.severity_labels",
                    f"expected a mapping 1..4 → label, got {_kind(labels_raw)}",
                )
            for key, label in labels_raw.items():
                severity = _severity_key(key)
                if severity is None:
                    raise self.fail(
                        f"{path}.severity_labels", f"severity {key!r} is not 1, 2, 3 or 4"
                    )
                where = f"{path}.severity_labels.{severity}"
                if (
                    not isinstance(label, str | int)
                    or isinstance(label, bool)
                    or not str(label).strip()
                ):
                    raise self.fail(where, "expected a label")
                labels[severity] = self.storable(str(label).strip(), where, SHORT_LENGTH)
        vendor = Vendor(
            id=vid,
            name=self.req(item, path, "name"),
            queue_channel=self.channel(item, path, "queue_channel"),
            business_queue_channel=self.channel(item, path, "business_queue_channel"),
            severity_labels=labels,
            timezone=self.timezone(item, path, "UTC"),
            business_hours=self.hours(item, path, "mon-fri 08:00-20:00"),
            holidays=self.holidays(item, path),
        )
        self.data.vendors.append(vendor)

    def sla_target(self, path: str, item: dict[str, Any]) -> None:
        vendor = self.req(item, path, "vendor", max_length=CODE_LENGTH)
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        level = self.req(item, path, "level", max_length=SHORT_LENGTH).lower()
        known = {"vendor", "level", "sev1", "sev2", "sev3", "sev4"}
        unknown = sorted((key for key in item if key not in known), key=repr)
        if unknown:
            raise self.fail(
                _field_path(path, unknown[0]), "unknown field (use sev1..sev4, in minutes)"
            )
        targets: list[tuple[str, str, int, int]] = []
        for severity in (1, 2, 3, 4):
            if item.get(f"sev{severity}") is None:
                continue
            minutes = self.integer(item, path, f"sev{severity}", minimum=1)
            if (vendor, level, severity) in self.sla_keys:
                raise self.fail(
                    f"{path}.sev{severity}",
                    f"duplicate target for {vendor} {level} severity {severity}",
                )
            targets.append((vendor, level, severity, minutes))
        if not targets:
            raise self.fail(path, "no target given (sev1..sev4, in minutes)")
        self.sla_keys.update((v, lv, sev) for v, lv, sev, _ in targets)
        self.data.sla_targets.extend(targets)
        self.levels.add(level)

    def organization(self, path: str, item: dict[str, Any]) -> None:
        oid = self.slug(item, path)
        kind_text = self.req(item, path, "kind").lower()
        kind = self.choice(kind_text, f"{path}.kind", OrgKind, "organization kind")
        if kind is OrgKind.VENDOR:
            raise self.fail(f"{path}.kind", "vendors go in the vendors section")
        self.org_kinds[oid] = kind  # known from here on (see vendor)
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
            holidays=self.holidays(item, path),
        )
        self.data.organizations.append(org)

    def contact(self, path: str, item: dict[str, Any]) -> None:
        email = normalize_email(self.req(item, path, "email", max_length=EMAIL_LENGTH))
        if not EMAIL_PATTERN.fullmatch(email):
            raise self.fail(f"{path}.email", f"{email!r} is not an email address")
        if email in self.contact_orgs:
            raise self.fail(f"{path}.email", f"duplicate contact {email}")
        org = self.req(item, path, "org", max_length=CODE_LENGTH)
        kind = self.org_kinds.get(org)
        if kind is None:
            raise self.fail(f"{path}.org", f"no organization or vendor {org!r}")
        self.contact_orgs[email] = org  # known from here on (see vendor)
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
        identities = self.slack_identities(item, path, email)
        self.data.contacts.append(contact)
        self.data.identities.extend(identities)

    def team(self, item: dict[str, Any], path: str, name: str = "team") -> str:
        value = self.req(item, path, name, max_length=SHORT_LENGTH)
        if not TEAM_PATTERN.fullmatch(value):
            raise self.fail(
                f"{path}.{name}",
                f"{value!r} is not a Slack workspace id (T0123ABCD) or Enterprise Grid id (E0123ABCD)",
            )
        return value

    def slack_identities(self, item: dict[str, Any], path: str, email: str) -> list[SlackIdentity]:
        """``contacts[].slack``: the Slack people this contact is, declared up front."""
        value = item.get("slack")
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(
                f"{path}.slack", f"expected a list of {{team, user}}, got {_kind(value)}"
            )
        found: list[SlackIdentity] = []
        for index, entry in enumerate(value):
            where = f"{path}.slack[{index}]"
            if not isinstance(entry, dict):
                raise self.fail(where, f"expected a mapping {{team, user}}, got {_kind(entry)}")
            for key in entry:
                if key not in ("team", "user"):
                    raise self.fail(_field_path(where, key), "unknown field (expected team, user)")
            team = self.team(entry, where)
            user = self.req(entry, where, "user", max_length=SHORT_LENGTH)
            if not USER_PATTERN.fullmatch(user):
                raise self.fail(
                    f"{where}.user", f"{user!r} is not a Slack user id (like U0123ABCD)"
                )
            if (team, user) in self.identity_keys:
                raise self.fail(where, f"Slack user {user} of {team} is already another contact")
            self.identity_keys.add((team, user))
            found.append(
                SlackIdentity(
                    team=team,
                    user=user,
                    email=email,
                    proof=IdentityProof.DATASET,
                    enterprise=team if team.startswith("E") else None,
                )
            )
        return found

    def workspace(self, path: str, item: dict[str, Any]) -> None:
        """``workspaces``: a Slack workspace (or grid organization) of an organization."""
        team = self.team(item, path)
        if team in self.workspace_teams:
            raise self.fail(f"{path}.team", f"duplicate workspace {team}")
        org = self.req(item, path, "org", max_length=CODE_LENGTH)
        if org not in self.org_kinds:
            raise self.fail(f"{path}.org", f"no organization or vendor {org!r}")
        self.workspace_teams.add(team)
        self.data.workspaces.append(Workspace(team=team, org=org))

    def account(self, path: str, item: dict[str, Any]) -> None:
        ea = self.ea(item, path, known=False)
        if ea in self.account_customers:
            raise self.fail(f"{path}.ea", f"duplicate EA {ea}")
        vendor = self.req(item, path, "vendor", max_length=CODE_LENGTH)
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        customer = self.org_ref(
            self.req(item, path, "customer", max_length=CODE_LENGTH),
            f"{path}.customer",
            kinds=(OrgKind.CUSTOMER,),
            what="customer",
        )
        self.account_customers[ea] = customer  # known from here on (see vendor)
        superuser = self.text(item, path, "superuser", required=False, max_length=EMAIL_LENGTH)
        if superuser is not None:
            superuser = normalize_email(superuser)
            owner = self.contact_orgs.get(superuser)
            if owner is None:
                raise self.fail(f"{path}.superuser", f"no contact {superuser}")
            if owner != customer:
                raise self.fail(f"{path}.superuser", f"{superuser} is not a contact of {customer}")
        account = Account(
            ea=ea,
            vendor=vendor,
            customer=customer,
            name=self.req(item, path, "name"),
            superuser=superuser,
        )
        self.accepted_accounts[path] = len(self.data.accounts)
        self.data.accounts.append(account)

    def account_links(self, path: str, item: dict[str, Any]) -> None:
        """Second pass: merges may point to EAs listed later in the file."""
        index = self.accepted_accounts.get(path)
        if item.get("merged_into") is None or index is None:
            return  # a refused account has had its error already
        account = self.data.accounts[index]
        target = self.ea(item, path, "merged_into")
        if target == account.ea:
            raise self.fail(f"{path}.merged_into", "an EA cannot be merged into itself")
        self.merges[account.ea] = target
        self.merge_paths[account.ea] = path
        self.data.accounts[index] = Account(
            ea=account.ea,
            vendor=account.vendor,
            customer=account.customer,
            name=account.name,
            superuser=account.superuser,
            merged_into=target,
        )

    def merge_cycles(self) -> None:
        """Following merges must end at a live EA, never come back where it started."""
        for ea, path in self.merge_paths.items():
            chain = [ea]
            current = self.merges[ea]
            while current in self.merges and current not in chain:
                chain.append(current)
                current = self.merges[current]
            if current == ea:
                self.error(
                    f"{path}.merged_into",
                    "merges go round in a circle: " + " → ".join([*chain, ea]),
                )

    def grant(self, path: str, item: dict[str, Any]) -> None:
        ea = self.ea(item, path)
        partner = self.org_ref(
            self.req(item, path, "partner", max_length=CODE_LENGTH),
            f"{path}.partner",
            kinds=(OrgKind.PARTNER,),
            what="partner",
        )
        if (ea, partner) in self.grant_keys:
            raise self.fail(path, f"duplicate grant of {ea} to {partner}")
        names = item.get("permissions")
        if isinstance(names, str) and names.strip().lower() == "all":
            permissions = set(Permission)
        else:
            permissions = set()
            for index, name in enumerate(self.strings(item, path, "permissions", required=True)):
                permissions.add(
                    self.choice(
                        name.lower(), f"{path}.permissions[{index}]", Permission, "permission"
                    )
                )
            if not permissions:
                raise self.fail(f"{path}.permissions", "at least one permission (or all)")
        until = self.date(item, path, "until")
        self.grant_keys.add((ea, partner))
        self.data.grants.append(
            Grant(
                ea=ea,
                partner=partner,
                permissions=frozenset(permissions),
                until=until,
            )
        )

    def license(self, path: str, item: dict[str, Any]) -> None:
        key = self.req(item, path, "key", max_length=CODE_LENGTH)
        if key in self.license_keys:
            raise self.fail(f"{path}.key", f"duplicate license key {key}")
        ea = self.ea(item, path)
        sold_by = self.text(item, path, "sold_by", required=False, max_length=CODE_LENGTH)
        if sold_by is not None:
            self.org_ref(
                sold_by, f"{path}.sold_by", kinds=(OrgKind.PARTNER, OrgKind.VENDOR), what="partner"
            )
        lic = License(
            key=key,
            ea=ea,
            product=self.req(item, path, "product"),
            quantity=self.integer(item, path, "quantity", minimum=1),
            unit=self.text(item, path, "unit", required=False, max_length=SHORT_LENGTH) or "unit",
            type=self.choice(
                self.req(item, path, "type").lower(), f"{path}.type", LicenseType, "license type"
            ),
            folder=self.text(item, path, "folder", required=False) or "Home",
            order=self.text(item, path, "order", required=False, max_length=CODE_LENGTH),
            sold_by=sold_by,
            expires=self.date(item, path, "expires"),
        )
        self.license_keys.add(key)
        self.data.licenses.append(lic)

    def contract(self, path: str, item: dict[str, Any]) -> None:
        number = self.req(item, path, "number", max_length=CODE_LENGTH)
        if number in self.contract_numbers:
            raise self.fail(f"{path}.number", f"duplicate contract {number}")
        ea = self.ea(item, path)
        level = self.req(item, path, "level", max_length=SHORT_LENGTH).lower()
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
        products = tuple(self.strings(item, path, "products"))
        self.contract_numbers.add(number)
        self.data.contracts.append(
            Contract(
                number=number,
                ea=ea,
                level=level,
                starts=starts,
                ends=ends,
                products=products,
            )
        )

    def subscription(self, path: str, item: dict[str, Any]) -> None:
        sid = self.req(item, path, "id", max_length=CODE_LENGTH)
        if sid in self.subscription_ids:
            raise self.fail(f"{path}.id", f"duplicate subscription {sid}")
        ea = self.ea(item, path)
        seller = self.org_ref(
            self.req(item, path, "seller", max_length=CODE_LENGTH),
            f"{path}.seller",
            kinds=(OrgKind.PARTNER, OrgKind.VENDOR),
            what="partner or vendor",
        )
        subscription = Subscription(
            id=sid,
            ea=ea,
            service=self.req(item, path, "service"),
            seller=seller,
            quantity=self.integer(item, path, "quantity", minimum=1),
            ends=self.date(item, path, "ends"),
            contract_code=self.text(
                item, path, "contract_code", required=False, max_length=CODE_LENGTH
            ),
        )
        self.subscription_ids.add(sid)
        self.data.subscriptions.append(subscription)

    def agreement(self, path: str, item: dict[str, Any]) -> None:
        number = self.req(item, path, "number", max_length=CODE_LENGTH)
        if number in self.agreement_numbers:
            raise self.fail(f"{path}.number", f"duplicate agreement {number}")
        vendor = self.req(item, path, "vendor", max_length=CODE_LENGTH)
        if vendor not in self.vendor_ids:
            raise self.fail(f"{path}.vendor", f"no vendor {vendor!r}")
        customer = self.org_ref(
            self.req(item, path, "customer", max_length=CODE_LENGTH),
            f"{path}.customer",
            kinds=(OrgKind.CUSTOMER,),
            what="customer",
        )
        email = normalize_email(self.req(item, path, "customer_email", max_length=EMAIL_LENGTH))
        if not EMAIL_PATTERN.fullmatch(email):
            raise self.fail(f"{path}.customer_email", f"{email!r} is not an email address")
        admins = [
            normalize_email(e)
            for e in self.strings(item, path, "benefit_admins", max_length=EMAIL_LENGTH)
        ]
        for index, admin in enumerate(admins):
            if self.contact_orgs.get(admin) != customer:
                raise self.fail(
                    f"{path}.benefit_admins[{index}]", f"{admin} is not a contact of {customer}"
                )
        agreement = Agreement(
            number=number,
            authorization=self.req(item, path, "authorization", max_length=CODE_LENGTH),
            vendor=vendor,
            customer=customer,
            customer_email=email,
            benefits=tuple(self.strings(item, path, "benefits", max_length=CODE_LENGTH)),
            benefit_admins=tuple(admins),
        )
        self.agreement_numbers.add(number)
        self.data.agreements.append(agreement)

    def shared_channel(self, path: str, item: dict[str, Any]) -> None:
        """A Slack channel shared with an organization: ``role: customer`` with a
        customer (``partner``: who hosts it), ``role: escalation`` with a vendor
        (``partner``: the partner on the other side)."""
        channel = self.channel(item, path, "channel")
        if channel is None:
            raise self.fail(f"{path}.channel", "required")
        if channel.startswith("D"):
            raise self.fail(f"{path}.channel", f"{channel} is a direct message, not a channel")
        if channel in self.channel_ids:
            raise self.fail(f"{path}.channel", f"duplicate channel {channel}")
        org = self.req(item, path, "org", max_length=CODE_LENGTH)
        kind = self.org_kinds.get(org)
        if kind is None:
            raise self.fail(f"{path}.org", f"no organization {org!r}")
        role_text = self.text(item, path, "role", required=False)
        if role_text is None:
            role = ChannelRole.CUSTOMER if kind is OrgKind.CUSTOMER else ChannelRole.ESCALATION
        else:
            role = self.choice(role_text.lower(), f"{path}.role", ChannelRole, "channel role")
        partner = self.text(item, path, "partner", required=False, max_length=CODE_LENGTH)
        if role is ChannelRole.CUSTOMER:
            if kind is not OrgKind.CUSTOMER:
                raise self.fail(
                    f"{path}.org",
                    f"{org!r} is a {kind.value}; a customer channel belongs to a customer",
                )
            if partner is None:
                raise self.fail(f"{path}.partner", "required (the partner hosting the channel)")
        elif kind is OrgKind.PARTNER:
            # An escalation channel named from the partner's side: the vendor is given.
            raise self.fail(
                f"{path}.org",
                f"{org!r} is a partner; an escalation channel belongs to a vendor (partner: {org})",
            )
        elif kind is not OrgKind.VENDOR:
            raise self.fail(
                f"{path}.org",
                f"{org!r} is a {kind.value}; an escalation channel belongs to a vendor",
            )
        elif partner is None:
            raise self.fail(f"{path}.partner", "required (the partner on the other side)")
        if partner is not None:
            partner = self.org_ref(
                partner, f"{path}.partner", kinds=(OrgKind.PARTNER,), what="partner"
            )
        self.channel_ids.add(channel)
        self.data.channels.append(Channel(channel=channel, org=org, role=role, partner=partner))


def _severity_key(key: Any) -> int | None:
    """1..4 from a severity_labels key: a number, or its text (JSON keys are text)."""
    if isinstance(key, str) and key.strip() in ("1", "2", "3", "4"):
        return int(key)
    if isinstance(key, int) and not isinstance(key, bool) and key in (1, 2, 3, 4):
        return key
    return None


def _encodable(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


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
    for channel in data.channels:
        await threads_db.insert_channel(conn, channel=channel)
    for workspace in data.workspaces:
        await identities_db.link_workspace(conn, workspace=workspace, linked_by=None, at=None)
    for identity in data.identities:
        await identities_db.save_identity(conn, identity=identity, at=None)


async def import_document(store: Store, doc: Any, *, replace: bool = False) -> Dataset:
    """Check and load a parsed dataset in one transaction: all of it or nothing."""
    async with store.write() as conn:
        existing = Existing() if replace else await dataset_db.existing_keys(conn)
        data = check(doc, existing)
        if replace:
            await dataset_db.clear_all(conn)
        await write(conn, data)
    return data


async def import_file(store: Store, path: Path | str, *, replace: bool = False) -> Dataset:
    return await import_document(store, load_file(path), replace=replace)
