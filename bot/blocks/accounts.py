"""Block Kit for accounts, entitlements, access and audit replies.

Every builder is pure: it takes a use case's result and a locale and returns a
:class:`Reply` (a plain text that makes sense alone, and blocks within Slack's limits).
Button values are small JSON documents encoded and decoded here, next to the ids.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from slack_sdk.models.blocks import Block

from bot.blocks import MAX_BLOCKS, SECTION_LIMIT, actions, button, context, header, section
from bot.domain import Contract, LicenseType, Permission
from bot.errors import UserError
from bot.parser import MAX_DIGITS, whole_number
from bot.render import t, truncate

if TYPE_CHECKING:
    from bot.access import (
        AccessOverview,
        AgreementPartnerRemoved,
        ContactRef,
        GrantResult,
        PartnerAccess,
        RegisterResult,
        RevokeResult,
        TransferDecision,
        TransferRequested,
    )
    from bot.audit import AuditTrail
    from bot.entitlements import (
        AccountCard,
        Entitlements,
        Filters,
        LookupResult,
        MyAccounts,
        RenewalItem,
        Renewals,
    )

MAX_RENEWAL_ITEMS = 40  # one section (with its button) each, within the 50 blocks
MAX_LIST_LINES = 100  # longer lists end with a "narrow it" line


class AccountIds(StrEnum):
    # actions
    ENTITLEMENTS_MORE = "accounts.entitlements_more"
    RENEWAL_QUOTE = "accounts.renewal_quote"
    AGREEMENT_REMOVE_PARTNER = "accounts.agreement_remove_partner"
    REVOKE_PARTNER = "accounts.revoke_partner"
    SUPERUSER_CONFIRM = "accounts.superuser_confirm"
    SUPERUSER_DECLINE = "accounts.superuser_decline"
    # blocks
    MORE_BLOCK = "accounts.more"
    AGREEMENT_BLOCK = "accounts.agreement"
    GRANT_NOTICE_BLOCK = "accounts.grant_notice"
    CONFIRMATION_BLOCK = "accounts.confirmation"


@dataclass(frozen=True)
class Reply:
    text: str
    blocks: list[Block]


# --- button values ------------------------------------------------------------------------


# Ids and offsets carried in button values: the parser's bounds.
MAX_ID = 10**MAX_DIGITS - 1
MAX_OFFSET = 1_000_000


def _decode(value: str | None) -> dict[str, Any]:
    try:
        data = json.loads(value or "")
    except (ValueError, RecursionError):
        data = None
    if not isinstance(data, dict):
        raise UserError("accounts.stale_button")
    return data


def _text(data: dict[str, Any], name: str, *, optional: bool = False) -> str | None:
    value = data.get(name)
    if value is None and optional:
        return None
    if not isinstance(value, str) or not value:
        raise UserError("accounts.stale_button")
    return value


def more_value(ea: str, filters: Filters, offset: int) -> str:
    return json.dumps(
        {
            "ea": ea,
            "product": filters.product,
            "type": filters.type.value if filters.type else None,
            "folder": filters.folder,
            "offset": offset,
        },
        separators=(",", ":"),
    )


def parse_more_value(value: str | None) -> tuple[str, Filters, int]:
    # Imported here: bot.entitlements (through bot.access) builds DMs with this module.
    from bot.entitlements import Filters

    data = _decode(value)
    ea = _text(data, "ea")
    offset = data.get("offset")
    kind = _text(data, "type", optional=True)
    if ea is None:
        raise UserError("accounts.stale_button")
    offset = whole_number(offset, low=0, high=MAX_OFFSET, key="accounts.stale_button")
    try:
        license_type = LicenseType(kind) if kind else None
    except ValueError:
        raise UserError("accounts.stale_button") from None
    filters = Filters(
        product=_text(data, "product", optional=True),
        type=license_type,
        folder=_text(data, "folder", optional=True),
    )
    return ea, filters, offset


def quote_value(item: RenewalItem) -> str:
    return json.dumps({"ea": item.ea, "kind": item.kind, "ref": item.ref_id}, separators=(",", ":"))


def parse_quote_value(value: str | None) -> tuple[str, str, str]:
    data = _decode(value)
    ea, kind, ref = _text(data, "ea"), _text(data, "kind"), _text(data, "ref")
    assert ea is not None and kind is not None and ref is not None
    return ea, kind, ref


def agreement_value(agreement: str, partner: str) -> str:
    return json.dumps({"agreement": agreement, "partner": partner}, separators=(",", ":"))


def parse_agreement_value(value: str | None) -> tuple[str, str]:
    data = _decode(value)
    agreement, partner = _text(data, "agreement"), _text(data, "partner")
    assert agreement is not None and partner is not None
    return agreement, partner


def revoke_value(ea: str, partner: str) -> str:
    return json.dumps({"ea": ea, "partner": partner}, separators=(",", ":"))


def parse_revoke_value(value: str | None) -> tuple[str, str]:
    data = _decode(value)
    ea, partner = _text(data, "ea"), _text(data, "partner")
    assert ea is not None and partner is not None
    return ea, partner


def parse_confirmation_value(value: str | None) -> int:
    return whole_number(value, low=1, high=MAX_ID, key="accounts.stale_button")


# --- helpers ------------------------------------------------------------------------------


def _pack(lines: Iterable[str], limit: int = SECTION_LIMIT) -> list[str]:
    """Lines joined into as few texts of at most ``limit`` characters as possible."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = truncate(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


def _sections(lines: Iterable[str]) -> list[Block]:
    return [section(chunk) for chunk in _pack(lines)]


def _fit(blocks: list[Block], locale: str, tail: Sequence[Block] = ()) -> list[Block]:
    """At most 50 blocks, keeping ``tail`` (a "more" button) and saying when cut."""
    room = MAX_BLOCKS - len(tail)
    if len(blocks) > room:
        blocks = [*blocks[: room - 1], context(t("accounts.cut_short", locale))]
    return [*blocks, *tail]


def _merged(asked_for: str | None, ea: str, locale: str) -> list[Block]:
    if asked_for is None:
        return []
    return [context(t("accounts.merged_note", locale, asked_for=asked_for, ea=ea))]


def _date(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def _perms(permissions: Iterable[Permission]) -> list[str]:
    return [p.value for p in permissions]


def _person(ref: ContactRef | None) -> dict[str, str | None]:
    if ref is None:
        return {"name": None, "email": None}
    return {"name": ref.name, "email": ref.email}


def _partner_lines(partners: Sequence[PartnerAccess], locale: str) -> list[str]:
    return [
        t(
            "accounts.partner_line",
            locale,
            name=p.name,
            partner=p.partner,
            permissions=_perms(p.permissions),
            until=_date(p.until),
            active=p.active,
        )
        for p in partners
    ]


def _partners_blocks(
    partners: Sequence[PartnerAccess], *, only_own: bool, locale: str
) -> list[Block]:
    """The partners holding a grant on an EA, under their title (card and /access)."""
    lines = _partner_lines(partners, locale) or [t("accounts.partners_none", locale)]
    title = t("accounts.partners_title_own" if only_own else "accounts.partners_title", locale)
    return _sections([title, *lines])


def _contracts_blocks(contracts: Sequence[Contract], *, today: dt.date, locale: str) -> list[Block]:
    """An EA's support contracts under their title (card and entitlements)."""
    lines = [
        t(
            "accounts.contract_line",
            locale,
            number=c.number,
            level=c.level,
            starts=_date(c.starts),
            ends=_date(c.ends),
            products=list(c.products),
            active=c.active(today),
        )
        for c in contracts
    ] or [t("accounts.contracts_none", locale)]
    return _sections([t("accounts.contracts_title", locale), *lines])


# --- /ea --------------------------------------------------------------------------------------


def my_accounts(result: MyAccounts, locale: str) -> Reply:
    count = len(result.lines)
    text = t("accounts.my_accounts_text", locale, count=count)
    if not count:
        return Reply(text, [section(t("accounts.my_accounts_none", locale))])
    lines = [
        t(
            "accounts.account_line",
            locale,
            ea=a.ea,
            name=a.name,
            customer=a.customer,
            vendor=a.vendor,
            until=_date(a.until),
        )
        for a in result.lines[:MAX_LIST_LINES]
    ]
    if count > MAX_LIST_LINES:
        lines.append(t("accounts.more_accounts", locale, count=count - MAX_LIST_LINES))
    blocks: list[Block] = [header(t("accounts.my_accounts_title", locale, count=count))]
    blocks += _sections(lines)
    blocks.append(context(t("accounts.my_accounts_hint", locale)))
    return Reply(text, _fit(blocks, locale))


def account_card(card: AccountCard, locale: str) -> Reply:
    text = t(
        "accounts.card_text",
        locale,
        ea=card.ea,
        name=card.name,
        customer=card.customer,
        vendor=card.vendor,
        asked_for=card.asked_for,
    )
    blocks: list[Block] = [header(t("accounts.card_header", locale, ea=card.ea, name=card.name))]
    blocks += _merged(card.asked_for, card.ea, locale)
    blocks.append(
        section(
            t(
                "accounts.card_summary",
                locale,
                customer=card.customer,
                vendor=card.vendor,
                superuser=_person(card.superuser),
            )
        )
    )
    blocks += _partners_blocks(card.partners, only_own=card.only_own_grant, locale=locale)
    if card.contracts is not None:
        blocks += _contracts_blocks(card.contracts, today=card.today, locale=locale)
    if card.key_counts is not None:
        counts = [
            {"type": kind.value, "count": card.key_counts[kind]}
            for kind in LicenseType
            if card.key_counts.get(kind)
        ]
        blocks.append(context(t("accounts.key_counts", locale, counts=counts)))
    blocks.append(context(t("accounts.card_hint", locale, ea=card.ea)))
    return Reply(text, _fit(blocks, locale))


def lookup(result: LookupResult, locale: str) -> Reply:
    count = len(result.matches)
    text = t("accounts.lookup_text", locale, query=result.query, count=count)
    if not count:
        return Reply(text, [section(t("accounts.lookup_none", locale, query=result.query))])
    lines = [
        t("accounts.lookup_line", locale, ea=m.ea, customer=m.customer, vendor=m.vendor)
        for m in result.matches[:MAX_LIST_LINES]
    ]
    if count > MAX_LIST_LINES:
        lines.append(t("accounts.more_accounts", locale, count=count - MAX_LIST_LINES))
    blocks: list[Block] = [
        section(t("accounts.lookup_title", locale, query=result.query, count=count))
    ]
    blocks += _sections(lines)
    return Reply(text, _fit(blocks, locale))


# --- /entitlements ---------------------------------------------------------------------------


def entitlements(result: Entitlements, locale: str) -> Reply:
    f = result.filters
    count = len(result.keys)
    text = t(
        "accounts.entitlements_text",
        locale,
        ea=result.ea,
        name=result.name,
        first=result.offset + 1,
        last=result.offset + count,
        count=count,
        more=result.next_offset is not None,
    )
    blocks: list[Block] = [
        header(t("accounts.entitlements_header", locale, ea=result.ea, name=result.name))
    ]
    blocks += _merged(result.asked_for, result.ea, locale)
    blocks.append(
        context(
            t(
                "accounts.entitlements_context",
                locale,
                customer=result.customer,
                vendor=result.vendor,
                product=f.product,
                type=f.type.value if f.type else None,
                folder=f.folder,
                first=result.offset + 1,
                last=result.offset + count,
                masked=result.keys_masked,
            )
        )
    )
    lines: list[str] = []
    folder = None
    for key in result.keys:
        if key.folder != folder:
            folder = key.folder
            lines.append(t("accounts.folder_title", locale, folder=folder))
        lines.append(
            t(
                "accounts.key_line",
                locale,
                key=key.key,
                product=key.product,
                quantity=key.quantity,
                unit=key.unit,
                type=key.type.value,
                order=key.order,
                expires=_date(key.expires),
                expired=key.expires is not None and key.expires < result.today,
            )
        )
    if not lines:
        lines = [t("accounts.keys_none", locale)]
    blocks += _sections(lines)
    if result.contracts is not None:
        blocks += _contracts_blocks(result.contracts, today=result.today, locale=locale)
    if result.subscriptions is not None:
        sub_lines = [
            t(
                "accounts.subscription_line",
                locale,
                id=s.id,
                service=s.service,
                seller=s.seller,
                quantity=s.quantity,
                ends=_date(s.ends),
                contract_code=s.contract_code,
            )
            for s in result.subscriptions
        ] or [t("accounts.subscriptions_none", locale)]
        blocks += _sections([t("accounts.subscriptions_title", locale), *sub_lines])
    if result.agreements:
        agreement_lines = [
            t(
                "accounts.agreement_line",
                locale,
                number=a.number,
                benefits=[t("accounts.benefit", locale, benefit=b) for b in a.benefits],
                admins=[_person(r) for r in a.admins],
                partners=list(a.partners),
            )
            for a in result.agreements
        ]
        blocks += _sections([t("accounts.agreements_title", locale), *agreement_lines])
    tail: list[Block] = []
    if result.next_offset is not None:
        tail.append(
            actions(
                button(
                    t("accounts.more_button", locale),
                    action_id=AccountIds.ENTITLEMENTS_MORE,
                    value=more_value(result.ea, f, result.next_offset),
                ),
                block_id=AccountIds.MORE_BLOCK,
            )
        )
    return Reply(text, _fit(blocks, locale, tail))


def renewals(result: Renewals, locale: str) -> Reply:
    total = len(result.items)
    text = t("accounts.renewals_text", locale, days=result.days, count=total)
    if not total:
        return Reply(text, [section(t("accounts.renewals_none", locale, days=result.days))])
    blocks: list[Block] = [header(t("accounts.renewals_header", locale, days=result.days))]
    for item in result.items[:MAX_RENEWAL_ITEMS]:
        line = t(
            "accounts.renewal_line",
            locale,
            kind=item.kind,
            ea=item.ea,
            ref=item.ref,
            label=item.label,
            ends=_date(item.ends),
            days_left=item.days_left,
        )
        block = section(line)
        if result.can_request_quote:
            block.accessory = button(
                t("accounts.quote_button", locale),
                action_id=AccountIds.RENEWAL_QUOTE,
                value=quote_value(item),
            )
        blocks.append(block)
    if total > MAX_RENEWAL_ITEMS:
        blocks.append(context(t("accounts.renewals_more", locale, count=total - MAX_RENEWAL_ITEMS)))
    return Reply(text, _fit(blocks, locale))


def quote_requested(ticket: str, ea: str, locale: str) -> Reply:
    text = t("accounts.quote_requested", locale, ticket=ticket, ea=ea)
    return Reply(text, [section(text)])


# --- /access ---------------------------------------------------------------------------------


def access_overview(result: AccessOverview, locale: str) -> Reply:
    text = t(
        "accounts.access_text", locale, ea=result.ea, name=result.name, count=len(result.partners)
    )
    blocks: list[Block] = [
        header(t("accounts.access_header", locale, ea=result.ea, name=result.name))
    ]
    blocks += _merged(result.asked_for, result.ea, locale)
    blocks.append(
        section(
            t(
                "accounts.access_superuser",
                locale,
                customer=result.customer,
                superuser=_person(result.superuser),
            )
        )
    )
    blocks += _partners_blocks(result.partners, only_own=result.only_own, locale=locale)
    hint = "accounts.access_hint_manage" if result.can_manage else "accounts.access_hint_ask"
    blocks.append(context(t(hint, locale, ea=result.ea, superuser=_person(result.superuser))))
    return Reply(text, _fit(blocks, locale))


def granted(result: GrantResult, locale: str) -> Reply:
    text = t(
        "accounts.granted",
        locale,
        ea=result.ea,
        partner=result.partner_name,
        partner_id=result.partner,
        permissions=_perms(result.permissions),
        until=_date(result.until),
        replaced=result.previous is not None,
    )
    if result.moved:
        text += "\n" + t("accounts.tickets_moved", locale, tickets=list(result.moved))
    return Reply(text, [section(text), *_merged(result.asked_for, result.ea, locale)])


def revoked(result: RevokeResult, locale: str) -> Reply:
    text = t(
        "accounts.revoked",
        locale,
        ea=result.ea,
        partner=result.partner_name,
        partner_id=result.partner,
        permissions=_perms(result.permissions),
    )
    if result.moved:
        text += "\n" + t("accounts.tickets_moved", locale, tickets=list(result.moved))
    return Reply(text, [section(text), *_merged(result.asked_for, result.ea, locale)])


def _notice_with_removal(
    text: str, *, block_id: str, label: str, action_id: str, value: str
) -> list[Block]:
    """A notice to a customer and the one button that takes back what it announces."""
    return [
        section(text, block_id=block_id),
        actions(button(label, action_id=action_id, value=value, style="danger")),
    ]


def grant_notice(text: str, *, ea: str, partner: str, locale: str) -> list[Block]:
    """The superuser's DM when a partner gets access: one button takes it back (R9)."""
    return _notice_with_removal(
        text,
        block_id=AccountIds.GRANT_NOTICE_BLOCK,
        label=t("accounts.revoke_button", locale),
        action_id=AccountIds.REVOKE_PARTNER,
        value=revoke_value(ea, partner),
    )


def registered(result: RegisterResult, locale: str) -> Reply:
    text = t("accounts.register_done", locale, agreement=result.agreement)
    return Reply(text, [section(text)])


def agreement_partner_added(text: str, *, agreement: str, partner: str, locale: str) -> list[Block]:
    """The customer's DM when a partner registers on its agreement: one button removes it."""
    return _notice_with_removal(
        text,
        block_id=AccountIds.AGREEMENT_BLOCK,
        label=t("accounts.remove_partner_button", locale),
        action_id=AccountIds.AGREEMENT_REMOVE_PARTNER,
        value=agreement_value(agreement, partner),
    )


def agreement_partner_removed(result: AgreementPartnerRemoved, locale: str) -> Reply:
    text = t(
        "accounts.agreement_partner_removed",
        locale,
        partner=result.partner_name,
        agreement=result.agreement,
    )
    return Reply(text, [section(text)])


def superuser_confirmation(text: str, *, confirmation_id: int, locale: str) -> list[Block]:
    """The superuser's DM: what the role commits to, and Confirm / Decline."""
    return [
        section(text, block_id=AccountIds.CONFIRMATION_BLOCK),
        actions(
            button(
                t("accounts.confirm_button", locale),
                action_id=AccountIds.SUPERUSER_CONFIRM,
                value=str(confirmation_id),
                style="primary",
            ),
            button(
                t("accounts.decline_button", locale),
                action_id=AccountIds.SUPERUSER_DECLINE,
                value=str(confirmation_id),
                style="danger",
            ),
        ),
    ]


def superuser_requested(result: TransferRequested, locale: str) -> Reply:
    text = t(
        "accounts.superuser_requested",
        locale,
        ea=result.ea,
        approver=_person(result.approver),
        candidate=_person(result.candidate),
    )
    return Reply(text, [section(text), *_merged(result.asked_for, result.ea, locale)])


def superuser_decided(result: TransferDecision, locale: str) -> Reply:
    text = t(
        "accounts.superuser_decided",
        locale,
        outcome=result.outcome,
        ea=result.ea,
        candidate=_person(result.candidate),
    )
    return Reply(text, [section(text)])


# --- /audit ----------------------------------------------------------------------------------


REFUSED = ".refused"  # suffix of the audit action of a refused request


def audit_trail(result: AuditTrail, locale: str) -> Reply:
    count = len(result.lines)
    target = {"ea": result.ea, "ticket": result.ticket}
    text = t("accounts.audit_text", locale, count=count, **target)
    blocks: list[Block] = [header(t("accounts.audit_header", locale, **target))]
    if result.ea is not None:
        blocks += _merged(result.asked_for, result.ea, locale)
    lines = [
        t(
            "accounts.audit_line",
            locale,
            at=line.at.strftime("%Y-%m-%d %H:%M"),
            who=line.who,
            action=t(
                "accounts.action_label",
                locale,
                action=line.action.removesuffix(REFUSED),
                refused=line.action.endswith(REFUSED),
            ),
            ticket=line.ticket,
            detail=line.detail,
            reason=t("accounts.refusal_reason", locale, code=line.reason) if line.reason else None,
            code=line.reason,
        )
        for line in result.lines
    ] or [t("accounts.audit_none", locale)]
    blocks += _sections(lines)
    return Reply(text, _fit(blocks, locale))
