"""R2 holds everywhere: an MSP's end customer sees its escalated ticket as the MSP's
alone — in ``/ticket show`` and ``list``, App Home, ``/audit``, the history lines and
every DM — while the MSP itself sees what the vendor did. Over HTTP through the real
Bolt app."""

from __future__ import annotations

import json
from typing import Any

from conftest import BotUnderTest

MANON = "manon.blanc@lumiere.example"  # Lumière's superuser, end customer of the MSP pixel
THEO = "theo.lambert@lumiere.example"
INES = "ines.fabre@pixel.example"  # pixel ATC
EOIN = "eoin.byrne@vmware.example"
LUMIERE_EA = "620045517"

VENDOR_NOTE = "Known defect KB-4410, internal build 8.0.2a fixes it"
VENDOR_RESOLUTION = "Hotfix 8.0.2a applied by the vendor lab"
# Nothing of the vendor's may reach the customer: its people, words, tier or clock.
# (The product's own name, "VMware Cloud Foundation", is hers to see.)
VENDOR_TRACES = (
    "Eoin",
    "eoin.byrne",
    "vmware.example",
    "chez VMware",
    "Chez :* VMware",
    "Éditeur :",
    "escalad",
    "KB-4410",
    "8.0.2a",
    "Horloge éditeur",
    "Vendor clock",
    "éditeur",
    "vendor",
)


def ack_text(response: Any) -> str:
    assert response.status == 200, response.text
    assert response.json["response_type"] == "ephemeral"
    return json.dumps(response.json, ensure_ascii=False)


def leaks(text: str) -> list[str]:
    return [trace for trace in VENDOR_TRACES if trace.lower() in text.lower()]


async def escalated_and_worked_by_the_vendor(bot: BotUnderTest) -> None:
    opened = await bot.command(
        "/ticket",
        f"new sev2 ea:{LUMIERE_EA} product:foundation Upgrade stuck at 60 %",
        as_=MANON,
    )
    assert "T-1" in ack_text(opened)
    for command, text, who in (
        ("/ticket", "note T-1 Logs collected on our side", INES),
        ("/escalate", "T-1 sev2 Reproduced in our lab", INES),
        ("/ticket", "take T-1", EOIN),
        ("/ticket", f"note T-1 {VENDOR_NOTE}", EOIN),
        ("/ticket", "sev T-1 3 Workaround in place", EOIN),
    ):
        assert "T-1" in ack_text(await bot.command(command, text, as_=who))
    await bot.drain()


async def test_the_msp_customer_sees_no_trace_of_the_vendor_on_any_surface(
    bot_app: BotUnderTest,
) -> None:
    await escalated_and_worked_by_the_vendor(bot_app)
    # the MSP sees the vendor's work: the filter is about who looks
    shown_to_msp = ack_text(await bot_app.command("/ticket", "show T-1", as_=INES))
    assert VENDOR_NOTE in shown_to_msp and "eoin.byrne" in shown_to_msp

    surfaces: dict[str, str] = {}
    for who in (MANON, THEO):
        surfaces[f"show {who}"] = ack_text(await bot_app.command("/ticket", "show T-1", as_=who))
        surfaces[f"list {who}"] = ack_text(await bot_app.command("/ticket", "list all", as_=who))
    surfaces["audit ticket"] = ack_text(await bot_app.command("/audit", "T-1", as_=MANON))
    surfaces["audit ea"] = ack_text(await bot_app.command("/audit", LUMIERE_EA, as_=MANON))
    # her own note still gets the card back, through the same filter
    surfaces["note reply"] = ack_text(
        await bot_app.command("/ticket", "note T-1 Still blocked this morning", as_=MANON)
    )
    # App Home
    home = await bot_app.requests.event(
        {"type": "app_home_opened", "user": bot_app.user(MANON), "tab": "home"}
    )
    assert home.status == 200
    published = await bot_app.fake.wait_for(
        lambda c: c.method == "views.publish" and c.args.get("user_id") == bot_app.user(MANON)
    )
    surfaces["home"] = json.dumps(published.args, ensure_ascii=False)
    # the vendor resolves it: the DM comes from the MSP, without the vendor's words
    assert "T-1" in ack_text(
        await bot_app.command("/ticket", f"resolve T-1 {VENDOR_RESOLUTION}", as_=EOIN)
    )
    await bot_app.drain()
    for number, call in enumerate(bot_app.fake.posts(bot_app.user(MANON))):
        surfaces[f"dm {number}"] = json.dumps(call.args, ensure_ascii=False)
    surfaces["show after"] = ack_text(await bot_app.command("/ticket", "show T-1", as_=MANON))

    assert len([k for k in surfaces if k.startswith("dm")]) >= 3
    found = {name: leaks(text) for name, text in surfaces.items()}
    assert {name: hit for name, hit in found.items() if hit} == {}
    # what the MSP did is still there for her: its note, in the history
    assert "Logs collected on our side" in surfaces[f"show {MANON}"]
    assert "T-1" in surfaces[f"list {MANON}"] and "T-1" in surfaces["home"]
    assert "Pixel" in surfaces["show after"]


async def test_a_customer_without_an_msp_still_follows_the_vendor(bot_app: BotUnderTest) -> None:
    """The lens is for an MSP's customers only: ACME's partner is a reseller, so Alice
    sees the escalation and the vendor's note."""
    alice = "alice.martin@acme.example"
    await bot_app.command(
        "/ticket", "new sev2 ea:411023871 product:vsphere vMotion fails", as_=alice
    )
    ack_text(
        await bot_app.command("/escalate", "T-1 sev2 Reproduced", as_="marc.dupont@nuage.example")
    )
    ack_text(await bot_app.command("/ticket", "note T-1 Collect the vmkernel log", as_=EOIN))
    shown = ack_text(await bot_app.command("/ticket", "show T-1", as_=alice))
    assert "Collect the vmkernel log" in shown and "VMware" in shown
