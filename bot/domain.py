"""The vocabulary of the product: enums and plain dataclasses, no I/O."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import IntEnum, StrEnum

from bot.sla import NO_HOLIDAYS, Holidays


class OrgKind(StrEnum):
    CUSTOMER = "customer"
    PARTNER = "partner"
    VENDOR = "vendor"


class PartnerType(StrEnum):
    RESELLER = "reseller"
    DISTRIBUTOR = "distributor"
    MSP = "msp"
    OEM = "oem"
    VSPP = "vspp"


class Role(StrEnum):
    # customer
    SUPERUSER = "superuser"
    PROCUREMENT = "procurement"
    USER = "user"
    # partner
    AGENT = "agent"
    ATC = "atc"
    # partner and vendor
    ADMIN = "admin"
    # vendor
    ENGINEER = "engineer"


ROLES_BY_KIND: dict[OrgKind, frozenset[Role]] = {
    OrgKind.CUSTOMER: frozenset({Role.SUPERUSER, Role.PROCUREMENT, Role.USER}),
    OrgKind.PARTNER: frozenset({Role.AGENT, Role.ATC, Role.ADMIN}),
    OrgKind.VENDOR: frozenset({Role.ENGINEER, Role.ADMIN}),
}


class Permission(StrEnum):
    VIEW_LICENSE_KEYS = "view_license_keys"
    MANAGE_FOLDERS = "manage_folders"
    DIVIDE_COMBINE_KEYS = "divide_combine_keys"
    UPGRADE_DOWNGRADE_KEYS = "upgrade_downgrade_keys"
    VIEW_ORDERS_CONTRACTS = "view_orders_contracts"
    FILE_SUPPORT_REQUESTS = "file_support_requests"
    VIEW_SUPPORT_REQUESTS = "view_support_requests"
    DOWNLOAD_PRODUCTS = "download_products"
    MANAGE_ROLES = "manage_roles"


class LicenseType(StrEnum):
    STANDARD = "standard"
    VSPP = "vspp"
    OEM = "oem"
    NFR = "nfr"
    IUL = "iul"
    EVAL = "eval"


class SupportLevel(StrEnum):
    BASIC = "basic"
    PRODUCTION = "production"
    SAAS = "saas"


class Tier(StrEnum):
    PARTNER = "partner"
    VENDOR = "vendor"


class Queue(StrEnum):
    TECHNICAL = "technical"
    BUSINESS = "business"


class Severity(IntEnum):
    CRITICAL = 1
    MAJOR = 2
    MINOR = 3
    COSMETIC = 4


class Status(StrEnum):
    NEW = "new"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    WAITING_ON_CUSTOMER = "waiting_on_customer"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    CLOSED = "closed"

    @property
    def is_open(self) -> bool:
        return self not in (Status.RESOLVED, Status.CLOSED)


OPEN_STATUSES = tuple(s for s in Status if s.is_open)


@dataclass(frozen=True)
class Vendor:
    id: str
    name: str
    queue_channel: str | None
    business_queue_channel: str | None
    severity_labels: dict[int, str]
    timezone: str
    business_hours: str
    holidays: Holidays = NO_HOLIDAYS  # days its calendar is closed

    def severity_label(self, severity: int) -> str:
        return self.severity_labels.get(severity, f"Sev {severity}")


@dataclass(frozen=True)
class Organization:
    id: str
    kind: OrgKind
    name: str
    partner_type: PartnerType | None
    locale: str
    timezone: str
    business_hours: str
    queue_channel: str | None
    holidays: Holidays = NO_HOLIDAYS  # days its calendar is closed


@dataclass(frozen=True)
class Contact:
    email: str
    org: str  # organization id or vendor id
    org_kind: OrgKind
    name: str
    roles: frozenset[Role]
    locale: str | None = None
    slack_user_id: str | None = None

    def has(self, role: Role) -> bool:
        return role in self.roles


@dataclass(frozen=True)
class Account:
    """An EA (entitlement account): one customer, one vendor, one superuser."""

    ea: str
    vendor: str
    customer: str
    name: str
    superuser: str | None
    merged_into: str | None = None


@dataclass(frozen=True)
class Grant:
    ea: str
    partner: str
    permissions: frozenset[Permission]
    until: dt.date | None = None
    granted_by: str | None = None
    granted_at: dt.datetime | None = None

    def active(self, today: dt.date) -> bool:
        return self.until is None or self.until >= today

    def allows(self, permission: Permission, today: dt.date) -> bool:
        return self.active(today) and permission in self.permissions


@dataclass(frozen=True)
class License:
    key: str
    ea: str
    product: str
    quantity: int
    unit: str
    type: LicenseType
    folder: str = "Home"
    order: str | None = None
    sold_by: str | None = None
    expires: dt.date | None = None


@dataclass(frozen=True)
class Contract:
    number: str
    ea: str
    level: str
    starts: dt.date
    ends: dt.date
    products: tuple[str, ...]

    def active(self, today: dt.date) -> bool:
        return self.starts <= today <= self.ends

    def covers(self, product: str | None) -> bool:
        if product is None:
            return True
        wanted = product.casefold()
        return any(p.casefold() == wanted for p in self.products)


@dataclass(frozen=True)
class Subscription:
    id: str
    ea: str
    service: str
    seller: str
    quantity: int
    ends: dt.date | None
    contract_code: str | None = None


@dataclass(frozen=True)
class Agreement:
    number: str
    authorization: str
    vendor: str
    customer: str
    customer_email: str
    benefits: tuple[str, ...] = ()
    benefit_admins: tuple[str, ...] = ()
    partners: tuple[str, ...] = ()


@dataclass(frozen=True)
class TicketEvent:
    ticket_id: int
    at: dt.datetime
    actor: str | None
    kind: str
    data: dict[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class TicketClock:
    """A first-response clock of one tier; escalation starts a second one."""

    id: int
    ticket_id: int
    tier: Tier
    started_at: dt.datetime
    target_minutes: int
    around_the_clock: bool
    due_at: dt.datetime | None  # None while paused
    responded_at: dt.datetime | None = None
    pauses: tuple[tuple[dt.datetime, dt.datetime | None], ...] = ()

    @property
    def paused(self) -> bool:
        return bool(self.pauses) and self.pauses[-1][1] is None


@dataclass(frozen=True)
class Ticket:
    id: int
    ea: str
    customer: str
    partner: str | None
    vendor: str
    tier: Tier
    queue: Queue
    severity: int
    status: Status
    subject: str
    product: str | None
    description: str | None
    opened_by: str
    assignee: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    resolved_at: dt.datetime | None = None
    escalated_at: dt.datetime | None = None
    vendor_case: str | None = None
    queue_message_channel: str | None = None
    queue_message_ts: str | None = None
    clocks: tuple[TicketClock, ...] = ()

    @property
    def ref(self) -> str:
        return f"T-{self.id}"

    @property
    def current_clock(self) -> TicketClock | None:
        for clock in reversed(self.clocks):
            if clock.tier == self.tier:
                return clock
        return None

    @property
    def first_clock(self) -> TicketClock | None:
        return self.clocks[0] if self.clocks else None


@dataclass(frozen=True)
class AuditEntry:
    id: int
    at: dt.datetime
    actor: str | None
    action: str
    ea: str | None
    ticket_id: int | None
    detail: dict[str, object] = field(default_factory=dict)


def ticket_ref(ticket_id: int) -> str:
    return f"T-{ticket_id}"


# --------------------------------------------------------------------------- channels and threads


class ChannelRole(StrEnum):
    CUSTOMER = "customer"  # a channel the partner shares with one customer
    ESCALATION = "escalation"  # a channel a partner shares with a vendor's support


class ThreadSide(StrEnum):
    """The three threads of one ticket, one per organization it links."""

    CUSTOMER = "customer"
    PARTNER = "partner"
    VENDOR = "vendor"


@dataclass(frozen=True)
class Channel:
    """A Slack channel the bot knows the organizations of: ``org`` is the customer of a
    customer channel (``partner`` hosts it), or the vendor of an escalation channel
    (``partner`` is the other side)."""

    channel: str
    org: str
    role: ChannelRole
    partner: str | None = None


@dataclass(frozen=True)
class TicketThread:
    """Where one side of a ticket's conversation lives: the thread's parent ``ts``
    (None until the bot's post that starts it is delivered) and the bot's card in it."""

    ticket_id: int
    side: ThreadSide
    channel: str
    ts: str | None
    card_ts: str | None = None


class IdentityProof(StrEnum):
    """How the bot knows that a Slack person is a contact."""

    DATASET = "dataset"  # declared in the dataset (contacts[].slack)
    EMAIL = "email"  # the email Slack shows, from a workspace of the contact's organization
    CODE = "code"  # a one-time code sent to the contact through a workspace known for them
    ADMIN = "admin"  # confirmed by an admin


@dataclass(frozen=True)
class Workspace:
    """A Slack workspace (``T…``) or a whole Enterprise Grid organization (``E…``) that
    belongs to an organization of the directory."""

    team: str
    org: str


@dataclass(frozen=True)
class SlackIdentity:
    """A Slack person (their team, or enterprise, and user id) known as a contact."""

    team: str
    user: str
    email: str
    proof: IdentityProof
    enterprise: str | None = None
