"""Ticket scenarios over HTTP: the real Bolt app, signed Slack requests, the fake Web API.

Each scenario checks what the contract makes observable: the ephemeral
ack, the posts to each tier's queue channel, the customer's DM, and that a refusal
changes nothing.
"""

from __future__ import annotations

from typing import Any

from conftest import BotUnderTest, user_id_for
from ticket_fixtures import get_ticket, snapshot, ticket_count

from bot.domain import Status, Tier

ALICE = "alice.martin@acme.example"
LEA = "lea.girard@nuage.example"
MARC = "marc.dupont@nuage.example"
EOIN = "eoin.byrne@vmware.example"
JEAN = "jean.morel@hexagone.example"
GRACE = "grace.holloway@riverbank.example"
MANON = "manon.blanc@lumiere.example"
INES = "ines.fabre@pixel.example"

NUAGE_Q, PIXEL_Q, VMW_Q, VMW_BIZ = "C0NUAGEQ", "C0PIXELQ", "C0VMWGSS", "C0VMWBIZ"


def ack_text(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    text: str = response.json["text"]
    return text


def texts(bot: BotUnderTest, channel: str) -> list[str]:
    return [c.args["text"] for c in bot.fake.posts(channel)]


def dms(bot: BotUnderTest, email: str) -> list[str]:
    return texts(bot, user_id_for(email))


async def alice_opens(
    bot: BotUnderTest, text: str = "sev2 ea:411023871 product:vsphere vMotion fails"
) -> str:
    reply = ack_text(await bot.command("/ticket", f"new {text}", as_=ALICE))
    await bot.drain()
    return reply


# --------------------------------------------------------------------------- R1 and R9


async def test_r1_customer_ticket_lands_in_its_partners_queue_and_r9_tells_her(bot_app):
    reply = await alice_opens(bot_app)
    assert "T-1" in reply and "Sev 2" in reply
    [post] = texts(bot_app, NUAGE_Q)
    assert "T-1" in post and "Sev 2" in post
    assert texts(bot_app, VMW_Q) == []
    assert dms(bot_app, ALICE) == []  # her own ack told her
    taken = ack_text(await bot_app.command("/ticket", "take T-1", as_=LEA))
    assert "T-1" in taken
    await bot_app.drain()
    [update] = bot_app.fake.calls_to("chat.update")
    assert update.args["channel"] == NUAGE_Q
    [notice] = dms(bot_app, ALICE)
    assert "T-1" in notice and "prise en charge" in notice  # in her language


async def test_r1_customer_without_partner_goes_straight_to_the_vendor(bot_app):
    reply = ack_text(
        await bot_app.command("/ticket", "new sev1 product:vsphere Hosts down", as_=GRACE)
    )
    assert "T-1" in reply
    await bot_app.drain()
    [post] = texts(bot_app, VMW_Q)
    assert "T-1" in post and "Sev 1" in post


async def test_wrong_input_gets_the_usage_line_and_changes_nothing(bot_app):
    before = await snapshot(bot_app.store)
    reply = ack_text(await bot_app.command("/ticket", "new sev2 ea:12345 broken", as_=ALICE))
    assert "12345" in reply and "/ticket nouveau" in reply  # Alice reads French
    reply = ack_text(await bot_app.command("/ticket", "new Broken", as_=ALICE))
    assert "411023872" in reply  # several EAs: they are listed
    reply = ack_text(await bot_app.command("/ticket", "frobnicate T-1", as_=ALICE))
    assert "frobnicate" in reply
    assert await snapshot(bot_app.store) == before


# --------------------------------------------------------------------------- R3 R4 R5


async def test_r4_agent_is_refused_then_r3_the_atc_escalates_with_a_reason(bot_app):
    await alice_opens(bot_app)
    before = await snapshot(bot_app.store)
    refused = ack_text(await bot_app.command("/escalate", "T-1 Restarted the host", as_=LEA))
    assert "Marc Dupont" in refused and "Karim Haddad" in refused
    no_reason = ack_text(await bot_app.command("/escalate", "T-1 sev2", as_=MARC))
    assert "T-1" in no_reason
    await bot_app.drain()
    assert texts(bot_app, VMW_Q) == []
    assert await snapshot(bot_app.store) == before
    done = ack_text(
        await bot_app.command("/escalate", "T-1 sev2 Reproduced on two hosts, no KB", as_=MARC)
    )
    assert "T-1" in done and "VMware" in done
    await bot_app.drain()
    [post] = texts(bot_app, VMW_Q)
    assert "T-1" in post and "Sev 2" in post
    [notice] = dms(bot_app, ALICE)
    assert "T-1" in notice and "VMware" in notice
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.tier, tk.status) == (Tier.VENDOR, Status.ESCALATED)
    shown = ack_text(await bot_app.command("/ticket", "show T-1", as_=MARC))
    assert "T-1" in shown


async def test_r5_sev1_on_a_basic_contract_is_refused_with_the_alternatives(bot_app):
    ack_text(await bot_app.command("/ticket", "new sev1 product:vsphere Cluster down", as_=JEAN))
    await bot_app.drain()
    before = await snapshot(bot_app.store)
    refused = ack_text(await bot_app.command("/escalate", "T-1 Down since 9am", as_=MARC))
    assert "SNS-0052260" in refused and "sev2" in refused
    await bot_app.drain()
    assert texts(bot_app, VMW_Q) == []
    assert await snapshot(bot_app.store) == before
    ack_text(await bot_app.command("/escalate", "T-1 sev2 Down since 9am", as_=MARC))
    await bot_app.drain()
    assert "Sev 2" in texts(bot_app, VMW_Q)[0]


# --------------------------------------------------------------------------- R2 MSP


async def test_r2_msp_customer_never_reaches_nor_hears_from_the_vendor(bot_app):
    opened = ack_text(
        await bot_app.command("/ticket", "new sev2 product:foundation Upgrade stuck", as_=MANON)
    )
    assert "T-1" in opened
    await bot_app.drain()
    assert len(texts(bot_app, PIXEL_Q)) == 1
    before = await snapshot(bot_app.store)
    refused = ack_text(await bot_app.command("/escalate", "T-1 please hurry", as_=MANON))
    assert "/faq msp-customer-contacts-vendor" in refused
    await bot_app.drain()
    assert texts(bot_app, VMW_Q) == []
    assert await snapshot(bot_app.store) == before
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced in the lab", as_=INES))
    ack_text(await bot_app.command("/ticket", "take T-1", as_=EOIN))
    ack_text(await bot_app.command("/ticket", "resolve T-1 Patch applied", as_=EOIN))
    await bot_app.drain()
    assert len(texts(bot_app, VMW_Q)) == 1
    notices = dms(bot_app, MANON)
    assert len(notices) == 3
    for notice in notices:
        assert "Pixel Cloud Services SAS" in notice and "VMware" not in notice


# --------------------------------------------------------------------------- R6 R7


async def test_r6_partner_business_ticket_goes_to_the_vendor_business_queue(bot_app):
    reply = ack_text(
        await bot_app.command("/ticket", "new ea:411023871 business Usage report is wrong", as_=LEA)
    )
    assert "T-1" in reply
    await bot_app.drain()
    [post] = texts(bot_app, VMW_BIZ)
    assert "T-1" in post and "Sev 3" in post
    assert texts(bot_app, NUAGE_Q) == [] and texts(bot_app, VMW_Q) == []
    [notice] = dms(bot_app, ALICE)  # opened for her by the partner
    assert "T-1" in notice


async def test_r7_the_vendor_hands_back_with_a_reason(bot_app):
    await alice_opens(bot_app)
    ack_text(await bot_app.command("/escalate", "T-1 Reproduced", as_=MARC))
    await bot_app.drain()
    before = await snapshot(bot_app.store)
    missing = ack_text(await bot_app.command("/reassign", "T-1", as_=EOIN))
    assert "T-1" in missing and "/reassign" in missing
    assert await snapshot(bot_app.store) == before
    done = ack_text(
        await bot_app.command(
            "/reassign", "T-1 Storage network misconfigured at the partner", as_=EOIN
        )
    )
    assert "T-1" in done
    await bot_app.drain()
    posts = texts(bot_app, NUAGE_Q)
    assert len(posts) == 2 and "T-1" in posts[1]
    tk = await get_ticket(bot_app.store, 1)
    assert tk.tier is Tier.PARTNER


# --------------------------------------------------------------------------- R8


async def test_r8_someone_elses_ticket_reads_like_a_missing_one(bot_app):
    await alice_opens(bot_app)
    hidden = ack_text(await bot_app.command("/ticket", "show T-1", as_=JEAN))
    missing = ack_text(await bot_app.command("/ticket", "show T-2", as_=JEAN))
    assert hidden.replace("T-1", "T-n") == missing.replace("T-2", "T-n")


# --------------------------------------------------------------------------- SLA


async def test_waiting_on_the_customer_asks_her_and_her_note_resumes(bot_app):
    await alice_opens(bot_app)
    ack_text(await bot_app.command("/ticket", "wait T-1 Which ESXi build do you run?", as_=LEA))
    await bot_app.drain()
    [question] = dms(bot_app, ALICE)
    assert "ESXi" in question and "T-1" in question
    assert (await get_ticket(bot_app.store, 1)).status is Status.WAITING_ON_CUSTOMER
    ack_text(await bot_app.command("/ticket", "note T-1 8.0 update 2", as_=ALICE))
    assert (await get_ticket(bot_app.store, 1)).status is Status.IN_PROGRESS
    listed = ack_text(await bot_app.command("/ticket", "list breaching", as_=LEA))
    assert "T-1" not in listed


# --------------------------------------------------------------------------- modals, buttons


def new_ticket_state(subject: str, ea: str = "411023871") -> dict[str, dict[str, Any]]:
    return {
        "ticket.ea": {"ticket.ea": {"type": "static_select", "selected_option": {"value": ea}}},
        "ticket.severity": {
            "ticket.severity": {"type": "static_select", "selected_option": {"value": "2"}}
        },
        "ticket.queue": {
            "ticket.queue": {"type": "radio_buttons", "selected_option": {"value": "technical"}}
        },
        "ticket.product": {"ticket.product": "vsan"},
        "ticket.subject": {"ticket.subject": subject},
        "ticket.description": {"ticket.description": "Since this morning"},
    }


async def test_the_new_ticket_form_opens_once_per_submission(bot_app):
    reply = await bot_app.command("/ticket", "", as_=ALICE)
    assert reply.json["response_type"] == "ephemeral"
    opened = await bot_app.fake.wait_for(lambda c: c.method == "views.open")
    view = opened.args["view"]
    assert view["callback_id"] == "ticket.new"
    ea_options = [o["value"] for o in view["blocks"][0]["element"]["options"]]
    assert ea_options == ["411023871", "411023872", "411023873"]
    view_id = next(iter(bot_app.fake.views))
    state = new_ticket_state("Disk group degraded after a reboot")
    user = bot_app.user(ALICE)
    first = await bot_app.requests.view_submission(user, "ticket.new", state, view_id=view_id)
    assert first.json["response_action"] == "update"
    assert "T-1" in str(first.json["view"])
    again = await bot_app.requests.view_submission(user, "ticket.new", state, view_id=view_id)
    assert "T-1" in str(again.json["view"])
    assert await ticket_count(bot_app.store) == 1
    await bot_app.drain()
    assert len(texts(bot_app, NUAGE_Q)) == 1


async def test_the_form_suggests_an_faq_entry_before_opening(bot_app):
    subject = "Can an end customer of an MSP contact the vendor directly?"
    assert bot_app.services.faq.search(subject, locale="fr").confident
    user = bot_app.user(ALICE)
    state = new_ticket_state(subject)
    suggested = await bot_app.requests.view_submission(user, "ticket.new", state, view_id="VFORM1")
    assert suggested.json["response_action"] == "update"
    view = suggested.json["view"]
    assert view["callback_id"] == "ticket.new_confirm"
    assert "msp-customer-contacts-vendor" in str(view["blocks"])
    assert await ticket_count(bot_app.store) == 0
    confirmed = await bot_app.requests.view_submission(
        user, "ticket.new_confirm", {}, private_metadata=view["private_metadata"], view_id="VFORM1"
    )
    assert "T-1" in str(confirmed.json["view"])
    tk = await get_ticket(bot_app.store, 1)
    assert (tk.subject, tk.product, tk.severity) == (subject, "vSAN Enterprise", 2)


async def test_queue_buttons_take_and_escalate(bot_app):
    await alice_opens(bot_app)
    taken = await bot_app.requests.block_action(
        bot_app.user(LEA), "ticket.take", "1", channel_id=NUAGE_Q
    )
    assert taken.status == 200
    response = await bot_app.fake.wait_for(lambda c: c.method.startswith("response_url:"))
    assert "T-1" in response.args["text"]
    await bot_app.requests.block_action(
        bot_app.user(MARC), "ticket.escalate", "1", channel_id=NUAGE_Q
    )
    opened = await bot_app.fake.wait_for(lambda c: c.method == "views.open")
    assert opened.args["view"]["callback_id"] == "ticket.escalate_modal"
    state = {
        "ticket.checklist": {
            "ticket.checklist": {
                "type": "checkboxes",
                "selected_options": [{"value": "reproduced"}, {"value": "logs"}],
            }
        },
        "ticket.impact": {"ticket.impact": "Payroll blocked"},
        "ticket.severity": {
            "ticket.severity": {"type": "static_select", "selected_option": {"value": "2"}}
        },
        "ticket.reason": {"ticket.reason": "Reproduced on a second cluster"},
    }
    done = await bot_app.requests.view_submission(
        bot_app.user(MARC), "ticket.escalate_modal", state, private_metadata="1"
    )
    assert "T-1" in str(done.json["view"])
    await bot_app.drain()
    assert "T-1" in texts(bot_app, VMW_Q)[0]
    tk = await get_ticket(bot_app.store, 1)
    assert tk.tier is Tier.VENDOR


async def test_app_home_shows_the_vendor_queue(bot_app):
    ack_text(await bot_app.command("/ticket", "new sev1 product:vsphere Hosts down", as_=GRACE))
    response = await bot_app.requests.event(
        {"type": "app_home_opened", "user": bot_app.user(EOIN), "tab": "home", "channel": "D0EOIN"}
    )
    assert response.status == 200
    published = await bot_app.fake.wait_for(lambda c: c.method == "views.publish")
    assert published.args["user_id"] == bot_app.user(EOIN)
    assert "Sev 1" in str(published.args["view"])
