"""R8: who sees which EA and ticket — plain functions over the demo world."""

from __future__ import annotations

import datetime as dt

from bot.domain import Permission, Queue, Status, Ticket, Tier
from bot.store import Store
from bot.store import accounts as accounts_db
from bot.visibility import (
    ALL_PERMISSIONS,
    Actor,
    account_view,
    can_see_ticket,
    load_actor,
    mask_key,
    visible_accounts,
)

TODAY = dt.date(2026, 11, 23)


async def actor(store: Store, email: str) -> Actor:
    async with store.read() as conn:
        found = await load_actor(conn, email=email, default_locale="en")
    assert found is not None, email
    return found


async def view_of(store: Store, email: str, ea: str, today: dt.date = TODAY):  # type: ignore[no-untyped-def]
    who = await actor(store, email)
    async with store.read() as conn:
        return await account_view(conn, actor=who, ea=ea, today=today)


async def test_customers_see_their_own_eas_only(demo_store: Store) -> None:
    own = await view_of(demo_store, "alice.martin@acme.example", "411023871")
    assert own is not None and own.permissions == ALL_PERMISSIONS
    assert await view_of(demo_store, "alice.martin@acme.example", "507781204") is None
    assert await view_of(demo_store, "alice.martin@acme.example", "999999999") is None


async def test_partners_see_through_active_grants_with_their_permissions(demo_store: Store) -> None:
    hexagone = await view_of(demo_store, "lea.girard@nuage.example", "507781204")
    assert hexagone is not None
    assert hexagone.allows(Permission.FILE_SUPPORT_REQUESTS)
    assert not hexagone.allows(Permission.VIEW_LICENSE_KEYS)
    assert (
        await view_of(demo_store, "lea.girard@nuage.example", "620045517") is None
    )  # pixel's customer


async def test_an_expired_grant_no_longer_counts(demo_store: Store) -> None:
    # bluepeak's grant on Tidewater lapsed on 2026-06-30
    assert await view_of(demo_store, "rachel.owens@bluepeak.example", "902334178") is None
    assert (
        await view_of(
            demo_store, "rachel.owens@bluepeak.example", "902334178", dt.date(2026, 6, 30)
        )
        is not None
    )
    # distrilog reads ACME's orders until 2026-12-15, not a day more
    assert (
        await view_of(
            demo_store, "paul.lefevre@distrilog.example", "411023871", dt.date(2026, 12, 15)
        )
        is not None
    )
    assert (
        await view_of(
            demo_store, "paul.lefevre@distrilog.example", "411023871", dt.date(2026, 12, 16)
        )
        is None
    )


async def test_vendor_engineers_see_their_vendors_eas(demo_store: Store) -> None:
    assert await view_of(demo_store, "eoin.byrne@vmware.example", "411023871") is not None
    assert (
        await view_of(demo_store, "eoin.byrne@vmware.example", "560778123") is None
    )  # Microsoft's
    assert await view_of(demo_store, "priya.natarajan@microsoft.example", "560778123") is not None


async def test_a_merged_number_shows_the_account_it_lives_in(demo_store: Store) -> None:
    view = await view_of(demo_store, "grace.holloway@riverbank.example", "733190001")
    assert view is not None
    assert view.ea == "733190462" and view.asked_for == "733190001"
    who = await actor(demo_store, "grace.holloway@riverbank.example")
    async with demo_store.read() as conn:
        listed = [v.ea for v in await visible_accounts(conn, actor=who, today=TODAY)]
    assert listed == ["733190462"]  # the old number is not listed twice


async def test_a_partner_contact_holding_the_superuser_role_sees_the_account(
    demo_store: Store,
) -> None:
    async with demo_store.write() as conn:
        await accounts_db.set_superuser(conn, ea="620045517", email="marc.dupont@nuage.example")
    view = await view_of(demo_store, "marc.dupont@nuage.example", "620045517")
    assert view is not None and view.permissions == ALL_PERMISSIONS
    who = await actor(demo_store, "marc.dupont@nuage.example")
    async with demo_store.read() as conn:
        assert "620045517" in [v.ea for v in await visible_accounts(conn, actor=who, today=TODAY)]
    # his colleagues do not gain anything by it
    assert await view_of(demo_store, "lea.girard@nuage.example", "620045517") is None


def _ticket(**changes: object) -> Ticket:
    now = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)
    values: dict[str, object] = {
        "id": 1,
        "ea": "411023871",
        "customer": "acme",
        "partner": "nuage",
        "vendor": "vmw",
        "tier": Tier.PARTNER,
        "queue": Queue.TECHNICAL,
        "severity": 3,
        "status": Status.NEW,
        "subject": "s",
        "product": None,
        "description": None,
        "opened_by": "alice.martin@acme.example",
        "assignee": None,
        "created_at": now,
        "updated_at": now,
    }
    values.update(changes)
    return Ticket(**values)  # type: ignore[arg-type]


async def test_ticket_visibility_by_tier_and_tenant(demo_store: Store) -> None:
    alice = await actor(demo_store, "alice.martin@acme.example")
    jean = await actor(demo_store, "jean.morel@hexagone.example")
    eoin = await actor(demo_store, "eoin.byrne@vmware.example")
    ticket = _ticket()
    assert can_see_ticket(alice, ticket, None)
    assert not can_see_ticket(jean, ticket, None)
    # a vendor engineer sees it only once it reached the vendor tier
    assert not can_see_ticket(eoin, ticket, None)
    assert can_see_ticket(eoin, _ticket(tier=Tier.VENDOR), None)
    assert can_see_ticket(eoin, _ticket(escalated_at=ticket.created_at), None)  # handed back later
    priya = await actor(demo_store, "priya.natarajan@microsoft.example")
    assert not can_see_ticket(priya, _ticket(tier=Tier.VENDOR), None)


def test_keys_are_masked_to_their_last_five_characters() -> None:
    masked = mask_key("7LRWF-VEALK-XWKKX-ZWWHP-0E4FU")
    assert masked.endswith("0E4FU") and "7LRWF" not in masked and "ZWWHP" not in masked
