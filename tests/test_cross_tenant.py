"""Cross-tenant checks (R8): every accounts use case that takes an EA, a ticket or a
button's reference, driven by every kind of outsider. A foreign EA or ticket must read
exactly like a missing one, nothing may change, and no reply may name a customer,
contact, key, contract or ticket that actor may not see."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from account_fixtures import (
    ACME_PROD,
    ALICE,
    CARAVELLE,
    EOIN,
    JAKE,
    JEAN,
    NOWHERE,
    OLIVER,
    PRIYA,
    SAM,
    TIDEWATER,
    TOM,
    actor,
    message,
    outbox,
)
from conftest import BotUnderTest

from bot import access, audit, entitlements, tickets
from bot.blocks import accounts as account_blocks
from bot.domain import Permission
from bot.errors import NotFound, UserError
from bot.store import Store, tables
from bot.store import accounts as accounts_db
from bot.store import audit as audit_db
from bot.visibility import Actor

# What each protected EA holds that an outsider must never read.
SECRETS: dict[str, list[str]] = {
    ACME_PROD: [
        "ACME Production",
        "ACME SA",
        "alice.martin",
        "Alice Martin",
        "SNS-0041187",
        "Nuage",
        "nuage",
        "DistriLog",
        "distrilog",
        "4500012345",
        "vMotion",
    ],
    TIDEWATER: [
        "Tidewater",
        "frank.delgado",
        "Frank Delgado",
        "SNS-0090877",
        "DataForge",
        "dataforge",
        "DF-2026",
    ],
    CARAVELLE: ["SNS-0084519", "4500050310", "4500051188", "Nuage", "nuage"],
}

# Each outsider and the account they must not see into.
OUTSIDERS = [
    pytest.param(JEAN, ACME_PROD, id="customer-of-another-company"),
    pytest.param(OLIVER, ACME_PROD, id="partner-without-grant"),
    pytest.param(SAM, TIDEWATER, id="expired-grant-admin"),
    pytest.param(JAKE, TIDEWATER, id="expired-grant-agent"),
    pytest.param(PRIYA, ACME_PROD, id="engineer-of-another-vendor"),
]


async def key_secrets(store: Store, ea: str) -> list[str]:
    async with store.read() as conn:
        keys = [lic.key for lic in await accounts_db.list_licenses(conn, ea=ea)]
    return keys + [k[-5:] for k in keys]


async def snapshot(store: Store) -> dict[str, Any]:
    """The state an outsider's request must leave untouched."""
    async with store.read() as conn:
        return {
            name: [dict(r) for r in (await conn.execute(table.select())).mappings()]
            for name, table in (
                ("grants", tables.grants),
                ("accounts", tables.accounts),
                ("confirmations", tables.confirmations),
                ("agreement_partners", tables.agreement_partners),
                ("tickets", tables.tickets),
            )
        }


Call = Callable[[Store, Actor, str, dt.datetime], Awaitable[object]]

EA_USE_CASES: dict[str, Call] = {
    "card": lambda s, a, ea, now: entitlements.account_card(s, a, ea=ea, now=now),
    "entitlements": lambda s, a, ea, now: entitlements.entitlements(s, a, ea=ea, now=now),
    "entitlements-page-2": lambda s, a, ea, now: entitlements.entitlements(
        s, a, ea=ea, offset=20, now=now
    ),
    "access": lambda s, a, ea, now: access.access_overview(s, a, ea=ea, now=now),
    "grant": lambda s, a, ea, now: access.grant_access(
        s, a, ea=ea, partner="harbor", permissions=None, now=now
    ),
    "grant-self": lambda s, a, ea, now: access.grant_access(
        s, a, ea=ea, partner=a.org.id, permissions=[Permission.VIEW_LICENSE_KEYS], now=now
    ),
    "revoke": lambda s, a, ea, now: access.revoke_access(s, a, ea=ea, partner="nuage", now=now),
    "superuser": lambda s, a, ea, now: access.request_superuser_transfer(
        s, a, ea=ea, email=a.email, now=now
    ),
    "audit": lambda s, a, ea, now: audit.audit_trail(s, a, ea=ea, now=now),
    "renewal-quote": lambda s, a, ea, now: entitlements.request_renewal_quote(
        s, a, ea=ea, kind="contract", ref="SNS-0041187", now=now
    ),
}


@pytest.mark.parametrize("use_case", sorted(EA_USE_CASES))
@pytest.mark.parametrize(("email", "ea"), OUTSIDERS)
async def test_foreign_ea_reads_like_a_missing_one(
    demo_store: Store, now: dt.datetime, use_case: str, email: str, ea: str
) -> None:
    who = await actor(demo_store, email)
    call = EA_USE_CASES[use_case]
    before = await snapshot(demo_store)
    with pytest.raises(NotFound) as foreign:
        await call(demo_store, who, ea, now)
    with pytest.raises(NotFound) as missing:
        await call(demo_store, who, NOWHERE, now)
    assert foreign.value.key == missing.value.key == "accounts.no_such_ea"
    assert foreign.value.usage == missing.value.usage
    secrets = SECRETS[ea] + await key_secrets(demo_store, ea)
    for locale in ("en", "fr"):
        text = message(foreign.value, locale)
        assert text.replace(ea, "<EA>") == message(missing.value, locale).replace(NOWHERE, "<EA>")
        assert not [s for s in secrets if s in text]
    assert await snapshot(demo_store) == before
    assert await outbox(demo_store) == []


async def a_ticket(store: Store, now: dt.datetime) -> int:
    outcome = await tickets.open_ticket(
        store, await actor(store, ALICE), subject="vMotion fails", ea=ACME_PROD, now=now
    )
    return outcome.card.ticket.id


@pytest.mark.parametrize(
    "email",
    [
        pytest.param(JEAN, id="customer-of-another-company"),
        pytest.param(OLIVER, id="partner-without-grant"),
        pytest.param(SAM, id="partner-with-expired-grant"),
        pytest.param(PRIYA, id="engineer-of-another-vendor"),
        pytest.param(EOIN, id="vendor-before-escalation"),
    ],
)
async def test_foreign_ticket_reads_like_a_missing_one(
    demo_store: Store, now: dt.datetime, email: str
) -> None:
    ticket_id = await a_ticket(demo_store, now)
    who = await actor(demo_store, email)
    with pytest.raises(NotFound) as foreign:
        await audit.audit_trail(demo_store, who, ticket_id=ticket_id, now=now)
    with pytest.raises(NotFound) as missing:
        await audit.audit_trail(demo_store, who, ticket_id=ticket_id + 1000, now=now)
    assert foreign.value.key == missing.value.key
    for locale in ("en", "fr"):
        text = message(foreign.value, locale)
        assert text.replace(str(ticket_id), "N") == message(missing.value, locale).replace(
            str(ticket_id + 1000), "N"
        )
        assert "vMotion" not in text and "ACME" not in text


# --- buttons carry references too -----------------------------------------------------------


async def test_outsider_cannot_answer_a_superuser_request(
    demo_store: Store, now: dt.datetime
) -> None:
    alice = await actor(demo_store, ALICE)
    requested = await access.request_superuser_transfer(
        demo_store, alice, ea=ACME_PROD, email="claire.dubois@acme.example", now=now
    )
    before = await snapshot(demo_store)
    for email in (JEAN, OLIVER, PRIYA):
        with pytest.raises(UserError) as refused:
            await access.decide_superuser_transfer(
                demo_store,
                await actor(demo_store, email),
                confirmation_id=requested.confirmation_id,
                confirm=True,
                now=now,
            )
        text = message(refused.value)
        assert not [s for s in ("Alice", "alice", "claire", "Claire", "ACME SA") if s in text]
    assert await snapshot(demo_store) == before


async def test_outsider_cannot_remove_a_partner_from_an_agreement(
    demo_store: Store, now: dt.datetime
) -> None:
    sophie = await actor(demo_store, "sophie.bernard@nuage.example")
    await access.register_agreement_partner(
        demo_store,
        sophie,
        authorization="AUTH-11930427",
        agreement="V4471203",
        customer_email="claire.dubois@acme.example",
        now=now,
    )
    before = await snapshot(demo_store)
    texts = set()
    for email in (JEAN, OLIVER, PRIYA):
        for agreement in ("V4471203", "V0000000"):
            with pytest.raises(NotFound) as refused:
                await access.remove_agreement_partner(
                    demo_store,
                    await actor(demo_store, email),
                    agreement=agreement,
                    partner="nuage",
                    now=now,
                )
            texts.add(message(refused.value).replace(agreement, "<n>"))
    assert len(texts) == 1
    assert await snapshot(demo_store) == before


# --- a grant that lacks the permission ------------------------------------------------------------


async def test_grant_without_the_permission_shows_no_more_than_it_allows(
    demo_store: Store, now: dt.datetime
) -> None:
    # harbor may file and read support requests on Caravelle, nothing else
    tom = await actor(demo_store, TOM)
    secrets = SECRETS[CARAVELLE] + await key_secrets(demo_store, CARAVELLE)

    card = await entitlements.account_card(demo_store, tom, ea=CARAVELLE, now=now)
    shown = json.dumps([b.to_dict() for b in account_blocks.account_card(card, "en").blocks])
    assert not [s for s in secrets if s in shown]

    overview = await access.access_overview(demo_store, tom, ea=CARAVELLE, now=now)
    shown = json.dumps([b.to_dict() for b in account_blocks.access_overview(overview, "en").blocks])
    assert not [s for s in secrets if s in shown]

    with pytest.raises(UserError) as refused:
        await entitlements.entitlements(demo_store, tom, ea=CARAVELLE, now=now)
    assert not [s for s in secrets if s in message(refused.value)]

    renewals = await entitlements.renewals(demo_store, tom, days=730, now=now)
    assert CARAVELLE not in [i.ea for i in renewals.items]

    # its admin may read the trail, where keys stay masked
    await entitlements.entitlements(
        demo_store,
        await actor(demo_store, "etienne.gagnon@caravelle.example"),
        ea=CARAVELLE,
        now=now,
    )
    async with demo_store.write() as conn:
        await audit_db.record(
            conn,
            at=now,
            actor="etienne.gagnon@caravelle.example",
            action="key.moved",
            ea=CARAVELLE,
            detail={"key": "DN9LO-I03W5-RWD7S-AU4IY-L6I5P"},
        )
    trail = await audit.audit_trail(
        demo_store, await actor(demo_store, OLIVER), ea=CARAVELLE, now=now
    )
    shown = json.dumps([b.to_dict() for b in account_blocks.audit_trail(trail, "en").blocks])
    assert "DN9LO-I03W5-RWD7S-AU4IY" not in shown


async def test_lookup_never_crosses_vendors(demo_store: Store, now: dt.datetime) -> None:
    priya = await actor(demo_store, PRIYA)
    for query in ("hexagone", "tidewater", "frank.delgado@tidewater.example", "riverbank.example"):
        result = await entitlements.lookup_accounts(demo_store, priya, query=query, now=now)
        assert result.matches == ()


# --- the same over HTTP ------------------------------------------------------------------------

COMMANDS = [
    ("/ea", "{ea}"),
    ("/entitlements", "{ea}"),
    ("/entitlements", "{ea} product:vSphere folder:Home"),
    ("/access", "{ea}"),
    ("/access", "grant {ea} harbor all"),
    ("/access", "revoke {ea} nuage"),
    ("/access", "superuser {ea} {me}"),
    ("/audit", "{ea}"),
    ("/audit", "{ea} 5"),
]


def ack_text(response: Any) -> str:
    body = response.json
    assert body["response_type"] == "ephemeral"
    return json.dumps(body, ensure_ascii=False)


@pytest.mark.parametrize(("email", "ea"), OUTSIDERS)
async def test_commands_over_http_leak_nothing(bot_app: BotUnderTest, email: str, ea: str) -> None:
    secrets = SECRETS[ea] + await key_secrets(bot_app.store, ea)
    before = await snapshot(bot_app.store)
    for command, template in COMMANDS:
        foreign = await bot_app.command(command, template.format(ea=ea, me=email), as_=email)
        missing = await bot_app.command(command, template.format(ea=NOWHERE, me=email), as_=email)
        assert foreign.status == missing.status == 200
        foreign_text = ack_text(foreign)
        assert foreign_text.replace(ea, "<EA>") == ack_text(missing).replace(NOWHERE, "<EA>"), (
            command
        )
        assert not [s for s in secrets if s in foreign_text], (command, template)
    assert await snapshot(bot_app.store) == before


@pytest.mark.parametrize("email", [JEAN, OLIVER, SAM, PRIYA, EOIN])
async def test_ticket_audit_over_http_leaks_nothing(bot_app: BotUnderTest, email: str) -> None:
    ticket_id = await a_ticket(bot_app.store, bot_app.clock())
    foreign = ack_text(await bot_app.command("/audit", f"T-{ticket_id}", as_=email))
    missing = ack_text(await bot_app.command("/audit", f"T-{ticket_id + 1000}", as_=email))
    assert foreign.replace(str(ticket_id), "N") == missing.replace(str(ticket_id + 1000), "N")
    assert "vMotion" not in foreign and "ACME" not in foreign


BUTTONS = [
    (account_blocks.AccountIds.ENTITLEMENTS_MORE, '{{"ea":"{ea}","offset":20}}'),
    (account_blocks.AccountIds.REVOKE_PARTNER, '{{"ea":"{ea}","partner":"nuage"}}'),
    (
        account_blocks.AccountIds.RENEWAL_QUOTE,
        '{{"ea":"{ea}","kind":"contract","ref":"SNS-0041187"}}',
    ),
]


@pytest.mark.parametrize(("email", "ea"), OUTSIDERS)
async def test_buttons_over_http_leak_nothing(bot_app: BotUnderTest, email: str, ea: str) -> None:
    """A crafted button value naming a foreign EA answers like one naming no EA."""
    secrets = SECRETS[ea] + await key_secrets(bot_app.store, ea)
    before = await snapshot(bot_app.store)
    for action_id, template in BUTTONS:
        answers = []
        for number in (ea, NOWHERE):
            click = await bot_app.requests.block_action(
                bot_app.user(email), action_id, template.format(ea=number)
            )
            assert click.status == 200
            answer = await bot_app.fake.wait_for(
                lambda c, name=click.response_name: c.method == f"response_url:{name}"
            )
            answers.append(json.dumps(answer.args, ensure_ascii=False).replace(number, "<EA>"))
        assert answers[0] == answers[1], action_id
        assert not [s for s in secrets if s in answers[0]]
    assert await snapshot(bot_app.store) == before
