"""The trust rules hold in the ticket threads too, over HTTP through the real Bolt app:

- access follows the grant: a partner whose grant is revoked gets nothing more relayed
  into its old thread, and can reply, relay or open nothing more (by command, button,
  form, shortcut, reaction or message);
- license keys stay masked in what is relayed to a partner thread without
  view_license_keys (the customer reads its own keys);
- an MSP's customer reads no escalation in its thread, neither in a status line nor
  on its card (R2);
- the ids in the thread forms are read through the one validated path.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from conftest import BotUnderTest
from test_thread_scenarios import (
    ACME_CH,
    ALICE,
    EOIN,
    GRACE,
    INES,
    LEA,
    LUMIERE_CH,
    MANON,
    MARC,
    MENTION,
    NUAGE_Q,
    PIXEL_Q,
    SOPHIE,
    VMW_Q,
    ack_text,
    acme_ticket,
    post_ts,
    queue_post,
    say,
    settle,
    thread_texts,
    u,
)
from ticket_fixtures import events, get_ticket, ticket_count

from bot import tickets
from bot.blocks.threads import ThreadIds
from bot.domain import Permission, Tier
from bot.store import accounts as accounts_db

CARAVELLE_CH, HEXAGONE_CH = "C0CARAVELLE", "C0HEXAGONE"
CARAVELLE_EA, ACME_EA = "845512930", "411023871"
ETIENNE = "etienne.gagnon@caravelle.example"  # Caravelle's superuser
AMELIE = "amelie.roy@caravelle.example"  # a user of Caravelle
TOM = "tom.walsh@harbor.example"  # harbor agent: Caravelle's other partner
JEAN = "jean.morel@hexagone.example"  # Hexagone: nuage holds no view_license_keys there
CAMILLE = "camille.martin@distrilog.example"  # distrilog admin: reads ACME's orders only
MEGAN = "megan.ford@dataforge.example"  # dataforge ATC: keys on Tidewater's EA
RACHEL = "rachel.owens@bluepeak.example"  # bluepeak ATC: its Tidewater grant has lapsed
TIDEWATER_EA = "902334178"
HARBOR_Q = "C0HARBORQ"
KEY = "7LRWF-VEALK-XWKKX-ZWWHP-0E4FU"
MASKED = "•••••-•••••-•••••-•••••-0E4FU"


async def link(bot: BotUnderTest, channel: str, org: str) -> None:
    linked = ack_text(
        await bot.command("/supportbot", f"channel link {org}", as_=SOPHIE, channel_id=channel)
    )
    assert "customer" in linked or "client" in linked, linked


def nuage_calls(bot: BotUnderTest) -> list[tuple[str, str]]:
    """Every post and update the bot sent to nuage's queue channel."""
    return [
        (c.method, str(c.args.get("text")))
        for c in bot.fake.calls
        if c.method in ("chat.postMessage", "chat.update") and c.args.get("channel") == NUAGE_Q
    ]


async def test_a_revoked_partner_gets_nothing_more_from_the_threads_and_does_nothing_more(
    bot_app: BotUnderTest,
) -> None:
    await link(bot_app, CARAVELLE_CH, "caravelle")
    opened = await say(
        bot_app,
        CARAVELLE_CH,
        AMELIE,
        f"{MENTION} sev3 ea:{CARAVELLE_EA} product:vsphere Hosts lose their datastore",
    )
    ts = str(opened["ts"])
    assert (await get_ticket(bot_app.store, 1)).partner == "nuage"
    nuage_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE))
    await settle(bot_app)
    ticket = await get_ticket(bot_app.store, 1)
    assert (ticket.tier, ticket.partner) == (Tier.PARTNER, "harbor")
    harbor_ts = post_ts(bot_app, queue_post(bot_app, HARBOR_Q))
    seen_by_nuage = nuage_calls(bot_app)

    # The customer's words go to the partner that holds the ticket now, and only there.
    # #caravelle is shared with nuage: the conversation goes on in Amélie's direct
    # messages, the thread of the notice that told her where the ticket went.
    [notice] = [c for c in bot_app.fake.posts(u(AMELIE)) if "T-1" in str(c.args["text"])][-1:]
    dm, dm_ts = bot_app.fake.dm_channel(u(AMELIE)), post_ts(bot_app, notice)
    await say(bot_app, dm, AMELIE, "Still down on host 4", thread_ts=dm_ts)
    assert any("Still down on host 4" in x for x in thread_texts(bot_app, HARBOR_Q, harbor_ts))
    await say(bot_app, CARAVELLE_CH, AMELIE, "Said where nuage reads", thread_ts=ts)
    assert not any("nuage reads" in x for x in thread_texts(bot_app, HARBOR_Q, harbor_ts))
    # Harbor works it: status lines and card updates reach harbor's thread, not nuage's.
    ack_text(await bot_app.command("/ticket", "take T-1", as_=TOM))
    ack_text(await bot_app.command("/ticket", "reply T-1 Looking at it now", as_=TOM))
    await settle(bot_app)
    assert any("Looking at it now" in x for x in thread_texts(bot_app, dm, dm_ts))
    assert not any("Looking at it now" in x for x in thread_texts(bot_app, CARAVELLE_CH, ts))

    # Nuage can do nothing more, by any path, and reads it as a missing ticket.
    reply = ack_text(await bot_app.command("/ticket", "reply T-1 Still with us?", as_=LEA))
    missing = ack_text(await bot_app.command("/ticket", "reply T-99 Still with us?", as_=LEA))
    assert reply.replace("T-1", "T-99") == missing
    vendor = ack_text(await bot_app.command("/ticket", "reply T-1 vendor Hello", as_=MARC))
    assert vendor.replace("T-1", "T-99") == ack_text(
        await bot_app.command("/ticket", "reply T-99 vendor Hello", as_=MARC)
    )
    pressed = await bot_app.requests.block_action(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER_BUTTON, "1", channel_id=NUAGE_Q
    )
    pressed_missing = await bot_app.requests.block_action(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER_BUTTON, "99", channel_id=NUAGE_Q
    )
    await settle(bot_app)
    [answer] = bot_app.fake.responses(pressed.response_name)
    [answer_missing] = bot_app.fake.responses(pressed_missing.response_name)
    assert answer.args["text"].replace("T-1", "T-99") == answer_missing.args["text"]
    submitted = await bot_app.requests.view_submission(
        u(LEA),
        ThreadIds.REPLY_MODAL,
        {ThreadIds.REPLY_TEXT: {ThreadIds.REPLY_TEXT: "From the old partner"}},
        private_metadata="1",
    )
    assert submitted.status == 200
    internal = await say(bot_app, NUAGE_Q, LEA, "Pass this on please", thread_ts=nuage_ts)
    shortcut = await bot_app.requests.message_shortcut(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER, NUAGE_Q, internal
    )
    assert shortcut.status == 200
    await say(bot_app, CARAVELLE_CH, LEA, "Nuage here, we still follow it", thread_ts=ts)
    await settle(bot_app)
    customer = thread_texts(bot_app, CARAVELLE_CH, ts)
    for said in ("Still with us?", "From the old partner", "Pass this on", "Nuage here"):
        assert not any(said in x for x in customer), said
    assert not any("Nuage here" in x for x in thread_texts(bot_app, HARBOR_Q, harbor_ts))
    kinds = [e.kind for e in await events(bot_app.store, 1)]
    assert "partner_to_customer" not in kinds and "internal_message" not in kinds
    # Not one more word reached nuage's channel since the grant went.
    assert nuage_calls(bot_app) == seen_by_nuage


async def test_a_revoked_partners_reaction_opens_nothing_in_the_customers_name(
    bot_app: BotUnderTest,
) -> None:
    await link(bot_app, CARAVELLE_CH, "caravelle")
    ack_text(await bot_app.command("/access", f"revoke {CARAVELLE_EA} nuage", as_=ETIENNE))
    asked = await say(bot_app, CARAVELLE_CH, AMELIE, f"ea:{CARAVELLE_EA} Backups fail every night")
    await bot_app.requests.reaction(u(LEA), CARAVELLE_CH, str(asked["ts"]))
    await settle(bot_app)
    assert await ticket_count(bot_app.store) == 0
    assert thread_texts(bot_app, CARAVELLE_CH, str(asked["ts"])) == []
    # Nor does the customer's own 🎫 there: the channel is shared with nuage, which
    # would read the ticket. She is told to open it by command, where it reaches harbor.
    await bot_app.requests.reaction(u(AMELIE), CARAVELLE_CH, str(asked["ts"]))
    await settle(bot_app)
    assert await ticket_count(bot_app.store) == 0
    [told] = thread_texts(bot_app, CARAVELLE_CH, str(asked["ts"]))
    assert "/ticket new" in told and CARAVELLE_EA in told


async def test_only_a_partner_filing_the_customers_tickets_links_its_channel(
    bot_app: BotUnderTest,
) -> None:
    """distrilog reads ACME's orders only: a channel it shares would show it ACME's
    tickets, so it may not link one."""
    refused = ack_text(
        await bot_app.command(
            "/supportbot", "channel link acme", as_=CAMILLE, channel_id="C0DISTRIACME"
        )
    )
    assert "ACME" in refused
    await say(bot_app, "C0DISTRIACME", ALICE, f"{MENTION} sev3 ea:{ACME_EA} Licences missing")
    assert await ticket_count(bot_app.store) == 0


async def test_a_lapsed_grant_relays_nothing_before_its_tickets_move(
    bot_app: BotUnderTest,
) -> None:
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    async with bot_app.store.write() as conn:
        grant = await accounts_db.get_grant(conn, ea=ACME_EA, partner="nuage")
        assert grant is not None
        yesterday = bot_app.clock().date() - dt.timedelta(days=1)
        await accounts_db.upsert_grant(conn, grant=dataclasses.replace(grant, until=yesterday))
    before = nuage_calls(bot_app)
    await say(bot_app, ACME_CH, ALICE, "Any news on the vMotion issue?", thread_ts=ts)
    assert nuage_calls(bot_app) == before
    assert not any("Any news" in x for x in thread_texts(bot_app, NUAGE_Q, partner_ts))
    # At the next scan the ticket moves on (to the vendor: ACME has no other partner
    # filing tickets), and the customer's words go there.
    assert await tickets.release_lapsed_grants(bot_app.store, now=bot_app.clock()) == ["T-1"]
    await settle(bot_app)
    vendor_ts = post_ts(bot_app, queue_post(bot_app, VMW_Q))
    # ACME's channel is shared with nuage: the conversation goes on in Alice's direct
    # messages, from the notice of the move.
    notice = [c for c in bot_app.fake.posts(u(ALICE)) if "T-1" in str(c.args["text"])][-1]
    dm = bot_app.fake.dm_channel(u(ALICE))
    await say(bot_app, dm, ALICE, "Still failing tonight", thread_ts=post_ts(bot_app, notice))
    assert any("Still failing tonight" in x for x in thread_texts(bot_app, VMW_Q, vendor_ts))
    assert not any(
        m == "chat.postMessage" and "Still failing" in x for m, x in nuage_calls(bot_app)
    )


async def test_keys_relayed_to_a_partner_without_view_license_keys_are_masked(
    bot_app: BotUnderTest,
) -> None:
    await link(bot_app, HEXAGONE_CH, "hexagone")
    opened = await say(bot_app, HEXAGONE_CH, JEAN, f"{MENTION} sev3 Backup job fails")
    ts = str(opened["ts"])
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    await say(bot_app, HEXAGONE_CH, JEAN, f"It fails with key {KEY} only", thread_ts=ts)
    relayed = [x for x in thread_texts(bot_app, NUAGE_Q, partner_ts) if "fails with key" in x]
    assert relayed and all(KEY not in x and MASKED in x for x in relayed), relayed
    # The customer's own keys are its own: a reply to it carries them as written, and
    # the partner's copy of that reply is masked.
    ack_text(await bot_app.command("/ticket", f"reply T-1 Is {KEY} the one?", as_=LEA))
    await settle(bot_app)
    assert any(f"Is {KEY} the one?" in x for x in thread_texts(bot_app, HEXAGONE_CH, ts))
    copies = [x for x in thread_texts(bot_app, NUAGE_Q, partner_ts) if "the one?" in x]
    assert copies and all(KEY not in x for x in copies), copies
    # What the vendor writes reaches the partner thread masked as well.
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced, need the vendor", as_=MARC))
    await settle(bot_app)
    vendor_ts = post_ts(bot_app, queue_post(bot_app, VMW_Q))
    await say(bot_app, VMW_Q, EOIN, f"Key {KEY} hits a known bug", thread_ts=vendor_ts)
    from_vendor = [x for x in thread_texts(bot_app, NUAGE_Q, partner_ts) if "known bug" in x]
    assert from_vendor and all(KEY not in x and MASKED in x for x in from_vendor), from_vendor


async def test_an_msp_customer_reads_no_escalation_in_its_thread(bot_app: BotUnderTest) -> None:
    message = await say(
        bot_app, LUMIERE_CH, MANON, f"{MENTION} sev2 product:foundation Upgrade stuck at 60 %"
    )
    ts = str(message["ts"])
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced in the lab", as_=INES))
    await settle(bot_app)
    assert post_ts(bot_app, queue_post(bot_app, PIXEL_Q))
    ack_text(await bot_app.command("/ticket", "take T-1", as_=EOIN))
    ack_text(await bot_app.command("/ticket", "resolve T-1 Patched the precheck", as_=EOIN))
    await settle(bot_app)
    lines = thread_texts(bot_app, LUMIERE_CH, ts)
    updates = [
        str(c.args["text"])
        for c in bot_app.fake.calls_to("chat.update")
        if c.args.get("channel") == LUMIERE_CH
    ]
    assert updates, "the customer's card follows the ticket"
    for text in lines + updates:
        for leak in ("escalad", "escalat", "éditeur", "spécialistes", "specialists", "VMware"):
            assert leak not in text, (leak, text)
    assert any("résolu" in x or "resolved" in x for x in lines), lines


async def test_the_reply_form_reads_its_ticket_id_through_the_validated_path(
    bot_app: BotUnderTest,
) -> None:
    for tampered in ("²", "١", "-1", "T-1; drop", "9" * 40, ""):
        submitted = await bot_app.requests.view_submission(
            u(LEA),
            ThreadIds.REPLY_MODAL,
            {ThreadIds.REPLY_TEXT: {ThreadIds.REPLY_TEXT: "hello"}},
            private_metadata=tampered,
        )
        assert submitted.status == 200, (tampered, submitted.text)
        assert submitted.json["response_action"] == "update", tampered
        shown = str(submitted.json["view"])
        assert "unexpected" not in shown.lower() and "inattendu" not in shown.lower()


async def test_faq_answers_show_keys_and_eas_only_as_the_asker_may_see_them(
    bot_app: BotUnderTest,
) -> None:
    """The personalised FAQ answer goes through the asker's view: a lapsed grant shows
    nothing of its EA, and keys are masked without view_license_keys."""
    question = "where is support for my OEM keys"
    shown = (await bot_app.command("/faq", question, as_=MEGAN)).json["blocks"][0]["text"]
    assert TIDEWATER_EA in shown["text"] and "•••••" not in shown["text"]
    lapsed = (await bot_app.command("/faq", question, as_=RACHEL)).json["blocks"][0]["text"]
    assert TIDEWATER_EA not in lapsed["text"]  # bluepeak's grant there has lapsed
    async with bot_app.store.write() as conn:
        grant = await accounts_db.get_grant(conn, ea=TIDEWATER_EA, partner="dataforge")
        assert grant is not None
        without_keys = frozenset({Permission.VIEW_ORDERS_CONTRACTS})
        await accounts_db.upsert_grant(
            conn, grant=dataclasses.replace(grant, permissions=without_keys)
        )
    masked = (await bot_app.command("/faq", question, as_=MEGAN)).json["blocks"][0]["text"]
    assert TIDEWATER_EA in masked["text"] and "•••••-•••••-•••••-•••••-" in masked["text"]
    full_keys = [k for k in shown["text"].split("`")[1::2] if k.count("-") == 4]
    assert full_keys and not any(k in masked["text"] for k in full_keys)


async def test_a_stranger_in_a_customer_channel_opens_nothing_and_learns_nothing(
    bot_app: BotUnderTest,
) -> None:
    for stranger in (EOIN, GRACE, MANON):
        said = await say(bot_app, ACME_CH, stranger, f"{MENTION} sev1 ea:{ACME_EA} Open this")
        await bot_app.requests.reaction(u(stranger), ACME_CH, str(said["ts"]))
        await settle(bot_app)
        assert thread_texts(bot_app, ACME_CH, str(said["ts"])) == [], stranger
    assert await ticket_count(bot_app.store) == 0
    assert bot_app.fake.posts(NUAGE_Q) == []
