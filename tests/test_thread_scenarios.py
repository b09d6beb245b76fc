"""Tickets in threads over HTTP: the real Bolt app, signed events and interactions, the
fake Web API. A ticket opened from a customer channel's message keeps its conversation
in three threads — the customer's, the partner's queue post, the vendor's queue post —
and the bot carries each message across by the rules (internal by default, R2 for MSPs).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from conftest import BotUnderTest, user_id_for
from fakeslack import BOT_USER_ID, Call
from ticket_fixtures import events, get_ticket, ticket_count

from bot.blocks.threads import ThreadIds
from bot.domain import Status
from bot.store import audit as audit_db
from handlers import middleware

ALICE = "alice.martin@acme.example"  # ACME superuser (fr)
LEA = "lea.girard@nuage.example"  # nuage agent
MARC = "marc.dupont@nuage.example"  # nuage ATC
SOPHIE = "sophie.bernard@nuage.example"  # nuage admin
EOIN = "eoin.byrne@vmware.example"  # VMware engineer
MANON = "manon.blanc@lumiere.example"  # Lumière (customer of the MSP pixel)
INES = "ines.fabre@pixel.example"  # pixel ATC
HUGO = "hugo.moreau@pixel.example"  # pixel agent
GRACE = "grace.holloway@riverbank.example"  # no partner

ACME_CH, LUMIERE_CH = "C0ACMESUPPORT", "C0LUMIERESUP"
NUAGE_Q, PIXEL_Q, VMW_Q = "C0NUAGEQ", "C0PIXELQ", "C0VMWGSS"
MENTION = f"<@{BOT_USER_ID}>"


def u(email: str) -> str:
    return user_id_for(email)


def ack_text(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    return str(response.json["text"])


def thread_texts(bot: BotUnderTest, channel: str, ts: str) -> list[str]:
    return [str(c.args["text"]) for c in bot.fake.thread(channel, ts)]


def queue_post(bot: BotUnderTest, channel: str) -> Call:
    [post] = [c for c in bot.fake.posts(channel) if not c.args.get("thread_ts")]
    return post


def post_ts(bot: BotUnderTest, call: Call) -> str:
    """The ts Slack gave a post (the fake records the answer in its channel history)."""
    channel = str(call.args["channel"])
    if channel.startswith("U"):
        channel = bot.fake.dm_channel(channel)  # a post to a person lands in the bot's DM
    for message in bot.fake.messages.get(channel, []):
        if message.get("user") == BOT_USER_ID and message["text"] == call.args["text"]:
            return str(message["ts"])
    raise AssertionError("post not found")


async def settle(bot: BotUnderTest) -> None:
    """Let the listeners Bolt runs after the ack finish, then deliver what they owe."""
    await listeners_done()
    await bot.drain()


async def listeners_done() -> None:
    """Wait for the work an event starts after its ack (``after_ack``: the request is
    answered at once, the work goes on in the background)."""
    assert await middleware.wait_background(10.0), "event work still running after 10 s"


async def say(
    bot: BotUnderTest, channel: str, email: str, text: str, **kwargs: Any
) -> dict[str, Any]:
    response, message = await bot.requests.message(channel, u(email), text, **kwargs)
    assert response.status == 200, response.text
    await settle(bot)
    return message


async def acme_ticket(bot: BotUnderTest, text: str = "") -> str:
    """Alice asks in #acme-support; returns the ts of her message (the customer thread)."""
    message = await say(
        bot,
        ACME_CH,
        ALICE,
        text or f"{MENTION} sev2 ea:411023871 product:vsphere vMotion fails on cluster B",
    )
    return str(message["ts"])


# --------------------------------------------------------------------------- intake


async def test_a_mention_opens_a_ticket_answered_in_the_message_thread(bot_app):
    ts = await acme_ticket(bot_app)
    [answer] = thread_texts(bot_app, ACME_CH, ts)
    assert "T-1" in answer and "Sev 2" in answer
    post = queue_post(bot_app, NUAGE_Q)
    assert "T-1" in post.args["text"] and "Sev 2" in post.args["text"]
    ticket = await get_ticket(bot_app.store, 1)
    assert (
        ticket.ea == "411023871"
        and ticket.severity == 2
        and ticket.product == "vSphere Enterprise Plus"
    )
    assert ticket.opened_by == ALICE and "vMotion fails on cluster B" in ticket.subject
    # Slack sends the same message as app_mention too: still one ticket, one answer.
    await bot_app.requests.event(
        {
            "type": "app_mention",
            "channel": ACME_CH,
            "user": u(ALICE),
            "ts": ts,
            "text": f"{MENTION} sev2 ea:411023871 product:vsphere vMotion fails on cluster B",
        }
    )
    await settle(bot_app)
    assert await ticket_count(bot_app.store) == 1
    assert len(thread_texts(bot_app, ACME_CH, ts)) == 1


async def test_several_eas_the_bot_asks_in_the_thread_with_a_picker(bot_app):
    message = await say(bot_app, ACME_CH, ALICE, f"{MENTION} Backups fail every night")
    ts = str(message["ts"])
    assert await ticket_count(bot_app.store) == 0
    [question] = bot_app.fake.thread(ACME_CH, ts)
    select = question.args["blocks"][1]["elements"][0]
    assert select["action_id"] == ThreadIds.PICK_EA
    assert {o["value"] for o in select["options"]} == {"411023871", "411023872", "411023873"}
    picker = {
        "type": "message",
        "user": BOT_USER_ID,
        "ts": post_ts(bot_app, question),
        "thread_ts": ts,
        "text": question.args["text"],
    }
    response = await bot_app.requests.block_action(
        u(ALICE),
        ThreadIds.PICK_EA,
        {
            "type": "static_select",
            "selected_option": {"value": "411023872", "text": {"type": "plain_text", "text": "x"}},
        },
        message=picker,
        channel_id=ACME_CH,
    )
    assert response.status == 200
    await settle(bot_app)
    ticket = await get_ticket(bot_app.store, 1)
    assert ticket.ea == "411023872" and ticket.subject == "Backups fail every night"
    assert any("T-1" in text for text in thread_texts(bot_app, ACME_CH, ts))


async def test_a_ticket_reaction_by_the_partner_opens_it_in_the_customers_name(bot_app):
    message = await say(bot_app, ACME_CH, ALICE, "vSAN health alert on host 3 ea:411023871")
    ts = str(message["ts"])
    assert await ticket_count(bot_app.store) == 0  # no mention: just talk
    await bot_app.requests.reaction(u(EOIN), ACME_CH, ts)  # not of ACME nor nuage
    await bot_app.requests.reaction(u(LEA), ACME_CH, ts, reaction="eyes")
    await settle(bot_app)
    assert await ticket_count(bot_app.store) == 0
    response = await bot_app.requests.reaction(u(LEA), ACME_CH, ts)
    assert response.status == 200
    await settle(bot_app)
    ticket = await get_ticket(bot_app.store, 1)
    assert ticket.customer == "acme" and ticket.opened_by == ALICE
    assert ticket.description == "vSAN health alert on host 3 ea:411023871"
    [answer] = thread_texts(bot_app, ACME_CH, ts)
    assert "T-1" in answer
    assert "T-1" in queue_post(bot_app, NUAGE_Q).args["text"]


async def test_the_message_shortcut_opens_a_ticket(bot_app):
    message = await say(bot_app, ACME_CH, ALICE, "sev3 ea:411023871 Horizon login is slow")
    response = await bot_app.requests.message_shortcut(
        u(ALICE), ThreadIds.TICKET_FROM_MESSAGE, ACME_CH, message
    )
    assert response.status == 200
    await settle(bot_app)
    [private] = bot_app.fake.responses(response.response_name)
    assert "T-1" in private.args["text"] and private.args["response_type"] == "ephemeral"
    [answer] = thread_texts(bot_app, ACME_CH, str(message["ts"]))
    assert "T-1" in answer
    assert (await get_ticket(bot_app.store, 1)).subject == "Horizon login is slow"
    # Outside a customer channel the shortcut explains itself and opens nothing.
    elsewhere = await bot_app.requests.message_shortcut(
        u(ALICE), ThreadIds.TICKET_FROM_MESSAGE, "C0RANDOM", {**message, "ts": "1700000999.000100"}
    )
    await settle(bot_app)
    [refusal] = bot_app.fake.responses(elsewhere.response_name)
    assert "/ticket new" in refusal.args["text"]
    assert await ticket_count(bot_app.store) == 1


async def test_edits_joins_and_the_bots_own_messages_open_nothing(bot_app):
    text = f"{MENTION} ea:411023871 Disk latency"
    for subtype in ("message_changed", "channel_join", "bot_message"):
        await say(bot_app, ACME_CH, ALICE, text, subtype=subtype)
    await say(bot_app, ACME_CH, ALICE, text, ts=None, thread_ts="1700000000.000001")  # a reply
    response, _ = await bot_app.requests.message(ACME_CH, BOT_USER_ID, text)
    await settle(bot_app)
    assert response.status == 200
    assert await ticket_count(bot_app.store) == 0
    assert bot_app.fake.posts() == []


async def test_a_retried_or_doubled_event_opens_one_ticket(bot_app):
    text = f"{MENTION} sev2 ea:411023871 Host purple screen"
    message = bot_app.fake.add_message(ACME_CH, u(ALICE), text)
    event = {
        "type": "message",
        "channel": ACME_CH,
        "user": u(ALICE),
        "text": text,
        "ts": message["ts"],
        "channel_type": "channel",
    }
    first = await bot_app.requests.event(event, event_id="Ev0RETRIED1")
    again = await bot_app.requests.event(event, event_id="Ev0RETRIED1", retry_num=1)
    # Another delivery id for the same message (an instance that never saw the first).
    other = await bot_app.requests.event(event, event_id="Ev0OTHER001")
    assert (first.status, again.status, other.status) == (200, 200, 200)
    await settle(bot_app)
    assert await ticket_count(bot_app.store) == 1
    assert len(thread_texts(bot_app, ACME_CH, str(message["ts"]))) == 1
    assert len([c for c in bot_app.fake.posts(NUAGE_Q) if not c.args.get("thread_ts")]) == 1


async def test_the_ack_of_an_event_never_waits_on_the_web_api(bot_app):
    bot_app.fake.delay("users.info", 2.5)
    bot_app.fake.delay("conversations.history", 2.5)
    message = bot_app.fake.add_message(ACME_CH, u(ALICE), "ea:411023871 Licence server down")
    started = time.monotonic()
    response = await bot_app.requests.reaction(u(LEA), ACME_CH, str(message["ts"]))
    assert response.status == 200
    assert time.monotonic() - started < 1.0
    bot_app.fake.delay("users.info", 0)
    bot_app.fake.delay("conversations.history", 0)
    for _ in range(100):
        if await ticket_count(bot_app.store):
            break
        await asyncio.sleep(0.1)
    assert await ticket_count(bot_app.store) == 1


# --------------------------------------------------------------------------- relays


async def test_customer_replies_reach_the_partner_thread_escaped(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    await say(
        bot_app,
        ACME_CH,
        ALICE,
        "Still failing <!channel> & see <https://logs.example/x|logs>",
        thread_ts=ts,
    )
    [relayed] = thread_texts(bot_app, NUAGE_Q, partner_ts)
    assert "Alice Martin (ACME SA)" in relayed
    assert "Still failing &lt;!channel&gt; &amp; see &lt;https://logs.example/x|logs&gt;" in relayed
    assert "<!channel>" not in relayed and "<https://" not in relayed
    kinds = [e.kind for e in await events(bot_app.store, 1)]
    assert "customer_message" in kinds


async def test_thread_messages_delivered_together_are_relayed_in_their_order(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    # Slack delivers five replies at once; the work of each follows its ack.
    sent = [f"step {n}" for n in range(1, 6)]
    for text in sent:
        response, _ = await bot_app.requests.message(ACME_CH, u(ALICE), text, thread_ts=ts)
        assert response.status == 200
    await settle(bot_app)
    relayed = thread_texts(bot_app, NUAGE_Q, partner_ts)
    assert [next(s for s in sent if s in text) for text in relayed] == sent


async def test_partner_thread_is_internal_until_an_explicit_reply(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    before = len(bot_app.fake.posts())
    await say(
        bot_app, NUAGE_Q, LEA, "Looks like the storage vMotion bug, checking", thread_ts=partner_ts
    )
    assert len(bot_app.fake.posts()) == before  # relayed nowhere
    assert "internal_message" in [e.kind for e in await events(bot_app.store, 1)]
    done = ack_text(
        await bot_app.command("/ticket", "reply T-1 Please send the vmkernel log", as_=LEA)
    )
    assert "T-1" in done
    await settle(bot_app)
    customer = thread_texts(bot_app, ACME_CH, ts)
    assert any(
        "Please send the vmkernel log" in x and "Nuage Informatique SARL" in x for x in customer
    )
    assert not any("storage vMotion bug" in x for x in customer)
    ticket = await get_ticket(bot_app.store, 1)
    assert ticket.first_clock is not None and ticket.first_clock.responded_at is not None
    # Nobody else speaks for the partner.
    refused = ack_text(await bot_app.command("/ticket", "reply T-1 hello", as_=ALICE))
    assert "T-1" in refused
    assert ack_text(await bot_app.command("/ticket", "reply T-1", as_=LEA))  # text required


async def test_reply_to_customer_shortcut_on_an_internal_message(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    note = await say(bot_app, NUAGE_Q, LEA, "Fixed in 8.0 U2, please upgrade", thread_ts=partner_ts)
    response = await bot_app.requests.message_shortcut(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER, NUAGE_Q, note
    )
    again = await bot_app.requests.message_shortcut(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER, NUAGE_Q, note
    )
    assert response.status == again.status == 200
    await settle(bot_app)
    customer = [x for x in thread_texts(bot_app, ACME_CH, ts) if "Fixed in 8.0 U2" in x]
    assert len(customer) == 1 and "Léa Girard (Nuage Informatique SARL)" in customer[0]


async def test_a_customer_reply_resumes_a_clock_waiting_on_her(bot_app):
    ts = await acme_ticket(bot_app)
    ack_text(await bot_app.command("/ticket", "wait T-1 Which ESXi build?", as_=LEA))
    await settle(bot_app)
    waiting = await get_ticket(bot_app.store, 1)
    assert waiting.status is Status.WAITING_ON_CUSTOMER
    assert any(c.paused for c in waiting.clocks) or waiting.first_clock.responded_at is not None
    bot_app.clock.advance(hours=2)
    await say(bot_app, ACME_CH, ALICE, "Build 22380479", thread_ts=ts)
    ticket = await get_ticket(bot_app.store, 1)
    assert ticket.status is Status.IN_PROGRESS
    assert not any(c.paused for c in ticket.clocks)
    assert all(end is not None for c in ticket.clocks for _start, end in c.pauses)
    kinds = [e.kind for e in await events(bot_app.store, 1)]
    assert kinds[-2:] == ["customer_message", "resumed"]
    # Each status change is a line in the threads whose readers may see it.
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    partner = thread_texts(bot_app, NUAGE_Q, partner_ts)
    assert any("Build 22380479" in x for x in partner)
    assert sum("T-1" in x and "attente" in x for x in partner) == 2, partner  # waiting, then back
    customer = thread_texts(bot_app, ACME_CH, ts)
    assert any("T-1" in x and "attente de votre réponse" in x for x in customer)  # her words
    # and her card in the thread is updated in place
    card_ts = post_ts(bot_app, bot_app.fake.thread(ACME_CH, ts)[0])
    assert any(c.args.get("ts") == card_ts for c in bot_app.fake.calls_to("chat.update"))


async def test_vendor_answers_reach_the_partner_who_may_relay_them(bot_app):
    ts = await acme_ticket(bot_app)
    ack_text(
        await bot_app.command("/escalate", "T-1 sev2 Reproduced on two hosts, no KB", as_=MARC)
    )
    await settle(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    vendor_ts = post_ts(bot_app, queue_post(bot_app, VMW_Q))
    await say(bot_app, VMW_Q, EOIN, "Known issue, apply KB 9876", thread_ts=vendor_ts)
    [relay] = [c for c in bot_app.fake.thread(NUAGE_Q, partner_ts) if "KB 9876" in c.args["text"]]
    assert "Eoin Byrne (VMware)" in relay.args["text"]
    button = relay.args["blocks"][1]["elements"][0]
    assert button["action_id"] == ThreadIds.RELAY_VENDOR_ANSWER
    assert not any("KB 9876" in x for x in thread_texts(bot_app, ACME_CH, ts))
    clicked = await bot_app.requests.block_action(
        u(LEA), ThreadIds.RELAY_VENDOR_ANSWER, button["value"], channel_id=NUAGE_Q
    )
    assert clicked.status == 200
    await settle(bot_app)
    [passed] = [x for x in thread_texts(bot_app, ACME_CH, ts) if "KB 9876" in x]
    assert "Eoin Byrne (VMware)" in passed
    # The ATC answers the vendor in its thread; an agent is refused with the ATCs named.
    refused = ack_text(await bot_app.command("/ticket", "reply T-1 vendor Thanks", as_=LEA))
    assert "Marc Dupont" in refused
    ack_text(await bot_app.command("/ticket", "reply T-1 vendor Applied, still failing", as_=MARC))
    await settle(bot_app)
    assert any(
        "Applied, still failing" in x and "Marc Dupont (Nuage Informatique SARL)" in x
        for x in thread_texts(bot_app, VMW_Q, vendor_ts)
    )
    assert "vendor_message" in [e.kind for e in await events(bot_app.store, 1)]
    # A status change at the vendor: one line in each thread, the partner's card updated.
    ack_text(await bot_app.command("/ticket", "take T-1", as_=EOIN))
    await settle(bot_app)
    for channel, thread in ((VMW_Q, vendor_ts), (NUAGE_Q, partner_ts), (ACME_CH, ts)):
        lines = [x for x in thread_texts(bot_app, channel, thread) if "Eoin Byrne (VMware)" in x]
        assert any("T-1" in x and "Applied" not in x and "KB" not in x for x in lines), channel
    updated = {(c.args["channel"], c.args["ts"]) for c in bot_app.fake.calls_to("chat.update")}
    assert (NUAGE_Q, partner_ts) in updated and (VMW_Q, vendor_ts) in updated


async def test_an_msp_customer_sees_only_what_the_partner_relays(bot_app):
    message = await say(
        bot_app, LUMIERE_CH, MANON, f"{MENTION} sev2 product:foundation Upgrade stuck at 60 %"
    )
    ts = str(message["ts"])
    assert any("T-1" in x for x in thread_texts(bot_app, LUMIERE_CH, ts))
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced in the lab", as_=INES))
    await settle(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, PIXEL_Q))
    vendor_ts = post_ts(bot_app, queue_post(bot_app, VMW_Q))
    answer = await say(
        bot_app, VMW_Q, EOIN, "Upgrade precheck bug, workaround in KB 1234", thread_ts=vendor_ts
    )
    [relay] = [c for c in bot_app.fake.thread(PIXEL_Q, partner_ts) if "KB 1234" in c.args["text"]]
    assert "Eoin Byrne (VMware)" in relay.args["text"]
    assert "blocks" not in relay.args or all(b["type"] != "actions" for b in relay.args["blocks"])
    refused = await bot_app.requests.block_action(
        u(INES), ThreadIds.RELAY_VENDOR_ANSWER, f"1:{answer['ts']}", channel_id=PIXEL_Q
    )
    await settle(bot_app)
    [refusal] = bot_app.fake.responses(refused.response_name)
    assert "/ticket reply" in refusal.args["text"]
    ack_text(await bot_app.command("/ticket", "reply T-1 vendor Workaround applied", as_=INES))
    ack_text(
        await bot_app.command("/ticket", "reply T-1 Our specialists found a workaround", as_=INES)
    )
    await settle(bot_app)
    customer = thread_texts(bot_app, LUMIERE_CH, ts)
    assert any(
        "Our specialists found a workaround" in x and "Pixel Cloud Services SAS" in x
        for x in customer
    )
    for text in customer:
        assert "VMware" not in text and "Eoin" not in text and "KB 1234" not in text
    for notice in [c.args["text"] for c in bot_app.fake.posts(u(MANON))]:
        assert "VMware" not in notice
    assert any("Workaround applied" in x for x in thread_texts(bot_app, VMW_Q, vendor_ts))


# --------------------------------------------------------------------------- channels


async def test_partner_admins_link_and_unlink_channels(bot_app):
    refused = ack_text(
        await bot_app.command("/supportbot", "channel link hexagone", as_=LEA, channel_id="C0HEXA")
    )
    assert "administrat" in refused
    linked = ack_text(
        await bot_app.command(
            "/supportbot", "channel link hexagone", as_=SOPHIE, channel_id="C0HEXA"
        )
    )
    assert "Hexagone" in linked
    again = ack_text(
        await bot_app.command(
            "/supportbot", "channel link hexagone", as_=SOPHIE, channel_id="C0HEXA"
        )
    )
    assert "unlink" in again
    not_ours = ack_text(
        await bot_app.command(
            "/supportbot", "channel link lumiere", as_=SOPHIE, channel_id="C0LUM2"
        )
    )
    assert "Lumière" in not_ours
    await say(bot_app, "C0HEXA", "jean.morel@hexagone.example", f"{MENTION} sev3 Backup job fails")
    assert await ticket_count(bot_app.store) == 1
    unlinked = ack_text(
        await bot_app.command("/supportbot", "channel unlink", as_=SOPHIE, channel_id="C0HEXA")
    )
    assert "Hexagone" in unlinked
    await say(bot_app, "C0HEXA", "jean.morel@hexagone.example", f"{MENTION} sev3 Another one")
    assert await ticket_count(bot_app.store) == 1
    async with bot_app.store.read() as conn:
        actions = [e.action for e in await audit_db.entries(conn, limit=100) if e.actor == SOPHIE]
    assert actions.count("channel.link") == 1 and actions.count("channel.unlink") == 1


async def test_relays_survive_a_web_api_outage_once_each_and_in_order(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    bot_app.fake.fail_next("chat.postMessage", status=500, times=4)
    bot_app.fake.fail_next("chat.postMessage", status=429, retry_after=2)
    for n in (1, 2, 3):  # written one after the other, while Slack is down
        response, _ = await bot_app.requests.message(
            ACME_CH, u(ALICE), f"Update number {n}", thread_ts=ts
        )
        assert response.status == 200
        await listeners_done()
    await settle(bot_app)
    assert bot_app.fake.faulted, "the outage was hit"
    relayed = [x for x in thread_texts(bot_app, NUAGE_Q, partner_ts) if "Update number" in x]
    assert [x.rsplit(" ", 1)[-1] for x in relayed] == ["1", "2", "3"]
    kinds = [e.kind for e in await events(bot_app.store, 1)]
    assert kinds.count("customer_message") == 3


async def test_without_a_channel_the_customer_thread_is_the_bots_direct_message(bot_app):
    # Opened by the partner for ACME: Alice hears of it by DM, and that DM is her thread.
    ack_text(await bot_app.command("/ticket", "new ea:411023871 Datastore almost full", as_=LEA))
    await settle(bot_app)
    dm = bot_app.fake.dm_channel(u(ALICE))
    [notice] = [c for c in bot_app.fake.posts(u(ALICE))]
    notice_ts = post_ts(bot_app, notice)
    ack_text(await bot_app.command("/ticket", "reply T-1 We are adding capacity tonight", as_=LEA))
    await settle(bot_app)
    assert any("adding capacity" in x for x in thread_texts(bot_app, dm, notice_ts))
    await say(bot_app, dm, ALICE, "Thanks, go ahead", thread_ts=notice_ts)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    assert any("Thanks, go ahead" in x for x in thread_texts(bot_app, NUAGE_Q, partner_ts))


async def test_a_first_reply_to_a_customer_who_opened_by_command_starts_a_dm_thread(bot_app):
    ack_text(await bot_app.command("/ticket", "new ea:411023871 Snapshot stuck", as_=ALICE))
    await settle(bot_app)
    assert bot_app.fake.posts(u(ALICE)) == []  # her own ack told her
    ack_text(await bot_app.command("/ticket", "reply T-1 Which VM is it?", as_=LEA))
    await settle(bot_app)
    [first] = bot_app.fake.posts(u(ALICE))
    assert "Which VM is it?" in first.args["text"] and not first.args.get("thread_ts")
    ack_text(await bot_app.command("/ticket", "reply T-1 And since when?", as_=LEA))
    await settle(bot_app)
    dm = bot_app.fake.dm_channel(u(ALICE))
    assert any("since when" in x for x in thread_texts(bot_app, dm, post_ts(bot_app, first)))


async def test_the_bots_own_copies_cannot_be_passed_on_by_shortcut(bot_app):
    message = await say(
        bot_app, LUMIERE_CH, MANON, f"{MENTION} sev2 product:foundation Upgrade stuck"
    )
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced in the lab", as_=INES))
    await settle(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, PIXEL_Q))
    vendor_ts = post_ts(bot_app, queue_post(bot_app, VMW_Q))
    await say(bot_app, VMW_Q, EOIN, "Known VMware precheck bug", thread_ts=vendor_ts)
    [relay] = [c for c in bot_app.fake.thread(PIXEL_Q, partner_ts) if "precheck" in c.args["text"]]
    copy = {
        "type": "message",
        "user": BOT_USER_ID,
        "bot_id": "BBOT",
        "text": relay.args["text"],
        "ts": post_ts(bot_app, relay),
        "thread_ts": partner_ts,
    }
    response = await bot_app.requests.message_shortcut(
        u(INES), ThreadIds.REPLY_TO_CUSTOMER, PIXEL_Q, copy
    )
    await settle(bot_app)
    [refusal] = bot_app.fake.responses(response.response_name)
    assert "/ticket reply" in refusal.args["text"]
    for text in thread_texts(bot_app, LUMIERE_CH, str(message["ts"])):
        assert "VMware" not in text and "precheck" not in text


async def test_the_reply_button_under_a_customer_message_opens_the_reply_form(bot_app):
    ts = await acme_ticket(bot_app)
    partner_ts = post_ts(bot_app, queue_post(bot_app, NUAGE_Q))
    await say(bot_app, ACME_CH, ALICE, "Any news?", thread_ts=ts)
    [relay] = [c for c in bot_app.fake.thread(NUAGE_Q, partner_ts) if "Any news?" in c.args["text"]]
    button = relay.args["blocks"][1]["elements"][0]
    assert button["action_id"] == ThreadIds.REPLY_TO_CUSTOMER_BUTTON
    # Only the partner answers the customer: the form does not even open for others.
    refused = await bot_app.requests.block_action(
        u(EOIN), ThreadIds.REPLY_TO_CUSTOMER_BUTTON, button["value"], channel_id=NUAGE_Q
    )
    await settle(bot_app)
    assert bot_app.fake.responses(refused.response_name)
    assert bot_app.fake.calls_to("views.open") == []
    clicked = await bot_app.requests.block_action(
        u(LEA), ThreadIds.REPLY_TO_CUSTOMER_BUTTON, button["value"], channel_id=NUAGE_Q
    )
    assert clicked.status == 200
    await settle(bot_app)
    [opened] = bot_app.fake.calls_to("views.open")
    view_id = next(iter(bot_app.fake.views))
    assert opened.args["view"]["callback_id"] == ThreadIds.REPLY_MODAL
    submitted = await bot_app.requests.view_submission(
        u(LEA),
        ThreadIds.REPLY_MODAL,
        {ThreadIds.REPLY_TEXT: {ThreadIds.REPLY_TEXT: "The fix ships tonight"}},
        private_metadata=opened.args["view"]["private_metadata"],
        view_id=view_id,
    )
    assert submitted.status == 200 and submitted.json["response_action"] == "update"
    await settle(bot_app)
    assert any("The fix ships tonight" in x for x in thread_texts(bot_app, ACME_CH, ts))
