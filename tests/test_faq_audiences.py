"""FAQ answers per audience: the asker's role picks the variant, and no rendered answer
ever points someone to a command they may not use."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path

import pytest

from bot.faq import (
    PARTNER_TYPES,
    SLUGS,
    AgreementInfo,
    AskerContext,
    FaqCatalog,
    FaqFormatError,
    LicenseInfo,
    RenewalInfo,
    SubscriptionInfo,
    default_catalog,
)
from bot.render import LOCALES

TICKET_WORK = {"show", "list", "note", "take", "assign", "wait", "sev", "resolve", "reopen"}
# What each kind of asker may run (the refusals of bot/tickets.py, bot/access.py,
# bot/entitlements.py): a customer files and follows its own tickets and manages its
# partners' access; only partners look EAs up and register on agreements; only a
# partner's ATCs escalate; only the vendor hands tickets back; vendor staff file too.
CUSTOMER = {
    "/ticket",
    *(f"/ticket {verb}" for verb in ("new", "show", "list", "note", "resolve", "reopen")),
    "/ea",
    "/entitlements",
    "/access",
    "/access grant",
    "/access revoke",
    "/faq",
    "/supportbot",
    "/audit",
}
PARTNER = {
    "/ticket",
    "/ticket new",
    *(f"/ticket {verb}" for verb in TICKET_WORK),
    "/ea",
    "/ea lookup",
    "/entitlements",
    "/access",
    "/access grant",
    "/access revoke",
    "/access register",
    "/faq",
    "/supportbot",
    "/audit",
}
VENDOR = {
    "/ticket",
    "/ticket new",
    *(f"/ticket {verb}" for verb in TICKET_WORK),
    "/reassign",
    "/ea",
    "/ea lookup",
    "/entitlements",
    "/access",
    "/faq",
    "/supportbot",
    "/audit",
}
SUBCOMMANDS = {
    "/ticket": {"new", *TICKET_WORK},
    "/ea": {"lookup"},
    "/access": {"grant", "revoke", "register"},
}
COMMAND = re.compile(
    r"(?<![\w/.:])(/(?:ticket|escalate|reassign|ea|entitlements|access|faq|audit|supportbot))\b"
    r"(?:[ \u00a0]+([a-z]+))?"
)

TODAY = dt.date(2026, 11, 20)
RICH = AskerContext(
    name="Alex Asker",
    organization="Some Org",
    eas=("123456789", "234567891"),
    partners=("Pixel Services",),
    contract_level="production",
    response_targets=((1, "Sev 1", "30 min"), (2, "Sev 2", "4 business hours")),
    atcs=(("Paul Girard", "paul@pixel.example"),),
    superusers=(("123456789", "Alice Martin"),),
    agreements=(AgreementInfo("V1234567", ("training_vouchers",), ("Alice",), "a@x.example"),),
    subscriptions=(SubscriptionInfo("123456789", "Cloud DR", "Pixel", "CC-1", TODAY),),
    renewals=(RenewalInfo("contract", "123456789", "SNS-1", "vSphere", TODAY, 30),),
    licenses=(
        LicenseInfo("123456789", "•••••-A5C4N", "vSphere", "nfr", TODAY),
        LicenseInfo("123456789", "•••••-B5C4N", "vSAN", "oem", None),
    ),
)


def askers() -> list[tuple[str, AskerContext, set[str]]]:
    found = [("customer", replace(RICH, audience="customer"), CUSTOMER)]
    for partner_type in PARTNER_TYPES:
        found.append(
            (
                f"{partner_type} agent",
                replace(RICH, audience="partner", partner_type=partner_type),
                PARTNER,
            )
        )
        found.append(
            (
                f"{partner_type} ATC",
                replace(RICH, audience="partner", partner_type=partner_type, atc=True),
                PARTNER | {"/escalate"},
            )
        )
    found.append(("vendor", replace(RICH, audience="vendor"), VENDOR))
    return found


def commands_in(text: str) -> set[str]:
    named = set()
    for command, word in COMMAND.findall(text):
        named.add(f"{command} {word}" if word in SUBCOMMANDS.get(command, ()) else command)
    return named


@pytest.fixture(scope="module")
def catalog() -> FaqCatalog:
    return default_catalog()


def test_the_scan_finds_commands_and_their_subcommands() -> None:
    text = "Run `/ea lookup acme`, then /escalate T-4; see https://x.example/ea and `/ticket`."
    assert commands_in(text) == {"/ea lookup", "/escalate", "/ticket"}
    assert commands_in("`/ticket new sev2 x` or `/access 123456789`") == {
        "/ticket new",
        "/access",
    }


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("slug", SLUGS)
def test_no_answer_points_to_a_command_the_asker_may_not_use(
    catalog: FaqCatalog, slug: str, locale: str
) -> None:
    """Every variant of every entry, rendered for every kind of asker, with and without
    account data."""
    for who, asker, allowed in askers():
        for context in (
            asker,
            AskerContext(audience=asker.audience, partner_type=asker.partner_type, atc=asker.atc),
        ):
            text = catalog.answer(slug, locale, replace(context, locale=locale))
            assert commands_in(text) <= allowed, (who, sorted(commands_in(text) - allowed))


def test_a_customer_asking_for_her_ea_number_gets_her_own_answer(catalog: FaqCatalog) -> None:
    """The README's example, asked by a customer: her EAs and `/ea`, never `/ea lookup`."""
    question = "comment trouver mon numéro EA"
    customer = catalog.search(question, audience="customer")
    assert customer.slug == "ea-lookup-reseller" and customer.confident
    entry = catalog.entries["ea-lookup-reseller"]
    assert entry.variant_for("customer") == "customer"
    asker = AskerContext(locale="fr", audience="customer", eas=("123456789",))
    text = catalog.answer("ea-lookup-reseller", "fr", asker)
    assert "123456789" in text and "`/ea`" in text and "/ea lookup" not in text
    assert catalog.title("ea-lookup-reseller", "fr", "customer") in text
    assert catalog.title("ea-lookup-reseller", "fr", "customer") != catalog.title(
        "ea-lookup-reseller", "fr", "partner"
    )
    partner = catalog.answer("ea-lookup-reseller", "fr", replace(asker, audience="partner"))
    assert "/ea lookup" in partner


def test_partner_types_pick_their_entry(catalog: FaqCatalog) -> None:
    entry = catalog.entries["ea-lookup-distributor"]
    assert entry.written_for("partner", "distributor")
    assert not entry.written_for("partner", "reseller")
    assert entry.written_for("vendor") and entry.written_for(None)
    assert not entry.written_for("customer")


def test_an_agent_is_not_told_to_escalate_and_an_atc_is(catalog: FaqCatalog) -> None:
    agent = AskerContext(audience="partner", partner_type="reseller")
    atc = replace(agent, atc=True)
    for slug in ("authorized-technical-contacts", "bot-how-to-open-ticket"):
        assert "/escalate" not in catalog.answer(slug, "en", agent)
        assert "/escalate" in catalog.answer(slug, "en", atc)


GOOD = "title: A question\naudience: [partner]\ntheme: bot\nphrasings: [one, two]\n"


def write(root: Path, name: str, text: str) -> None:
    for locale in LOCALES:
        path = root / "faq" / locale / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_variants_load_from_their_own_files(tmp_path: Path) -> None:
    write(tmp_path, "x.md.j2", "{#---\n" + GOOD + "---#}\nFor partners.")
    write(tmp_path, "x.customer.md.j2", "{#---\ntitle: Own title\n---#}\nFor customers.")
    write(tmp_path, "x.msp.md.j2", "For MSPs.")
    catalog = FaqCatalog.load(tmp_path)
    entry = catalog.entries["x"]
    assert entry.variants == {"customer", "msp"}
    assert (
        catalog.answer("x", "en", AskerContext(audience="customer"))
        == "*Own title*\nFor customers."
    )
    msp = AskerContext(audience="partner", partner_type="msp")
    assert catalog.answer("x", "en", msp) == "*A question*\nFor MSPs."
    reseller = AskerContext(audience="partner", partner_type="reseller")
    assert catalog.answer("x", "en", reseller) == "*A question*\nFor partners."
    assert entry.written_for("customer")


@pytest.mark.parametrize(
    ("name", "text", "error"),
    [
        ("x.boss.md.j2", "Hi", "unknown variant"),
        ("y.customer.md.j2", "Hi", "no entry y"),
        ("x.customer.md.j2", "{#---\ntitle: T\ntheme: bot\n---#}\nHi", "title only"),
    ],
)
def test_bad_variants_are_reported(tmp_path: Path, name: str, text: str, error: str) -> None:
    write(tmp_path, "x.md.j2", "{#---\n" + GOOD + "---#}\nFor partners.")
    write(tmp_path, name, text)
    with pytest.raises(FaqFormatError, match=error):
        FaqCatalog.load(tmp_path)


def test_partner_types_must_be_known(tmp_path: Path) -> None:
    write(tmp_path, "x.md.j2", "{#---\n" + GOOD + "partner_types: [broker]\n---#}\nHi")
    with pytest.raises(FaqFormatError, match="unknown partner type"):
        FaqCatalog.load(tmp_path)
