"""The rules of the ticket threads without Slack: what a message asks for, how relayed
text is made safe and signed, the dataset's channels, and linking channels."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from ticket_fixtures import demo_actor

from bot import conversations
from bot.domain import Channel, ChannelRole, Organization, OrgKind, PartnerType, ThreadSide
from bot.errors import Conflict, Forbidden, NotFound, UserError
from bot.importer import DatasetError, check, import_document
from bot.store import Store
from bot.store import audit as audit_db
from bot.store import threads as threads_db
from bot.threads import author_label, neutralize

NOW = dt.datetime(2026, 11, 23, 10, 0, tzinfo=dt.UTC)


def org(
    id_: str, kind: OrgKind, name: str, partner_type: PartnerType | None = None
) -> Organization:
    return Organization(
        id=id_,
        kind=kind,
        name=name,
        partner_type=partner_type,
        locale="en",
        timezone="UTC",
        business_hours="mon-fri 09:00-18:00",
        queue_channel=None,
    )


VMW = org("vmw", OrgKind.VENDOR, "VMware")
PIXEL = org("pixel", OrgKind.PARTNER, "Pixel", PartnerType.MSP)
NUAGE = org("nuage", OrgKind.PARTNER, "Nuage", PartnerType.RESELLER)
ACME = org("acme", OrgKind.CUSTOMER, "ACME")


# --------------------------------------------------------------------------- text


def test_relayed_text_pings_nobody_and_keeps_what_was_typed() -> None:
    typed = (
        "Down <!channel> <!here> <@U0ALICE> <#C0X|general> &amp; <https://x.example/a|log> 3 &lt; 4"
    )
    safe = neutralize(typed)
    assert "<" not in safe and ">" not in safe
    assert safe == (
        "Down &lt;!channel&gt; &lt;!here&gt; &lt;@U0ALICE&gt; &lt;#C0X|general&gt; &amp; "
        "&lt;https://x.example/a|log&gt; 3 &lt; 4"
    )
    assert neutralize("a & b") == "a &amp; b"  # an unencoded text is escaped once


def test_authors_are_named_as_their_reader_may_know_them() -> None:
    for reader in (ThreadSide.PARTNER, ThreadSide.VENDOR):
        assert author_label(name="Eoin", org=VMW, reader=reader, partner=PIXEL) == "Eoin (VMware)"
    # R2: an MSP's customer reads its partner, never the vendor.
    assert author_label(name="Eoin", org=VMW, reader=ThreadSide.CUSTOMER, partner=PIXEL) == "Pixel"
    assert (
        author_label(name="Eoin", org=VMW, reader=ThreadSide.CUSTOMER, partner=NUAGE)
        == "Eoin (VMware)"
    )
    assert (
        author_label(name="Alice", org=ACME, reader=ThreadSide.CUSTOMER, partner=NUAGE) == "Alice"
    )
    assert (
        author_label(name="Léa", org=NUAGE, reader=ThreadSide.CUSTOMER, partner=NUAGE)
        == "Léa (Nuage)"
    )


def test_a_message_is_read_like_ticket_new() -> None:
    wanted = conversations.read_message(
        "<@UBOT> sev2 ea:411023871 product:vsphere vMotion fails &amp; hangs\nSince 9am, cluster B"
    )
    assert (wanted.severity, wanted.ea, wanted.product) == (2, "411023871", "vsphere")
    assert wanted.subject == "vMotion fails & hangs"
    assert (
        wanted.description
        == "sev2 ea:411023871 product:vsphere vMotion fails & hangs\nSince 9am, cluster B"
    )
    business = conversations.read_message("business Invoice is wrong <@U0SOMEONE>")
    assert business.business and business.severity == 3 and business.subject == "Invoice is wrong"
    with pytest.raises(UserError):
        conversations.read_message("<@UBOT> sev9 everything")
    with pytest.raises(UserError):
        conversations.read_message("<@UBOT> ea:12 broken")


def test_one_message_has_one_request_key() -> None:
    assert conversations.request_key("C1", "1.2") == conversations.request_key("C1", "1.2")
    assert conversations.request_key("C1", "1.2") != conversations.request_key("C2", "1.2")


# --------------------------------------------------------------------------- dataset


def doc(*channels: dict[str, Any]) -> dict[str, Any]:
    return {
        "vendors": [{"id": "vmw", "name": "VMware", "queue_channel": "C0VMWQ"}],
        "organizations": [
            {"id": "acme", "kind": "customer", "name": "ACME"},
            {"id": "pixel", "kind": "partner", "name": "Pixel", "partner_type": "msp"},
        ],
        "channels": list(channels),
    }


def errors(document: dict[str, Any]) -> list[str]:
    with pytest.raises(DatasetError) as info:
        check(document)
    return info.value.errors


def test_dataset_channels_are_read_with_their_roles() -> None:
    data = check(
        doc(
            {"channel": "C0ACME", "org": "acme", "role": "customer", "partner": "pixel"},
            {"channel": "G0PIXVMW", "org": "vmw", "partner": "pixel"},  # role from the org
        )
    )
    assert data.channels == [
        Channel("C0ACME", "acme", ChannelRole.CUSTOMER, "pixel"),
        Channel("G0PIXVMW", "vmw", ChannelRole.ESCALATION, "pixel"),
    ]


@pytest.mark.parametrize(
    ("channel", "expected"),
    [
        ({"org": "acme", "partner": "pixel"}, "channels[0].channel: required"),
        (
            {"channel": "nope", "org": "acme", "partner": "pixel"},
            "channels[0].channel: 'nope' is not",
        ),
        (
            {"channel": "D0DM", "org": "acme", "partner": "pixel"},
            "channels[0].channel: D0DM is a direct",
        ),
        (
            {"channel": "C0A", "org": "ghost", "partner": "pixel"},
            "channels[0].org: no organization 'ghost'",
        ),
        (
            {"channel": "C0A", "org": "acme", "role": "lobby", "partner": "pixel"},
            "channels[0].role: unknown channel role 'lobby'",
        ),
        ({"channel": "C0A", "org": "acme"}, "channels[0].partner: required"),
        (
            {"channel": "C0A", "org": "acme", "partner": "acme"},
            "channels[0].partner: 'acme' is a customer",
        ),
        (
            {"channel": "C0A", "org": "vmw", "role": "customer", "partner": "pixel"},
            "channels[0].org: 'vmw' is a vendor",
        ),
        (
            {"channel": "C0A", "org": "pixel", "role": "escalation"},
            "channels[0].org: 'pixel' is a partner",
        ),
        ({"channel": "C0A", "org": "vmw"}, "channels[0].partner: required"),
    ],
)
def test_dataset_channel_errors_name_their_place(channel: dict[str, Any], expected: str) -> None:
    found = errors(doc(channel))
    assert any(e.startswith(expected) for e in found), found


def test_a_channel_is_linked_once() -> None:
    found = errors(
        doc(
            {"channel": "C0A", "org": "acme", "partner": "pixel"},
            {"channel": "C0A", "org": "vmw", "partner": "pixel"},
        )
    )
    assert found == ["channels[1].channel: duplicate channel C0A"]


async def test_an_import_refuses_a_channel_already_stored(store: Store) -> None:
    await import_document(store, doc({"channel": "C0A", "org": "acme", "partner": "pixel"}))
    again = {"channels": [{"channel": "C0A", "org": "vmw", "partner": "pixel"}]}
    with pytest.raises(DatasetError) as info:
        await import_document(store, again)
    assert info.value.errors == ["channels[0].channel: duplicate channel C0A"]


# --------------------------------------------------------------------------- linking


async def test_partner_admins_link_their_customers_channels(demo_store: Store) -> None:
    sophie = await demo_actor(demo_store, "sophie.bernard@nuage.example")  # nuage admin
    lea = await demo_actor(demo_store, "lea.girard@nuage.example")  # nuage agent
    with pytest.raises(Forbidden):
        await conversations.link_channel(
            demo_store, lea, channel="C0NEW", org_id="hexagone", role=None, now=NOW
        )
    with pytest.raises(NotFound):
        await conversations.link_channel(
            demo_store, sophie, channel="C0NEW", org_id="ghost", role=None, now=NOW
        )
    with pytest.raises(UserError):
        await conversations.link_channel(
            demo_store, sophie, channel="C0NEW", org_id="hexagone", role="lobby", now=NOW
        )
    with pytest.raises(UserError):
        await conversations.link_channel(
            demo_store, sophie, channel="C0NEW", org_id="vmw", role="customer", now=NOW
        )
    with pytest.raises(Forbidden):  # Lumière granted nuage nothing
        await conversations.link_channel(
            demo_store, sophie, channel="C0NEW", org_id="lumiere", role=None, now=NOW
        )
    link = await conversations.link_channel(
        demo_store, sophie, channel="C0NEW", org_id="hexagone", role=None, now=NOW
    )
    assert link == Channel("C0NEW", "hexagone", ChannelRole.CUSTOMER, "nuage")
    with pytest.raises(Conflict):
        await conversations.link_channel(
            demo_store, sophie, channel="C0NEW", org_id="hexagone", role=None, now=NOW
        )
    escalation = await conversations.link_channel(
        demo_store, sophie, channel="C0ESC", org_id="vmw", role=None, now=NOW
    )
    assert escalation.role is ChannelRole.ESCALATION and escalation.partner == "nuage"
    nadia = await demo_actor(demo_store, "nadia.roux@pixel.example")  # another partner's admin
    with pytest.raises(NotFound):
        await conversations.unlink_channel(demo_store, nadia, channel="C0NEW", now=NOW)
    await conversations.unlink_channel(demo_store, sophie, channel="C0NEW", now=NOW)
    async with demo_store.read() as conn:
        assert await threads_db.get_channel(conn, channel="C0NEW") is None
        assert await threads_db.get_channel(conn, channel="C0ESC") is not None
        actions = [
            e.action for e in await audit_db.entries(conn, limit=50) if e.actor == sophie.email
        ]
    assert sorted(actions) == ["channel.link", "channel.link", "channel.unlink"]


async def test_event_work_of_one_channel_keeps_its_order_and_others_do_not_wait() -> None:
    import asyncio

    from handlers.threads import ChannelTurns

    turns = ChannelTurns()
    done: list[str] = []

    async def work(channel: str, name: str, seconds: float) -> None:
        async with turns.of(channel):
            await asyncio.sleep(seconds)
            done.append(name)

    await asyncio.gather(
        work("C1", "a1", 0.05),
        work("C1", "a2", 0.0),
        work("C2", "b1", 0.01),
        work("C1", "a3", 0.0),
    )
    assert [n for n in done if n.startswith("a")] == ["a1", "a2", "a3"]
    assert done.index("b1") < done.index("a1")  # another channel runs meanwhile
    assert turns._turns == {}  # nothing kept once every turn is over
